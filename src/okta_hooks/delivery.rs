//! Reading one delivery of an Okta event hook: a pure function of the body's bytes (no I/O,
//! no clock), so that it can be fuzzed (`fuzz/fuzz_targets/event_hook.rs`).
//!
//! The envelope (`docs/event-hooks.md`): `{"eventId": …, "data": {"events": [LogEvent…]}}`.
//! Of each LogEvent the bridge keeps what it acts on: `uuid` (deliveries repeat: the key),
//! `published` (the order per user), `eventType`, and the first `User` and `UserGroup` of
//! `target`. Everything else in the body is kept as received with the delivery, never
//! trusted: the processor re-reads the user or group from the Okta API.
//!
//! Refused as malformed: a body that is not a JSON object, no `data.events` array, an event
//! without a `uuid`, `eventType` or an RFC 3339 `published`, or with one longer than
//! [`MAX_FIELD`]. More than [`MAX_EVENTS`] events is too large (counted without keeping them).

use chrono::{DateTime, NaiveDateTime, SubsecRound};
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

/// The most events one delivery may carry (Okta batches far fewer).
pub const MAX_EVENTS: usize = 1_000;
/// The longest `uuid`, `eventType`, `published` or `eventId` accepted.
pub const MAX_FIELD: usize = 200;

/// A delivery as the bridge keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The envelope's `eventId` (when sane).
    pub event_id: Option<String>,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub uuid: String,
    /// UTC, to the microsecond.
    pub published: NaiveDateTime,
    pub event_type: String,
    /// The first target of type `User`, when it looks like an Okta id.
    pub user_id: Option<String>,
    /// The first target of type `UserGroup`, when it looks like an Okta id.
    pub group_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the body is not a JSON delivery: {0}")]
    Malformed(String),
    #[error("event {index}: {reason}")]
    BadEvent { index: usize, reason: String },
    #[error("the delivery holds {0} events; at most {MAX_EVENTS} are accepted")]
    TooManyEvents(usize),
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "eventId", default)]
    event_id: Option<serde_json::Value>,
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    events: Events,
}

/// The events, at most [`MAX_EVENTS`] kept; the rest only counted.
struct Events {
    kept: Vec<RawEvent>,
    total: usize,
}

impl<'de> Deserialize<'de> for Events {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Events;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array of events")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Events, A::Error> {
                let mut kept = Vec::new();
                let mut total = 0usize;
                loop {
                    if total < MAX_EVENTS {
                        match seq.next_element::<RawEvent>()? {
                            Some(e) => kept.push(e),
                            None => break,
                        }
                    } else if seq.next_element::<IgnoredAny>()?.is_none() {
                        break;
                    }
                    total += 1;
                }
                Ok(Events { kept, total })
            }
        }
        d.deserialize_seq(V)
    }
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(default)]
    uuid: Option<serde_json::Value>,
    #[serde(default)]
    published: Option<serde_json::Value>,
    #[serde(rename = "eventType", default)]
    event_type: Option<serde_json::Value>,
    #[serde(default)]
    target: Option<serde_json::Value>,
}

/// Reads a delivery's body.
pub fn parse(body: &[u8]) -> Result<Delivery, ParseError> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| ParseError::Malformed(e.to_string()))?;
    if envelope.data.events.total > MAX_EVENTS {
        return Err(ParseError::TooManyEvents(envelope.data.events.total));
    }
    let event_id = envelope
        .event_id
        .as_ref()
        .and_then(|v| v.as_str())
        .filter(|s| sane(s))
        .map(str::to_string);
    let events = envelope
        .data
        .events
        .kept
        .into_iter()
        .enumerate()
        .map(|(index, raw)| event(raw).map_err(|reason| ParseError::BadEvent { index, reason }))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Delivery { event_id, events })
}

/// Non-empty, at most [`MAX_FIELD`] bytes, no control characters (NUL included: PostgreSQL's
/// text cannot hold it).
fn sane(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_FIELD && !s.chars().any(char::is_control)
}

fn field(v: &Option<serde_json::Value>, name: &str) -> Result<String, String> {
    match v.as_ref().and_then(|v| v.as_str()) {
        Some(s) if sane(s) => Ok(s.to_string()),
        Some(_) => Err(format!(
            "\"{name}\" is empty, longer than {MAX_FIELD} bytes or holds control characters"
        )),
        None => Err(format!("\"{name}\" is missing or not a string")),
    }
}

