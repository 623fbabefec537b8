//! Cursor paging: Okta answers each page with `Link` headers, one per relation
//! (`<…>; rel="self"`, `<…?after=…>; rel="next"`), and a client follows `rel="next"` verbatim
//! until it is absent (`docs/okta-api.md`). The header may arrive in any case and several
//! times, or with several links in one value (RFC 8288 §3); the values are joined as one
//! list (RFC 9110 §5.3) and parsed by `parse_link_header`, not by hand.

use reqwest::header::{HeaderMap, LINK};

/// The `rel="next"` URL of an answer, if any.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    let joined = headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ");
    if joined.is_empty() {
        return None;
    }
    let links = parse_link_header::parse_with_rel(&joined).ok()?;
    links.get("next").map(|l| l.raw_uri.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(LINK, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn next_is_found_in_separate_or_combined_headers() {
        let next = "https://acme.okta.com/api/v1/users?after=00u2&limit=200";
        let separate = headers(&[
            "<https://acme.okta.com/api/v1/users?limit=200>; rel=\"self\"",
            &format!("<{next}>; rel=\"next\""),
        ]);
        assert_eq!(next_link(&separate).as_deref(), Some(next));
        let combined = headers(&[&format!(
            "<https://acme.okta.com/api/v1/users?limit=200>; rel=\"self\", <{next}>; rel=\"next\""
        )]);
        assert_eq!(next_link(&combined).as_deref(), Some(next));
    }

    #[test]
    fn the_last_page_has_no_next() {
        let last = headers(&["<https://acme.okta.com/api/v1/users?limit=200>; rel=\"self\""]);
        assert_eq!(next_link(&last), None);
        assert_eq!(next_link(&HeaderMap::new()), None);
        assert_eq!(next_link(&headers(&["garbage"])), None);
    }
}
