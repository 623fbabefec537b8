//! Delivery of System Log events to live hooks, in background tasks (a state change never
//! waits for it).
//!
//! Each event goes to the hooks that were ACTIVE, VERIFIED and subscribed to its type when
//! the change was made (the simulator attaches their ids as it queues the event). Events
//! are batched per hook: a batch is sent `batch_window_ms` after its first event,
//! or at once when it holds `batch_max_events`. Each delivery is one `POST` with the
//! hook's auth header and Okta's envelope; an answer within `timeout_ms` (3 s) with a 2xx
//! status delivers it, a 4xx fails it for good, a timeout, connection error or 5xx is
//! retried exactly once after `retry_delay_ms`.
//!
//! Faults, for the receiving end's tests: `duplicate_rate` (the same delivery, same
//! `eventId` and events, is sent again after the first), `reorder` (a delivery is held
//! back until the hook's next one has been sent, or `reorder_hold_ms` passed), `delay_ms`
//! (late delivery), `drop`/`drop_rate` (the hook misses the delivery: recorded, never
//! sent), `abandon_rate` (the request is sent but its answer not waited for beyond
//! `abandon_after_ms`, and never retried).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use crate::events::LogEvent;
use crate::faults::chance;
use crate::hooks::registry::{EventHook, Registry};
use crate::hooks::{hook_headers, http_client};
use crate::model::{fmt_ts, now_ms, okta_ts};

/// Keeps the newest this many delivery records.
pub const MAX_DELIVERIES: usize = 100_000;

/// Batching, timeouts and delivery faults (`/_sim/hooks/delivery`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HookDelivery {
    pub batch_window_ms: u64,
    pub batch_max_events: usize,
    /// How long a delivery's answer is waited for (Okta: 3 s).
    pub timeout_ms: u64,
    pub retry_delay_ms: u64,
    /// How long a verification answer is waited for (Okta: 3 s).
    pub verify_timeout_ms: u64,
    pub duplicate_rate: f64,
    pub reorder: bool,
    pub reorder_hold_ms: u64,
    pub delay_ms: u64,
    pub drop: bool,
    pub drop_rate: f64,
    pub abandon_rate: f64,
    pub abandon_after_ms: u64,
}

impl Default for HookDelivery {
    fn default() -> Self {
        HookDelivery {
            batch_window_ms: 100,
            batch_max_events: 50,
            timeout_ms: 3000,
            retry_delay_ms: 100,
            verify_timeout_ms: 3000,
            duplicate_rate: 0.0,
            reorder: false,
            reorder_hold_ms: 1000,
            delay_ms: 0,
            drop: false,
            drop_rate: 0.0,
            abandon_rate: 0.0,
            abandon_after_ms: 50,
        }
    }
}

