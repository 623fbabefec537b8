//! What a SCIM request carries: the JSON body, list parameters (query string or a `.search`
//! body), and preconditions (`If-Match`, `If-None-Match`). Every failure is a [`ScimError`].

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{dev, web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use scim_v2::filter::Filter;
use serde_json::{Map, Value};

use super::error::ScimError;
use super::projection::Projection;
use super::{filter, schema};
use crate::directory::query::{GroupQuery, GroupSort, ListQuery, Sort, UserQuery, UserSort};
use crate::directory::Precondition;

const DEFAULT_BODY_LIMIT: usize = 1 << 20;
/// RFC 7644 §3.4.2.4 leaves the default page size to the server; Okta asks for 100.
const DEFAULT_COUNT: i64 = 100;

/// A JSON object body labelled `application/scim+json` or `application/json` (RFC 7644 §3.1;
/// Okta's own test tool sends the latter). A missing content type is accepted; any other is
/// `415` (no `scimType`: RFC 7644 §3.12 defines none for it). Bodies over
/// `SCIM_MAX_BODY_BYTES` are `413` — refused from `Content-Length` before reading when it is
/// sent, and cut off while reading otherwise.
///
/// The second field is the body's size in bytes: it decides where the CPU work on the body
/// runs ([`ScimBody::process`]).
pub struct ScimBody(pub Map<String, Value>, usize);

/// Bodies up to this size are parsed and processed on the async worker itself. The work on them
/// is a few microseconds (the bounds of `super::limits` keep it linear in the size), less than
/// the two thread hand-offs a trip to the blocking pool costs; on a SCIM create those hand-offs
/// were most of the kernel's share of the CPU (issue 14 §3). Larger bodies go to the blocking
/// pool, so no body can hold a worker and the connections it serves (issue 13 §3). An Okta or
/// Entra user is under 2 KiB.
pub const INLINE_BODY_BYTES: usize = 8 * 1024;

impl ScimBody {
    /// Runs CPU work on the body (normalising it, parsing a PATCH): inline for a body of at
    /// most [`INLINE_BODY_BYTES`], on the blocking pool (`super::off_worker`) for a larger one.
    pub async fn process<T, E, F>(self, f: F) -> Result<T, ScimError>
    where
        F: FnOnce(&Map<String, Value>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<ScimError> + Send + 'static,
    {
        let ScimBody(map, size) = self;
        if size <= INLINE_BODY_BYTES {
            return f(&map).map_err(Into::into);
        }
        super::off_worker(move || f(&map)).await
    }
}

fn acceptable(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/scim+json" | "application/json"
    )
}

impl FromRequest for ScimBody {
    type Error = ScimError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut dev::Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<super::Settings>>()
            .map(|s| s.max_body)
            .unwrap_or(DEFAULT_BODY_LIMIT);
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("(not text)").to_string());
        let declared_len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if let Some(ct) = content_type.as_deref().filter(|ct| !acceptable(ct)) {
                return Err(ScimError::UnsupportedMediaType(format!(
                    "the body is labelled {ct}; send application/scim+json or application/json"
                )));
            }
            let too_large = || {
                ScimError::PayloadTooLarge(format!(
                    "the body is larger than the limit of {limit} bytes (SCIM_MAX_BODY_BYTES)"
                ))
            };
            if declared_len.is_some_and(|n| n > limit as u64) {
                return Err(too_large());
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| {
                    ScimError::invalid_syntax(format!("the body could not be read: {e}"))
                })?;
                if body.len() + chunk.len() > limit {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            // Parsed where [`ScimBody::process`] would work on it: inline when small, on the
            // blocking pool otherwise.
            let body = body.freeze();
            let size = body.len();
            let parse = move || {
                let blank = body.iter().all(u8::is_ascii_whitespace);
                (serde_json::from_slice::<Value>(&body), blank)
            };
            let parsed = if size <= INLINE_BODY_BYTES {
                parse()
            } else {
                web::block(parse)
                    .await
                    .map_err(|e| ScimError::Internal(format!("the blocking pool failed: {e}")))?
            };
            match parsed {
                (Ok(Value::Object(map)), _) => Ok(ScimBody(map, size)),
                (Ok(_), _) => Err(ScimError::invalid_syntax("the body must be a JSON object")),
                (Err(_), true) => Err(ScimError::invalid_syntax("the request needs a JSON body")),
                (Err(e), false) => Err(ScimError::invalid_syntax(format!(
                    "the body is not valid JSON: {e}"
                ))),
            }
        })
    }
}

