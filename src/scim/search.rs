//! `POST /scim/v2/.search` (RFC 7644 §3.4.3): one query across every resource type — Users,
//! then Groups — paged as one list.
//!
//! The filter is translated for each type on its own: a type whose attributes it does not
//! name contributes nothing (`userName eq "x"` finds users only), and only a filter no type
//! can run is `400 invalidFilter`. Results come type by type (users, then groups), each in its
//! stable list order; `sortBy` across types is refused rather than half-honoured.

use actix_web::http::StatusCode;
use actix_web::{middleware, web, HttpResponse};

use super::request::{ListParams, ScimBody};
use super::schema::{GROUP_URN, USER_URN};
use super::{guard, method_not_allowed, render, Ctx, ScimError};
use crate::directory::{groups, users, Page};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/.search")
            .wrap(middleware::from_fn(guard::catch_panics))
            .route(web::post().to(search))
            .default_service(web::to(method_not_allowed("POST"))),
    );
}

async fn search(ctx: Ctx, body: ScimBody) -> Result<HttpResponse, ScimError> {
    let params = ListParams::from_search(&body.0)?;
    if params
        .sort_by
        .as_deref()
        .is_some_and(|s| !s.trim().is_empty())
    {
        return Err(ScimError::invalid_value(
            "sortBy is not supported by a search across resource types; POST /Users/.search or /Groups/.search to sort",
        ));
    }
    let user_query = params.user_query(ctx.max_page);
    let group_query = params.group_query(ctx.max_page);
    let (start, mut uq, mut gq) = match (user_query, group_query) {
        (Ok((start, u)), Ok((_, g))) => (start, Some(u), Some(g)),
        (Ok((start, u)), Err(_)) => (start, Some(u), None),
        (Err(_), Ok((start, g))) => (start, None, Some(g)),
        (Err(e), Err(_)) => return Err(e),
    };
    let (offset, limit) = match (&uq, &gq) {
        (Some(q), _) => (q.offset, q.limit),
        (None, Some(q)) => (q.offset, q.limit),
        (None, None) => (0, 0),
    };
    let user_proj = params.projection(USER_URN);
    let group_proj = params.projection(GROUP_URN);
    let (load_groups, load_members) = (user_proj.wants("groups"), group_proj.wants("members"));
    let (user_page, group_page) = ctx
        .read(move |c| {
            let user_page = match uq.as_mut() {
                Some(q) => users::list(c, q, load_groups)?,
                None => Page {
                    total: 0,
                    items: Vec::new(),
                },
            };
            let group_page = match gq.as_mut() {
                Some(q) => {
                    // The groups' window continues where the users' ended.
                    q.offset = (offset - user_page.total).max(0);
                    q.limit = (limit - user_page.items.len() as i64).max(0);
                    groups::list(c, q, load_members)?
                }
                None => Page {
                    total: 0,
                    items: Vec::new(),
                },
            };
            Ok((user_page, group_page))
        })
        .await?;
    let resources = user_page
        .items
        .iter()
        .map(|u| render::user(&ctx.base, u, &user_proj))
        .chain(
            group_page
                .items
                .iter()
                .map(|g| render::group(&ctx.base, g, &group_proj)),
        )
        .collect();
    Ok(render::json(
        StatusCode::OK,
        &render::list(user_page.total + group_page.total, start, resources),
    ))
}
