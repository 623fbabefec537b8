//! Event hooks: the registered hooks and their lifecycle (`registry.rs`), the
//! verification call (`verify.rs`) and the background delivery of System Log events
//! (`delivery.rs`).

pub(crate) mod delivery;
pub(crate) mod registry;
pub(crate) mod verify;

/// The client the simulator calls hooks with. reqwest is built with rustls and no
/// default crypto provider (as the bridge is, to avoid the aws-lc C build), so ring is
/// installed first; installing twice is harmless.
pub(crate) fn http_client() -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .user_agent("Okta Event Hooks (okta-sim)")
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// `authScheme` and the extra headers of a hook, as request headers.
pub(crate) fn hook_headers(
    req: reqwest::RequestBuilder,
    hook: &registry::EventHook,
) -> reqwest::RequestBuilder {
    let mut req = req;
    for (k, v) in &hook.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    if let Some(a) = &hook.auth_scheme {
        req = req.header(a.key.as_str(), a.value.as_str());
    }
    req
}
