//! `/Users` (RFC 7644 §3.3–§3.6): extract, one directory call, render.

use actix_web::http::StatusCode;
use actix_web::{middleware, web, HttpResponse};

use super::request::{Conditions, ListParams, ScimBody};
use super::schema::{self, USER_URN};
use super::{document, guard, method_not_allowed, patch, render, Ctx, ScimError};
use crate::directory::users;

type Query = web::Query<Vec<(String, String)>>;
type Answer = Result<HttpResponse, ScimError>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/Users/.search")
            .wrap(middleware::from_fn(guard::catch_panics))
            .route(web::post().to(search))
            .default_service(web::to(method_not_allowed("POST"))),
    )
    .service(
        web::resource("/Users")
            .wrap(middleware::from_fn(guard::catch_panics))
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(web::to(method_not_allowed("GET, POST"))),
    )
    .service(
        web::resource("/Users/{id}")
            .wrap(middleware::from_fn(guard::catch_panics))
            .route(web::get().to(get))
            .route(web::put().to(replace))
            .route(web::patch().to(modify))
            .route(web::delete().to(delete))
            .default_service(web::to(method_not_allowed("GET, PUT, PATCH, DELETE"))),
    );
}

async fn list(ctx: Ctx, q: Query) -> Answer {
    answer_list(ctx, ListParams::from_query(q.into_inner())).await
}

/// RFC 7644 §3.4.3: the same query, in a body.
async fn search(ctx: Ctx, body: ScimBody) -> Answer {
    answer_list(ctx, ListParams::from_search(&body.0)?).await
}

async fn answer_list(ctx: Ctx, params: ListParams) -> Answer {
    let (start, query) = params.user_query(ctx.max_page)?;
    let proj = params.projection(USER_URN);
    let load_groups = proj.wants("groups");
    let page = ctx
        .read(move |c| users::list(c, &query, load_groups))
        .await?;
    let resources = page
        .items
        .iter()
        .map(|u| render::user(&ctx.base, u, &proj))
        .collect();
    Ok(render::json(
        StatusCode::OK,
        &render::list(page.total, start, resources),
    ))
}

async fn get(ctx: Ctx, id: web::Path<String>, q: Query, cond: Conditions) -> Answer {
    let proj = ListParams::from_query(q.into_inner()).projection(USER_URN);
    let load_groups = proj.wants("groups");
    let id = id.into_inner();
    let user = ctx.read(move |c| users::get(c, &id, load_groups)).await?;
    if cond.not_modified(user.meta.version) {
        return Ok(render::not_modified(user.meta.version));
    }
    let body = render::user(&ctx.base, &user, &proj);
    Ok(render::resource(StatusCode::OK, &body, user.meta.version))
}

async fn create(ctx: Ctx, q: Query, body: ScimBody) -> Answer {
    let proj = ListParams::from_query(q.into_inner()).projection(USER_URN);
    let load_groups = proj.wants("groups");
    let doc = body
        .process(|b| document::normalize(schema::user(), b))
        .await?;
    let written = ctx
        .write(move |c, who| users::create(c, who, &doc, load_groups))
        .await?;
    let user = written.value;
    let body = render::user(&ctx.base, &user, &proj);
    Ok(render::resource(
        StatusCode::CREATED,
        &body,
        user.meta.version,
    ))
}

/// PUT replaces (RFC 7644 §3.5.1): attributes absent from the body are cleared; read-only and
/// unknown ones are ignored (Okta sends back the whole body of its GET).
async fn replace(
    ctx: Ctx,
    id: web::Path<String>,
    q: Query,
    cond: Conditions,
    body: ScimBody,
) -> Answer {
    let proj = ListParams::from_query(q.into_inner()).projection(USER_URN);
    let load_groups = proj.wants("groups");
    let doc = body
        .process(|b| document::normalize(schema::user(), b))
        .await?;
    let id = id.into_inner();
    let written = ctx
        .write(move |c, who| users::replace(c, who, &id, &cond.if_match, &doc, load_groups))
        .await?;
    let user = written.value;
    let body = render::user(&ctx.base, &user, &proj);
    Ok(render::resource(StatusCode::OK, &body, user.meta.version))
}

/// PATCH (RFC 7644 §3.5.2): all operations in order, atomically; `200` with the resource.
async fn modify(
    ctx: Ctx,
    id: web::Path<String>,
    q: Query,
    cond: Conditions,
    body: ScimBody,
) -> Answer {
    let proj = ListParams::from_query(q.into_inner()).projection(USER_URN);
    let load_groups = proj.wants("groups");
    let edit = body
        .process(|b| patch::user_edit(&patch::parse(b)?))
        .await?;
    let id = id.into_inner();
    let written = ctx
        .write(move |c, who| users::modify(c, who, &id, &cond.if_match, &edit, load_groups))
        .await?;
    let user = written.value;
    let body = render::user(&ctx.base, &user, &proj);
    Ok(render::resource(StatusCode::OK, &body, user.meta.version))
}

/// DELETE: deactivated for ZenQMS, then gone from SCIM (`204`).
async fn delete(ctx: Ctx, id: web::Path<String>, cond: Conditions) -> Answer {
    let id = id.into_inner();
    ctx.write(move |c, who| users::delete(c, who, &id, &cond.if_match))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
