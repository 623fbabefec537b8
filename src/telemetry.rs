//! Logs (tracing), request ids, and Prometheus metrics.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tracing::Instrument;

use crate::config::{Config, LogFormat};

pub const REQUEST_ID: &str = "x-request-id";

/// Installs the global tracing subscriber (logs go to stderr; stdout is for command output).
pub fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.rust_log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match cfg.log_format {
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    // Already installed (tests start several servers in one process): keep the first.
    let _ = result;
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub endpoint: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

/// Every metric the process exports. Cheap to clone (shared handles).
#[derive(Clone)]
pub struct Metrics {
    registry: std::sync::Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    pool: Family<PoolLabels, Gauge>,
    /// ZenQMS calls by endpoint template and outcome (`ok`, `rate_limited`, `retryable`, …).
    pub zenqms_calls: Family<CallLabels, Counter>,
    /// Okta calls by method and endpoint template and outcome (`ok`, `rate_limited`, …).
    pub okta_calls: Family<CallLabels, Counter>,
    /// How long ZenQMS calls take (every endpoint, every outcome).
    pub zenqms_call_duration: Histogram,
    /// Age of the oldest waiting sync job, refreshed at scrape time.
    pub sync_queue_oldest_age_seconds: Gauge,
    /// 1 for what bounds how fast the queue drains now (`sync::backlog`), 0 for the others.
    pub sync_backlog: Family<ReasonLabels, Gauge>,
    /// SCIM writes refused by write admission (`directory::Admission`): `503` at once.
    pub writes_refused: Counter,
    /// Sync jobs waiting, refreshed at scrape time.
    pub sync_queue_depth: Gauge,
    /// Users per sync state, refreshed at scrape time.
    pub sync_users: Family<StateLabels, Gauge>,
    /// `POST /okta/events` by outcome (`accepted`, `unauthorized`, `malformed`, `too_large`,
    /// `unavailable`).
    okta_hook_deliveries: Family<OutcomeLabels, Counter>,
    /// Okta events by what became of them (`applied`, `ignored`, `failed`, `retried`,
    /// `duplicate`).
    okta_hook_events: Family<OutcomeLabels, Counter>,
    /// When the sync gauges were last read from the database (see [`Metrics::claim_refresh`]).
    gauges_read: std::sync::Arc<std::sync::Mutex<Option<Instant>>>,
    /// The latest initial sync: users by outcome, done, total, and whether it runs.
    initial_sync_items: Family<OutcomeLabels, Gauge>,
    initial_sync_done: Gauge,
    initial_sync_total: Gauge,
    initial_sync_running: Gauge,
}

/// How old the sync gauges may be when a scrape renders them: a scrape reads the database at
/// most this often, however often (and by however many) `/metrics` is scraped.
pub const GAUGE_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(15);

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("zenqms_bridge");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let pool = Family::<PoolLabels, Gauge>::default();
        let zenqms_calls = Family::<CallLabels, Counter>::default();
        let okta_calls = Family::<CallLabels, Counter>::default();
        let sync_queue_depth = Gauge::default();
        let writes_refused = Counter::default();
        // 5 ms … 41 s: a ZenQMS that answers in 10 s must show in its own bucket.
        let zenqms_call_duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        let sync_queue_oldest_age_seconds = Gauge::default();
        let sync_backlog = Family::<ReasonLabels, Gauge>::default();
        let sync_users = Family::<StateLabels, Gauge>::default();
        let initial_sync_items = Family::<OutcomeLabels, Gauge>::default();
        let okta_hook_deliveries = Family::<OutcomeLabels, Counter>::default();
        let okta_hook_events = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "okta_hook_deliveries",
            "Okta event-hook deliveries (POST /okta/events) by outcome (accepted, unauthorized, malformed, too_large, unavailable)",
            okta_hook_deliveries.clone(),
        );
        registry.register(
            "okta_hook_events",
            "Okta events received by what became of them (applied, ignored, failed, retried, duplicate)",
            okta_hook_events.clone(),
        );
        let (initial_sync_done, initial_sync_total, initial_sync_running) =
            (Gauge::default(), Gauge::default(), Gauge::default());
        registry.register(
            "initial_sync_items",
            "Users of the latest initial sync run by outcome (link, create, update, unchanged, skip, conflict)",
            initial_sync_items.clone(),
        );
        registry.register(
            "initial_sync_done",
            "Users of the latest initial sync run already applied",
            initial_sync_done.clone(),
        );
        registry.register(
            "initial_sync_total",
            "Users in the scope of the latest initial sync run",
            initial_sync_total.clone(),
        );
        registry.register(
            "initial_sync_running",
            "1 while an initial sync run is unfinished",
            initial_sync_running.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route template, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route template",
            latency.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Database pool connections by state (in_use, idle)",
            pool.clone(),
        );
        registry.register(
            "zenqms_calls",
            "Calls made to the ZenQMS API by endpoint and outcome",
            zenqms_calls.clone(),
        );
        registry.register(
            "okta_calls",
            "Calls made to the Okta org by endpoint and outcome",
            okta_calls.clone(),
        );
        registry.register(
            "zenqms_call_duration_seconds",
            "How long ZenQMS calls take",
            zenqms_call_duration.clone(),
        );
        registry.register(
            "sync_queue_oldest_age_seconds",
            "Age of the oldest waiting sync job",
            sync_queue_oldest_age_seconds.clone(),
        );
        registry.register(
            "sync_backlog",
            "1 for what bounds how fast the sync queue drains now (empty, paused, not_configured, unauthorized, zenqms_unreachable, rate_limited, zenqms_slow, budget)",
            sync_backlog.clone(),
        );
        registry.register(
            "writes_refused",
            "SCIM writes refused with 503 because too many were running and waiting (DB_MAX_WRITES_IN_FLIGHT, DB_MAX_WRITES_QUEUED)",
            writes_refused.clone(),
        );
        registry.register(
            "sync_queue_depth",
            "Sync jobs waiting to run",
            sync_queue_depth.clone(),
        );
        registry.register(
            "sync_users",
            "Directory users by ZenQMS sync state",
            sync_users.clone(),
        );
        Metrics {
            registry: std::sync::Arc::new(registry),
            requests,
            latency,
            pool,
            zenqms_calls,
            okta_calls,
            writes_refused,
            zenqms_call_duration,
            sync_queue_oldest_age_seconds,
            sync_backlog,
            sync_queue_depth,
            sync_users,
            okta_hook_deliveries,
            okta_hook_events,
            gauges_read: Default::default(),
            initial_sync_items,
            initial_sync_done,
            initial_sync_total,
            initial_sync_running,
        }
    }

    /// The gauges of the latest initial sync run (refreshed at scrape time).
    pub fn set_initial_sync(
        &self,
        running: bool,
        done: i64,
        total: i64,
        by_outcome: &std::collections::BTreeMap<&'static str, i64>,
    ) {
        self.initial_sync_running.set(i64::from(running));
        self.initial_sync_done.set(done);
        self.initial_sync_total.set(total);
        for (outcome, n) in by_outcome {
            self.initial_sync_items
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.to_string(),
                })
                .set(*n);
        }
    }

    /// Whether this scrape should read the sync gauges afresh: true when they are older than
    /// `max_age` (or were never read), and then not again for `max_age` — whichever scrape
    /// claims it, the others render the cached figures.
    pub fn claim_refresh(&self, max_age: std::time::Duration) -> bool {
        let mut last = self.gauges_read.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < max_age) {
            return false;
        }
        *last = Some(now);
        true
    }

    pub fn record_zenqms_call(&self, endpoint: &str, outcome: &str) {
        self.zenqms_calls
            .get_or_create(&CallLabels {
                endpoint: endpoint.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// One `POST /okta/events` answered with `outcome`.
    pub fn record_hook_delivery(&self, outcome: &str) {
        self.okta_hook_deliveries
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// `n` Okta events that came to `outcome`.
    pub fn record_hook_events(&self, outcome: &str, n: u64) {
        if n > 0 {
            self.okta_hook_events
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.to_string(),
                })
                .inc_by(n);
        }
    }

    pub fn record_okta_call(&self, endpoint: &str, outcome: &str) {
        self.okta_calls
            .get_or_create(&CallLabels {
                endpoint: endpoint.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_string(),
                route: route.to_string(),
            })
            .observe(seconds);
    }

    /// The Prometheus text exposition, after refreshing the pool gauges.
    pub fn render(&self, pool: &crate::store::Pool) -> String {
        let state = pool.state();
        let idle = i64::from(state.idle_connections);
        let total = i64::from(state.connections);
        self.pool
            .get_or_create(&PoolLabels { state: "idle" })
            .set(idle);
        self.pool
            .get_or_create(&PoolLabels { state: "in_use" })
            .set(total - idle);
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// The method as a metric label: the methods of RFC 9110 this service answers, every other
/// one as `other` — a label taken as sent let anyone grow `/metrics` without bound.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// The id of the current request, for handlers that want to mention it.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

fn incoming_request_id(req: &ServiceRequest) -> Option<String> {
    let v = req.headers().get(REQUEST_ID)?.to_str().ok()?;
    let ok = (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then(|| v.to_string())
}

/// Middleware: request id (kept from `X-Request-Id` when sane, else new), a tracing span
/// per request, one log line per request, and the HTTP metrics.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = incoming_request_id(&req).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let metrics = req.app_data::<actix_web::web::Data<Metrics>>().cloned();
    let method = method_label(req.method());
    let span =
        tracing::info_span!("request", request_id = %id, method = %method, path = %req.path());
    let result = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    match result {
        Ok(mut res) => {
            let route = res
                .request()
                .match_pattern()
                .unwrap_or_else(|| "(unmatched)".to_string());
            let status = res.status().as_u16();
            if let Some(m) = &metrics {
                m.observe(method, &route, status, elapsed.as_secs_f64());
            }
            if let Ok(v) = HeaderValue::from_str(&id) {
                res.headers_mut()
                    .insert(HeaderName::from_static(REQUEST_ID), v);
            }
            span.in_scope(|| {
                tracing::info!(status, route = %route, latency_ms = elapsed.as_secs_f64() * 1000.0, "handled")
            });
            Ok(res)
        }
        Err(e) => {
            let status = e.as_response_error().status_code().as_u16();
            if let Some(m) = &metrics {
                m.observe(method, "(error)", status, elapsed.as_secs_f64());
            }
            span.in_scope(|| tracing::warn!(status, error = %e, "request failed in middleware"));
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_list_share_one_label() {
        use actix_web::http::Method;
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let odd = Method::from_bytes("Q".repeat(20_000).as_bytes()).unwrap();
        assert_eq!(method_label(&odd), "other");
    }

    #[test]
    fn the_sync_gauges_are_read_at_most_once_per_max_age() {
        let m = Metrics::new();
        let hour = std::time::Duration::from_secs(3600);
        assert!(m.claim_refresh(hour), "never read: read now");
        assert!(!m.claim_refresh(hour), "just read: served from the cache");
        assert!(!m.clone().claim_refresh(hour), "clones share the cache");
        assert!(m.claim_refresh(std::time::Duration::ZERO));
    }
}