/// List and read parameters (RFC 7644 §3.4.2, §3.9), names without regard to case.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub filter: Option<String>,
    pub start_index: Option<String>,
    pub count: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
}

impl ListParams {
    fn set(&mut self, name: &str, value: String) {
        let slot = match name.to_ascii_lowercase().as_str() {
            "filter" => &mut self.filter,
            "startindex" => &mut self.start_index,
            "count" => &mut self.count,
            "sortby" => &mut self.sort_by,
            "sortorder" => &mut self.sort_order,
            "attributes" => &mut self.attributes,
            "excludedattributes" => &mut self.excluded_attributes,
            _ => return,
        };
        *slot = Some(value);
    }

    pub fn from_query(pairs: Vec<(String, String)>) -> ListParams {
        let mut p = ListParams::default();
        for (k, v) in pairs {
            p.set(&k, v);
        }
        p
    }

    /// A `POST …/.search` body (RFC 7644 §3.4.3): the same parameters as JSON, with
    /// `attributes` as arrays.
    pub fn from_search(body: &Map<String, Value>) -> Result<ListParams, ScimError> {
        let mut p = ListParams::default();
        for (k, v) in body {
            if k.eq_ignore_ascii_case("schemas") {
                continue;
            }
            let text = match v {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Array(items) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "{k} must be a string, a number or a list of strings"
                    )))
                }
            };
            p.set(k, text);
        }
        Ok(p)
    }

    pub fn projection(&self, core_urn: &str) -> Projection {
        Projection::parse(
            self.attributes.as_deref(),
            self.excluded_attributes.as_deref(),
            core_urn,
        )
    }

    fn int(name: &str, v: &Option<String>) -> Result<Option<i64>, ScimError> {
        match v.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
                ScimError::invalid_value(format!("{name} must be an integer, not \"{s}\""))
            }),
        }
    }

    /// `(startIndex, offset, limit)`: startIndex below 1 means 1; count defaults to 100, is
    /// capped at `SCIM_MAX_PAGE_SIZE`, negative means 0, and 0 asks for the total only.
    fn page(&self, max: i64) -> Result<(i64, i64, i64), ScimError> {
        let start = Self::int("startIndex", &self.start_index)?
            .unwrap_or(1)
            .max(1);
        let count = Self::int("count", &self.count)?
            .unwrap_or(DEFAULT_COUNT)
            .clamp(0, max.max(1));
        Ok((start, start - 1, count))
    }

    fn descending(&self) -> Result<bool, ScimError> {
        match self.sort_order.as_deref().map(str::trim) {
            None | Some("") => Ok(false),
            Some(s) if s.eq_ignore_ascii_case("ascending") => Ok(false),
            Some(s) if s.eq_ignore_ascii_case("descending") => Ok(true),
            Some(s) => Err(ScimError::invalid_value(format!(
                "sortOrder must be ascending or descending, not \"{s}\""
            ))),
        }
    }

    fn parsed_filter(&self) -> Result<Option<Filter>, ScimError> {
        match self.filter.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(f) if f.len() > super::limits::MAX_FILTER_BYTES => {
                Err(ScimError::invalid_filter(format!(
                    "the filter is {} bytes; at most {} are accepted",
                    f.len(),
                    super::limits::MAX_FILTER_BYTES
                )))
            }
            Some(f) => {
                let parsed = f.parse::<Filter>().map_err(|e| {
                    ScimError::invalid_filter(format!("the filter {f:?} is invalid: {e}"))
                })?;
                filter::check_terms(&parsed)?;
                Ok(Some(parsed))
            }
        }
    }

    fn sort_key(&self, core_urn: &str) -> Option<String> {
        let raw = self.sort_by.as_deref()?.trim();
        if raw.is_empty() {
            return None;
        }
        let prefix = format!("{core_urn}:");
        // `get`, not slicing: the client's text need not have a char boundary there.
        let bare = match (raw.get(..prefix.len()), raw.get(prefix.len()..)) {
            (Some(head), Some(rest)) if head.eq_ignore_ascii_case(&prefix) => rest,
            _ => raw,
        };
        Some(bare.to_ascii_lowercase())
    }

    pub fn user_query(&self, max: i64) -> Result<(i64, UserQuery), ScimError> {
        self.list_query(
            max,
            schema::USER_URN,
            filter::users,
            |key| match key {
                "username" => Some(UserSort::UserName),
                "displayname" => Some(UserSort::DisplayName),
                "meta.created" => Some(UserSort::Created),
                "meta.lastmodified" => Some(UserSort::LastModified),
                _ => None,
            },
            "users can be sorted by userName, displayName, meta.created or meta.lastModified",
        )
    }

    pub fn group_query(&self, max: i64) -> Result<(i64, GroupQuery), ScimError> {
        self.list_query(
            max,
            schema::GROUP_URN,
            filter::groups,
            |key| match key {
                "displayname" => Some(GroupSort::DisplayName),
                "meta.created" => Some(GroupSort::Created),
                "meta.lastmodified" => Some(GroupSort::LastModified),
                _ => None,
            },
            "groups can be sorted by displayName, meta.created or meta.lastModified",
        )
    }

    /// Paging, the resource's filter allow-list and its sort keys (`sortable` names them
    /// for the error), the same for both resources.
    fn list_query<F, S, E>(
        &self,
        max: i64,
        urn: &str,
        translate: fn(&Filter) -> Result<F, E>,
        sort_key: fn(&str) -> Option<S>,
        sortable: &str,
    ) -> Result<(i64, ListQuery<F, S>), ScimError>
    where
        ScimError: From<E>,
    {
        let (start, offset, limit) = self.page(max)?;
        let filter = match self.parsed_filter()? {
            Some(f) => Some(translate(&f)?),
            None => None,
        };
        let sort = match self.sort_key(urn).as_deref() {
            None => None,
            Some(k) => Some(Sort {
                key: sort_key(k).ok_or_else(|| {
                    ScimError::invalid_value(format!(
                        "{sortable}, not \"{}\"",
                        self.sort_by.as_deref().unwrap_or_default()
                    ))
                })?,
                descending: self.descending()?,
            }),
        };
        Ok((
            start,
            ListQuery {
                filter,
                sort,
                offset,
                limit,
            },
        ))
    }
}

