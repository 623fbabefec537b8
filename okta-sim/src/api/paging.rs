//! Cursor paging (never offsets): `limit` (default and maximum 200; larger values are
//! capped, as Okta does) and `after` (the cursor of the previous page's `next` link).
//! Each page answers `Link: <…>; rel="self"` and, when more follows,
//! `Link: <…?after=…&limit=…>; rel="next"` with the other query parameters kept —
//! as separate headers, or one comma-separated header ([`LinkStyle`]).

use actix_web::http::header::LINK;
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::filter::{self, Expr, Op};
use crate::sim::{LinkStyle, Simulator};

pub(crate) const MAX_LIMIT: usize = 200;

/// The query of a listing.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    pub limit: Option<String>,
    pub after: Option<String>,
    pub filter: Option<String>,
    pub search: Option<String>,
    pub q: Option<String>,
}

impl ListQuery {
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit.as_deref() {
            None | Some("") => Ok(MAX_LIMIT),
            Some(s) => match s.parse::<i64>() {
                Ok(n) if n >= 1 => Ok((n as usize).min(MAX_LIMIT)),
                _ => Err(ApiError::validation(
                    "limit",
                    "limit: must be a whole number of at least 1",
                )),
            },
        }
    }

    /// `filter` / `search` parsed and checked against `allowed`.
    pub fn expr(
        text: Option<&str>,
        allowed: &dyn Fn(&str, Op) -> bool,
    ) -> Result<Option<Expr>, ApiError> {
        let Some(text) = text else { return Ok(None) };
        let e = filter::parse(text).map_err(ApiError::InvalidSearch)?;
        e.check(allowed).map_err(ApiError::InvalidSearch)?;
        Ok(Some(e))
    }
}

/// `200` with the items and the `Link` headers.
pub(crate) fn respond(
    sim: &Simulator,
    req: &HttpRequest,
    items: Vec<Value>,
    next: Option<String>,
    limit: usize,
) -> HttpResponse {
    let base = format!("{}{}", sim.org_url(), req.path());
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let self_link = if pairs.is_empty() {
        base.clone()
    } else {
        format!("{base}?{}", encode(&pairs))
    };
    let mut links = vec![format!("<{self_link}>; rel=\"self\"")];
    if let Some(after) = next {
        let mut next_pairs: Vec<(String, String)> =
            vec![("after".into(), after), ("limit".into(), limit.to_string())];
        next_pairs.extend(
            pairs
                .into_iter()
                .filter(|(k, _)| k != "after" && k != "limit"),
        );
        links.push(format!("<{base}?{}>; rel=\"next\"", encode(&next_pairs)));
    }
    let mut res = HttpResponse::Ok();
    match sim.link_style() {
        LinkStyle::Separate => {
            for l in links {
                res.append_header((LINK, l));
            }
        }
        LinkStyle::Combined => {
            res.insert_header((LINK, links.join(", ")));
        }
    }
    res.json(items)
}

/// Percent-encodes (`%20` for spaces, as Okta's links have them).
fn encode(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_encoding() {
        let q = |l: &str| ListQuery {
            limit: Some(l.into()),
            ..ListQuery::default()
        };
        assert_eq!(ListQuery::default().limit().unwrap(), 200);
        assert_eq!(q("5").limit().unwrap(), 5);
        assert_eq!(q("1000").limit().unwrap(), 200);
        assert!(q("0").limit().is_err());
        assert!(q("x").limit().is_err());
        assert_eq!(pct(r#"status eq "A""#), "status%20eq%20%22A%22");
    }
}