fn event(raw: RawEvent) -> Result<Event, String> {
    let uuid = field(&raw.uuid, "uuid")?;
    let event_type = field(&raw.event_type, "eventType")?;
    let published = field(&raw.published, "published")?;
    let published = DateTime::parse_from_rfc3339(&published)
        .map_err(|e| format!("\"published\" is not an RFC 3339 time: {e}"))?
        .naive_utc()
        .trunc_subsecs(6);
    let (mut user_id, mut group_id) = (None, None);
    if let Some(targets) = raw.target.as_ref().and_then(|t| t.as_array()) {
        for t in targets {
            let id = t
                .get("id")
                .and_then(|v| v.as_str())
                .filter(|s| is_okta_id(s));
            match t.get("type").and_then(|v| v.as_str()) {
                Some("User") if user_id.is_none() => user_id = id.map(str::to_string),
                Some("UserGroup") if group_id.is_none() => group_id = id.map(str::to_string),
                _ => {}
            }
        }
    }
    Ok(Event {
        uuid,
        published,
        event_type,
        user_id,
        group_id,
    })
}

/// Okta ids are short and alphanumeric (`00u…`, `00g…`).
fn is_okta_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(events: serde_json::Value) -> Vec<u8> {
        json!({"eventType": "com.okta.event_hook", "eventId": "d-1",
               "data": {"events": events}})
        .to_string()
        .into_bytes()
    }

    fn membership(uuid: &str) -> serde_json::Value {
        json!({"uuid": uuid, "published": "2026-12-06T10:00:00.123456789Z",
               "eventType": "group.user_membership.add",
               "target": [{"id": "00uabc", "type": "User", "alternateId": "a@example.com"},
                          {"id": "00gqa", "type": "UserGroup", "displayName": "QA"}]})
    }

    #[test]
    fn a_delivery_gives_its_events_targets_and_times() {
        let d = parse(&body(json!([membership("e1")]))).unwrap();
        assert_eq!(d.event_id.as_deref(), Some("d-1"));
        let e = &d.events[0];
        assert_eq!(e.uuid, "e1");
        assert_eq!(e.user_id.as_deref(), Some("00uabc"));
        assert_eq!(e.group_id.as_deref(), Some("00gqa"));
        assert_eq!(
            e.published.and_utc().to_rfc3339(),
            "2026-12-06T10:00:00.123456+00:00"
        );
    }

    #[test]
    fn what_is_not_a_delivery_is_malformed() {
        for bad in [
            &b"not json"[..],
            b"[]",
            b"{}",
            b"{\"data\":{}}",
            b"{\"data\":{\"events\":{}}}",
        ] {
            assert!(
                matches!(parse(bad), Err(ParseError::Malformed(_))),
                "{bad:?}"
            );
        }
        let mut e = membership("e1");
        e["published"] = json!("yesterday");
        assert!(matches!(
            parse(&body(json!([e]))),
            Err(ParseError::BadEvent { index: 0, .. })
        ));
        let mut e = membership("e\u{0}1");
        e["uuid"] = json!("e\u{0}1");
        assert!(matches!(
            parse(&body(json!([e]))),
            Err(ParseError::BadEvent { .. })
        ));
        let e = json!({"uuid": "x", "published": "2026-12-06T10:00:00Z"});
        assert!(matches!(
            parse(&body(json!([e]))),
            Err(ParseError::BadEvent { .. })
        ));
    }

    #[test]
    fn odd_targets_are_left_out_not_trusted() {
        let mut e = membership("e1");
        e["target"] = json!([{"id": "../etc", "type": "User"}, {"id": 5, "type": "UserGroup"}]);
        let d = parse(&body(json!([e]))).unwrap();
        assert_eq!(
            (d.events[0].user_id.clone(), d.events[0].group_id.clone()),
            (None, None)
        );
    }

    #[test]
    fn more_than_the_limit_of_events_is_too_many() {
        let list: Vec<_> = (0..=MAX_EVENTS).map(|_| json!({})).collect();
        assert_eq!(
            parse(&body(json!(list))),
            Err(ParseError::TooManyEvents(MAX_EVENTS + 1))
        );
        let list: Vec<_> = (0..MAX_EVENTS)
            .map(|i| membership(&format!("e{i}")))
            .collect();
        assert_eq!(parse(&body(json!(list))).unwrap().events.len(), MAX_EVENTS);
    }
}