/// `If-Match` / `If-None-Match` (RFC 7644 §3.14). Tags compare by their opaque value: ours
/// are weak (`W/"3"`), and SCIM uses them with `If-Match` anyway.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    pub if_match: Precondition,
    if_none_match: Precondition,
}

fn parse_tags(raw: &str) -> Precondition {
    if raw.trim() == "*" {
        return Precondition::Exists;
    }
    let versions = raw
        .split(',')
        .map(|t| {
            let t = t.trim();
            let t = t.strip_prefix("W/").unwrap_or(t);
            t.strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .and_then(|v| v.parse::<i64>().ok())
        })
        .collect();
    Precondition::Versions(versions)
}

impl Conditions {
    fn of(req: &HttpRequest) -> Conditions {
        let get = |name| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(parse_tags)
                .unwrap_or_default()
        };
        Conditions {
            if_match: get(header::IF_MATCH),
            if_none_match: get(header::IF_NONE_MATCH),
        }
    }

    /// A GET whose `If-None-Match` names the current version answers `304`.
    pub fn not_modified(&self, version: i64) -> bool {
        match &self.if_none_match {
            Precondition::None => false,
            Precondition::Exists => true,
            Precondition::Versions(v) => v.contains(&Some(version)),
        }
    }
}

impl FromRequest for Conditions {
    type Error = ScimError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut dev::Payload) -> Self::Future {
        std::future::ready(Ok(Conditions::of(req)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_rules() {
        let p = ListParams::from_query(vec![
            ("startIndex".into(), "-5".into()),
            ("COUNT".into(), "5000".into()),
        ]);
        assert_eq!(p.page(1000).unwrap(), (1, 0, 1000));
        let p = ListParams::from_query(vec![("count".into(), "-1".into())]);
        assert_eq!(p.page(1000).unwrap(), (1, 0, 0));
        let p = ListParams::from_query(vec![("startIndex".into(), "101".into())]);
        assert_eq!(p.page(1000).unwrap(), (101, 100, 100));
        let p = ListParams::from_query(vec![("count".into(), "ten".into())]);
        assert!(p.page(1000).is_err());
    }

    #[test]
    fn tags() {
        assert_eq!(
            parse_tags("W/\"3\", \"4\", junk"),
            Precondition::Versions(vec![Some(3), Some(4), None])
        );
        assert_eq!(parse_tags("*"), Precondition::Exists);
    }

    #[test]
    fn content_types() {
        assert!(acceptable("application/scim+json; charset=utf-8"));
        assert!(acceptable("Application/JSON"));
        assert!(!acceptable("text/plain"));
    }
}
