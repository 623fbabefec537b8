//! The admin API's JSON bodies (`/api/v1`): tokens, the ZenQMS connection, role mappings and
//! their previews, sync retries and rechecks. Any bytes: no panic in parsing or in the
//! checks that turn a body into a request.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zenqms_bridge::admin::{
    settings::ZenqmsBody, sync::RecheckBody, sync::RetryBody, tokens::CreateBody,
};
use zenqms_bridge::mappings::MappingBody;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<CreateBody>(data);
    let _ = serde_json::from_slice::<ZenqmsBody>(data);
    let _ = serde_json::from_slice::<RetryBody>(data);
    let _ = serde_json::from_slice::<RecheckBody>(data);
    if let Ok(body) = serde_json::from_slice::<MappingBody>(data) {
        let _ = body.clone().into_create();
        let _ = body.into_preview();
    }
});
