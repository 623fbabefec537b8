//! `GET /oauth/okta/callback`: where Okta sends the admin's browser after authorizing (a
//! front door without a bearer token: the single-use `state` is the proof). It hands the
//! query to the Okta service and answers a small HTML page saying what happened and, on
//! failure, what to fix in Okta (the same text is in `GET /api/v1/settings/okta`'s `problem`).

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::okta::authorize::CallbackQuery;
use crate::okta::Okta;

pub const PATH: &str = "/oauth/okta/callback";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::get().to(callback));
}

async fn callback(
    req: actix_web::HttpRequest,
    okta: web::Data<Okta>,
    query: web::Query<CallbackQuery>,
) -> HttpResponse {
    let query = query.into_inner();
    // The one redirect URI serves the console's "Sign in with Okta" too; its states say so.
    if let Some(state) = query
        .state
        .as_deref()
        .filter(|s| s.starts_with(crate::okta::signin::STATE_PREFIX))
    {
        return crate::console::okta_signin::complete(
            &req,
            query.code.as_deref(),
            state,
            query.error.as_deref(),
        )
        .await;
    }
    let outcome = okta.complete_authorization(query).await;
    let mut res = if outcome.connected {
        HttpResponse::Ok()
    } else {
        HttpResponse::BadRequest()
    };
    res.content_type("text/html; charset=utf-8")
        // The page is the end of an authorization: never cached, never framed.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'",
        ))
        .body(page(&outcome.title, &outcome.message, outcome.connected))
}

fn page(title: &str, message: &str, ok: bool) -> String {
    let (title, message) = (escape(title), escape(message));
    let color = if ok { "#1a7f37" } else { "#cf222e" };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · zenqms-bridge</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem}}h1{{color:{color}}}</style></head>\
         <body><h1>{title}</h1><p>{message}</p><p><a href=\"/console/setup/connections\">Back to the console</a> (GET /api/v1/settings/okta shows the connection's state).</p></body></html>"
    )
}

/// HTML text escaping (the message may quote what Okta or the query said).
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_text_cannot_inject_markup() {
        let p = super::page("t", "<script>alert(1)</script>", false);
        assert!(!p.contains("<script>") && p.contains("&lt;script&gt;"));
    }
}