impl HookDelivery {
    pub fn validate(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        for (name, rate) in [
            ("duplicate_rate", self.duplicate_rate),
            ("drop_rate", self.drop_rate),
            ("abandon_rate", self.abandon_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                errors.push(format!("{name} must be between 0 and 1"));
            }
        }
        if !(1..=1000).contains(&self.batch_max_events) {
            errors.push("batch_max_events must be between 1 and 1000".into());
        }
        for (name, ms) in [
            ("batch_window_ms", self.batch_window_ms),
            ("timeout_ms", self.timeout_ms),
            ("retry_delay_ms", self.retry_delay_ms),
            ("verify_timeout_ms", self.verify_timeout_ms),
            ("reorder_hold_ms", self.reorder_hold_ms),
            ("delay_ms", self.delay_ms),
            ("abandon_after_ms", self.abandon_after_ms),
        ] {
            if ms > 600_000 {
                errors.push(format!("{name} must be at most 600000"));
            }
        }
        if self.timeout_ms == 0 || self.verify_timeout_ms == 0 {
            errors.push("timeouts must be at least 1 ms".into());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// Queued or being sent.
    Pending,
    Delivered,
    /// 4xx, or both attempts failed.
    Failed,
    /// Never sent (the drop fault, or the hook stopped being live before the batch left).
    Dropped,
    /// Sent, answer not waited for.
    Abandoned,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    #[serde(with = "okta_ts")]
    pub at: DateTime<Utc>,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: f64,
}

/// One delivery (one envelope to one hook) and what became of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub seq: u64,
    /// The envelope's `eventId`.
    pub event_id: String,
    pub hook_id: String,
    pub uri: String,
    pub events: usize,
    pub event_uuids: Vec<String>,
    pub event_types: Vec<String>,
    #[serde(with = "okta_ts")]
    pub queued_at: DateTime<Utc>,
    pub outcome: DeliveryOutcome,
    pub attempts: Vec<Attempt>,
    /// The `seq` of the delivery this one duplicates.
    pub duplicate_of: Option<u64>,
    /// Held back so that a later delivery overtook it.
    pub reordered: bool,
    pub delayed_ms: u64,
    /// Why it was dropped.
    pub reason: Option<String>,
}

/// What the delivery machinery shares with the simulator handle.
pub(crate) struct HookHub {
    pub registry: Mutex<Registry>,
    config: Mutex<HookDelivery>,
    log: Mutex<VecDeque<DeliveryRecord>>,
    next_seq: Mutex<u64>,
    org_url: Mutex<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl HookHub {
    pub fn new(config: HookDelivery, org_url: String) -> HookHub {
        HookHub {
            registry: Mutex::new(Registry::default()),
            config: Mutex::new(config),
            log: Mutex::new(VecDeque::new()),
            next_seq: Mutex::new(1),
            org_url: Mutex::new(org_url),
        }
    }

    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        lock(&self.registry)
    }

    pub fn config(&self) -> HookDelivery {
        lock(&self.config).clone()
    }

    pub fn set_config(&self, c: HookDelivery) {
        *lock(&self.config) = c;
    }

    pub fn org_url(&self) -> String {
        lock(&self.org_url).clone()
    }

    pub fn set_org_url(&self, url: String) {
        *lock(&self.org_url) = url;
    }

    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        lock(&self.log).iter().cloned().collect()
    }

    pub fn reset_deliveries(&self) {
        lock(&self.log).clear();
    }

    fn record(&self, mut r: DeliveryRecord) -> u64 {
        let seq = {
            let mut n = lock(&self.next_seq);
            let s = *n;
            *n += 1;
            s
        };
        r.seq = seq;
        let mut log = lock(&self.log);
        if log.len() >= MAX_DELIVERIES {
            log.pop_front();
        }
        log.push_back(r);
        seq
    }

    fn update(&self, seq: u64, f: impl FnOnce(&mut DeliveryRecord)) {
        let mut log = lock(&self.log);
        if let Ok(i) = log.binary_search_by_key(&seq, |r| r.seq) {
            f(&mut log[i]);
        }
    }
}

/// One envelope on its way to one hook.
#[derive(Clone)]
struct Delivery {
    seq: u64,
    hook: EventHook,
    body: Value,
    duplicate: bool,
}

struct Batch {
    events: Vec<LogEvent>,
    deadline: Instant,
}

/// Events with the ids of the hooks subscribed when they were published (a hook that
/// becomes live later does not get earlier events, as in Okta).
pub(crate) type Published = Vec<(LogEvent, Vec<String>)>;

