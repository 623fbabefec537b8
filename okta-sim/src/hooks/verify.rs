//! The verification call: one `GET` to the hook's URI with its auth header and
//! `X-Okta-Verification-Challenge`; the hook must answer `200 {"verification": <value>}`
//! within the timeout (3 s, as Okta). A failed attempt is retried once.

use std::time::Duration;

use serde_json::Value;

use crate::hooks::registry::EventHook;
use crate::hooks::{hook_headers, http_client};
use crate::ids::secret_token;

pub(crate) const CHALLENGE_HEADER: &str = "X-Okta-Verification-Challenge";

/// `Ok` when one of two attempts got the challenge back; otherwise why not (both
/// attempts' reasons).
pub(crate) async fn verify(hook: &EventHook, timeout: Duration) -> Result<(), String> {
    let client = http_client()?;
    let mut reasons = Vec::new();
    for _ in 0..2 {
        match attempt(&client, hook, timeout).await {
            Ok(()) => return Ok(()),
            Err(reason) => reasons.push(reason),
        }
    }
    Err(reasons.join("; then: "))
}

async fn attempt(
    client: &reqwest::Client,
    hook: &EventHook,
    timeout: Duration,
) -> Result<(), String> {
    let challenge = secret_token();
    let req = client
        .get(&hook.uri)
        .timeout(timeout)
        .header(CHALLENGE_HEADER, &challenge)
        .header("Accept", "application/json");
    let res = hook_headers(req, hook)
        .send()
        .await
        .map_err(|e| format!("the verification request failed: {e}"))?;
    let status = res.status();
    if status != reqwest::StatusCode::OK {
        return Err(format!("the endpoint answered {status}, not 200"));
    }
    let body: Value = res
        .json()
        .await
        .map_err(|e| format!("the answer is not JSON: {e}"))?;
    if body["verification"].as_str() == Some(challenge.as_str()) {
        Ok(())
    } else {
        Err("the answer's \"verification\" is not the challenge sent".into())
    }
}
