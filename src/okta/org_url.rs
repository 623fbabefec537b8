//! The org URL as admins type it (`acme.okta.com`, `https://acme.okta.com`, with or without a
//! trailing slash) normalised to `https://acme.okta.com`. HTTPS only — the client secret and
//! tokens travel to it — except loopback hosts (tests, the demo's simulator). Only the org
//! authorization server issues tokens with `okta.*` scopes, so a path such as
//! `/oauth2/default` is refused with that explanation (`docs/okta-api.md`).

use std::net::IpAddr;

use reqwest::Url;

pub fn normalise(input: &str) -> Result<String, String> {
    let trimmed = input.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Err("`org_url` is empty; send the Okta org URL, e.g. https://acme.okta.com".into());
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("https://{trimmed}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| {
        format!("`org_url` {trimmed:?} is not a URL ({e}); send e.g. https://acme.okta.com")
    })?;
    let host = url
        .host_str()
        .ok_or_else(|| format!("`org_url` {trimmed:?} has no host"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(host) => {}
        "http" => {
            return Err(format!(
                "`org_url` must use https:// (only loopback hosts may use http://): {trimmed}"
            ))
        }
        other => return Err(format!("`org_url` must be an https:// URL, not {other}://")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("`org_url` must not carry a user name or password".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("`org_url` must not carry a query or a fragment".into());
    }
    if url.path() != "/" && !url.path().is_empty() {
        return Err(format!(
            "`org_url` must be the org's address alone (https://{host}), not {}: the bridge uses the org authorization server, which is the only one that grants okta.* scopes",
            url.path()
        ));
    }
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    Ok(format!(
        "{}://{}{port}",
        url.scheme(),
        host.to_ascii_lowercase()
    ))
}

fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_admins_type_are_one_url() {
        for typed in [
            "acme.okta.com",
            "https://acme.okta.com",
            "https://acme.okta.com/",
            "  ACME.okta.com/ ",
        ] {
            assert_eq!(
                normalise(typed).as_deref(),
                Ok("https://acme.okta.com"),
                "{typed}"
            );
        }
        assert_eq!(
            normalise("http://127.0.0.1:8081/").as_deref(),
            Ok("http://127.0.0.1:8081")
        );
        assert_eq!(
            normalise("http://localhost:9").as_deref(),
            Ok("http://localhost:9")
        );
        assert_eq!(normalise("http://[::1]:9").as_deref(), Ok("http://[::1]:9"));
    }

    #[test]
    fn hostile_or_wrong_urls_are_refused_with_a_reason() {
        for (typed, says) in [
            ("http://acme.okta.com", "https"),
            ("ftp://acme.okta.com", "https"),
            (
                "https://acme.okta.com/oauth2/default",
                "org authorization server",
            ),
            ("https://user:pw@acme.okta.com", "password"),
            ("https://acme.okta.com?x=1", "query"),
            ("", "empty"),
            ("http://127.0.0.1.evil.example", "https"),
        ] {
            let err = normalise(typed).unwrap_err();
            assert!(err.contains(says), "{typed}: {err}");
        }
    }
}