/// Runs until the simulator is gone or the sender side closes.
pub(crate) async fn run(weak: Weak<HookHub>, mut rx: UnboundedReceiver<Published>) {
    let client = match http_client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "okta-sim: event-hook delivery disabled");
            return;
        }
    };
    let mut batches: HashMap<String, Batch> = HashMap::new();
    let mut held: HashMap<String, (Delivery, Instant)> = HashMap::new();
    loop {
        let deadline = batches
            .values()
            .map(|b| b.deadline)
            .chain(held.values().map(|(_, t)| *t))
            .min();
        tokio::select! {
            msg = rx.recv() => {
                let Some(events) = msg else { break };
                let Some(hub) = weak.upgrade() else { break };
                let cfg = hub.config();
                for (event, hooks) in events {
                    for hook_id in hooks {
                        let batch = batches.entry(hook_id.clone()).or_insert_with(|| Batch {
                            events: Vec::new(),
                            deadline: Instant::now() + Duration::from_millis(cfg.batch_window_ms),
                        });
                        batch.events.push(event.clone());
                        if batch.events.len() >= cfg.batch_max_events {
                            if let Some(b) = batches.remove(&hook_id) {
                                flush(&weak, &hub, &client, &hook_id, b.events, &mut held);
                            }
                        }
                    }
                }
            }
            _ = sleep_until(deadline), if deadline.is_some() => {
                let Some(hub) = weak.upgrade() else { break };
                let now = Instant::now();
                let due: Vec<String> = batches
                    .iter()
                    .filter(|(_, b)| b.deadline <= now)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in due {
                    if let Some(b) = batches.remove(&id) {
                        flush(&weak, &hub, &client, &id, b.events, &mut held);
                    }
                }
                let released: Vec<String> = held
                    .iter()
                    .filter(|(_, (_, t))| *t <= now)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in released {
                    if let Some((d, _)) = held.remove(&id) {
                        spawn_sends(&weak, &client, vec![d]);
                    }
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn envelope(org_url: &str, hook_id: &str, event_id: &str, events: &[LogEvent]) -> Value {
    json!({
        "eventType": "com.okta.event_hook",
        "eventTypeVersion": "1.0",
        "cloudEventsVersion": "0.1",
        "source": format!("{org_url}/api/v1/eventHooks/{hook_id}"),
        "eventId": event_id,
        "eventTime": fmt_ts(&now_ms()),
        "contentType": "application/json",
        "data": { "events": events },
    })
}

fn flush(
    weak: &Weak<HookHub>,
    hub: &HookHub,
    client: &reqwest::Client,
    hook_id: &str,
    events: Vec<LogEvent>,
    held: &mut HashMap<String, (Delivery, Instant)>,
) {
    let cfg = hub.config();
    let hook = hub.registry().get(hook_id).ok();
    let event_id = uuid::Uuid::new_v4().to_string();
    let mut record = DeliveryRecord {
        seq: 0,
        event_id: event_id.clone(),
        hook_id: hook_id.to_owned(),
        uri: hook.as_ref().map(|h| h.uri.clone()).unwrap_or_default(),
        events: events.len(),
        event_uuids: events.iter().map(|e| e.uuid.clone()).collect(),
        event_types: events.iter().map(|e| e.event_type.clone()).collect(),
        queued_at: now_ms(),
        outcome: DeliveryOutcome::Pending,
        attempts: Vec::new(),
        duplicate_of: None,
        reordered: false,
        delayed_ms: cfg.delay_ms,
        reason: None,
    };
    let mut rng = rand::rng();
    let hook = match hook.filter(|h| h.is_live()) {
        Some(h) => h,
        None => {
            record.outcome = DeliveryOutcome::Dropped;
            record.reason = Some("the hook is no longer active and verified".into());
            hub.record(record);
            return;
        }
    };
    if cfg.drop || chance(&mut rng, cfg.drop_rate) {
        record.outcome = DeliveryOutcome::Dropped;
        record.reason = Some("drop fault".into());
        hub.record(record);
        return;
    }
    let reorder = cfg.reorder && !held.contains_key(hook_id);
    record.reordered = reorder;
    let seq = hub.record(record);
    let delivery = Delivery {
        seq,
        body: envelope(&hub.org_url(), hook_id, &event_id, &events),
        hook,
        duplicate: chance(&mut rng, cfg.duplicate_rate),
    };
    if reorder {
        let until = Instant::now() + Duration::from_millis(cfg.reorder_hold_ms);
        held.insert(hook_id.to_owned(), (delivery, until));
        return;
    }
    let mut list = vec![delivery];
    if let Some((earlier, _)) = held.remove(hook_id) {
        // The held delivery goes after this later one: they arrive out of order.
        list.push(earlier);
    }
    spawn_sends(weak, client, list);
}

/// The task holds only a weak handle: a dropped simulator ends its deliveries.
fn spawn_sends(hub: &Weak<HookHub>, client: &reqwest::Client, list: Vec<Delivery>) {
    let hub_ref = hub.clone();
    let client = client.clone();
    tokio::spawn(async move {
        for d in list {
            deliver(&hub_ref, &client, d).await;
        }
    });
}

/// Starts the dispatcher on the current tokio runtime.
pub(crate) fn start(
    hub: Weak<HookHub>,
    rx: UnboundedReceiver<Published>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(hub, rx))
}

async fn deliver(hub: &Weak<HookHub>, client: &reqwest::Client, d: Delivery) {
    let Some(cfg) = hub.upgrade().map(|h| h.config()) else {
        return;
    };
    if cfg.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(cfg.delay_ms)).await;
    }
    let abandon = chance(&mut rand::rng(), cfg.abandon_rate);
    let timeout = if abandon {
        cfg.abandon_after_ms.max(1)
    } else {
        cfg.timeout_ms
    };
    let mut outcome = DeliveryOutcome::Failed;
    for attempt_no in 0..2 {
        if attempt_no == 1 {
            tokio::time::sleep(Duration::from_millis(cfg.retry_delay_ms)).await;
        }
        let attempt = post(client, &d, Duration::from_millis(timeout)).await;
        let status = attempt.status;
        let Some(h) = hub.upgrade() else { return };
        h.update(d.seq, |r| r.attempts.push(attempt));
        drop(h);
        if abandon {
            outcome = DeliveryOutcome::Abandoned;
            break;
        }
        match status {
            Some(s) if (200..300).contains(&s) => {
                outcome = DeliveryOutcome::Delivered;
                break;
            }
            // Okta never retries a 4xx.
            Some(s) if (400..500).contains(&s) => break,
            _ => {}
        }
    }
    let Some(h) = hub.upgrade() else { return };
    h.update(d.seq, |r| r.outcome = outcome);
    if d.duplicate {
        let copy_seq = h.record(DeliveryRecord {
            seq: 0,
            event_id: d.body["eventId"].as_str().unwrap_or("").to_owned(),
            hook_id: d.hook.id.clone(),
            uri: d.hook.uri.clone(),
            events: d.body["data"]["events"].as_array().map_or(0, Vec::len),
            event_uuids: uuids(&d.body),
            event_types: types(&d.body),
            queued_at: now_ms(),
            outcome: DeliveryOutcome::Pending,
            attempts: Vec::new(),
            duplicate_of: Some(d.seq),
            reordered: false,
            delayed_ms: 0,
            reason: None,
        });
        drop(h);
        let copy = Delivery {
            seq: copy_seq,
            duplicate: false,
            ..d
        };
        Box::pin(deliver(hub, client, copy)).await;
    }
}

fn uuids(body: &Value) -> Vec<String> {
    field_list(body, "uuid")
}

fn types(body: &Value) -> Vec<String> {
    field_list(body, "eventType")
}

fn field_list(body: &Value, key: &str) -> Vec<String> {
    body["data"]["events"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|e| e[key].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn post(client: &reqwest::Client, d: &Delivery, timeout: Duration) -> Attempt {
    let at = now_ms();
    let started = std::time::Instant::now();
    let req = client
        .post(&d.hook.uri)
        .timeout(timeout)
        .header("Accept", "application/json")
        .json(&d.body);
    let res = hook_headers(req, &d.hook).send().await;
    let duration_ms = started.elapsed().as_micros() as f64 / 1000.0;
    match res {
        Ok(r) => Attempt {
            at,
            status: Some(r.status().as_u16()),
            error: None,
            duration_ms,
        },
        Err(e) => Attempt {
            at,
            status: None,
            error: Some(if e.is_timeout() {
                format!("no answer within {} ms", timeout.as_millis())
            } else {
                e.to_string()
            }),
            duration_ms,
        },
    }
}
