//! An Okta event-hook delivery (`POST /okta/events`): any bytes through the pure parser
//! `okta_hooks::delivery::parse`. No panic; what it accepts stays within its bounds (at most
//! `MAX_EVENTS` events, fields non-empty, bounded and free of control characters, targets
//! alphanumeric Okta ids).

#![no_main]

use libfuzzer_sys::fuzz_target;
use zenqms_bridge::okta_hooks::delivery::{parse, MAX_EVENTS, MAX_FIELD};

fn bounded(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_FIELD && !s.chars().any(char::is_control)
}

fn okta_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric())
}

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = parse(data) {
        assert!(d.events.len() <= MAX_EVENTS);
        assert!(d.event_id.as_deref().is_none_or(bounded));
        for e in &d.events {
            assert!(bounded(&e.uuid) && bounded(&e.event_type));
            assert!(e.user_id.as_deref().is_none_or(okta_id));
            assert!(e.group_id.as_deref().is_none_or(okta_id));
        }
    }
});
