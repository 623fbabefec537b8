//! `/Groups` (RFC 7644 §3.3–§3.6): extract, one directory call, render.

use actix_web::http::StatusCode;
use actix_web::{middleware, web, HttpResponse};
use serde_json::{Map, Value};

use super::request::{Conditions, ListParams, ScimBody};
use super::schema::{self, GROUP_URN};
use super::{document, guard, method_not_allowed, patch, render, Ctx, ScimError};
use crate::directory::{groups, Document};

type Query = web::Query<Vec<(String, String)>>;
type Answer = Result<HttpResponse, ScimError>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/Groups/.search")
            .wrap(middleware::from_fn(guard::catch_panics))
            .route(web::post().to(search))
            .default_service(web::to(method_not_allowed("POST"))),
    )
    .service(
        web::resource("/Groups")
            .wrap(middleware::from_fn(guard::catch_panics))
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(web::to(method_not_allowed("GET, POST"))),
    )
    .service(
        web::resource("/Groups/{id}")
            .wrap(middleware::from_fn(guard::catch_panics))
            .route(web::get().to(get))
            .route(web::put().to(replace))
            .route(web::patch().to(modify))
            .route(web::delete().to(delete))
            .default_service(web::to(method_not_allowed("GET, PUT, PATCH, DELETE"))),
    );
}

/// A group body: its document and, separately, its member ids.
fn group_body(body: &Map<String, Value>) -> Result<(Document, Vec<String>), ScimError> {
    let members = body
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("members"))
        .map(|(_, v)| v);
    let ids = document::member_ids(members)?;
    let mut doc = document::normalize(schema::group(), body)?;
    doc.remove("members");
    Ok((doc, ids))
}

async fn list(ctx: Ctx, q: Query) -> Answer {
    answer_list(ctx, ListParams::from_query(q.into_inner())).await
}

async fn search(ctx: Ctx, body: ScimBody) -> Answer {
    answer_list(ctx, ListParams::from_search(&body.0)?).await
}

async fn answer_list(ctx: Ctx, params: ListParams) -> Answer {
    let (start, query) = params.group_query(ctx.max_page)?;
    let proj = params.projection(GROUP_URN);
    let load_members = proj.wants("members");
    let page = ctx
        .read(move |c| groups::list(c, &query, load_members))
        .await?;
    let resources = page
        .items
        .iter()
        .map(|g| render::group(&ctx.base, g, &proj))
        .collect();
    Ok(render::json(
        StatusCode::OK,
        &render::list(page.total, start, resources),
    ))
}

/// `excludedAttributes=members` (Entra) never touches the membership table.
async fn get(ctx: Ctx, id: web::Path<String>, q: Query, cond: Conditions) -> Answer {
    let proj = ListParams::from_query(q.into_inner()).projection(GROUP_URN);
    let load_members = proj.wants("members");
    let id = id.into_inner();
    let group = ctx.read(move |c| groups::get(c, &id, load_members)).await?;
    if cond.not_modified(group.meta.version) {
        return Ok(render::not_modified(group.meta.version));
    }
    let body = render::group(&ctx.base, &group, &proj);
    Ok(render::resource(StatusCode::OK, &body, group.meta.version))
}

async fn create(ctx: Ctx, q: Query, body: ScimBody) -> Answer {
    let proj = ListParams::from_query(q.into_inner()).projection(GROUP_URN);
    let load_members = proj.wants("members");
    let (doc, members) = body.process(group_body).await?;
    let written = ctx
        .write(move |c, who| groups::create(c, who, &doc, &members, load_members))
        .await?;
    let group = written.value;
    let body = render::group(&ctx.base, &group, &proj);
    Ok(render::resource(
        StatusCode::CREATED,
        &body,
        group.meta.version,
    ))
}

/// PUT (Okta custom apps push renames and memberships this way): the member list in the body
/// becomes the group's membership; an absent list empties it (RFC 7644 §3.5.1).
async fn replace(
    ctx: Ctx,
    id: web::Path<String>,
    q: Query,
    cond: Conditions,
    body: ScimBody,
) -> Answer {
    let proj = ListParams::from_query(q.into_inner()).projection(GROUP_URN);
    let load_members = proj.wants("members");
    let (doc, members) = body.process(group_body).await?;
    let id = id.into_inner();
    let written = ctx
        .write(move |c, who| {
            groups::replace(c, who, &id, &cond.if_match, &doc, &members, load_members)
        })
        .await?;
    let group = written.value;
    let body = render::group(&ctx.base, &group, &proj);
    Ok(render::resource(StatusCode::OK, &body, group.meta.version))
}

async fn modify(
    ctx: Ctx,
    id: web::Path<String>,
    q: Query,
    cond: Conditions,
    body: ScimBody,
) -> Answer {
    let proj = ListParams::from_query(q.into_inner()).projection(GROUP_URN);
    let load_members = proj.wants("members");
    let ops = body
        .process(|b| patch::group_ops(&patch::parse(b)?))
        .await?;
    let id = id.into_inner();
    let written = ctx
        .write(move |c, who| groups::patch(c, who, &id, &cond.if_match, &ops, load_members))
        .await?;
    let group = written.value;
    let body = render::group(&ctx.base, &group, &proj);
    Ok(render::resource(StatusCode::OK, &body, group.meta.version))
}

async fn delete(ctx: Ctx, id: web::Path<String>, cond: Conditions) -> Answer {
    let id = id.into_inner();
    ctx.write(move |c, who| groups::delete(c, who, &id, &cond.if_match))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
