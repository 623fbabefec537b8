//! Load harness for zenqms-bridge's SCIM endpoints: N concurrent keep-alive connections for a
//! fixed time, reporting throughput and latency percentiles, plus one-shot timings of the large
//! operations. See `loadgen/bench.sh` for the full benchmark of the issue on both databases.
//!
//! ```text
//! loadgen --base http://127.0.0.1:8080 --token zqb_… create
//! loadgen … get            # GET /Users/{id} over a sample of existing users
//! loadgen … filter         # GET /Users?filter=userName eq "…"
//! loadgen … patch-members  # PATCH /Groups/{id} adding 100 members per request
//! loadgen … get-group --group <id>            # GET /Groups/{id}?excludedAttributes=members
//! loadgen … seed-users --count 100000         # bulk POST /Users
//! loadgen … big-group --members 100000        # a group of that many members (1,000 per PATCH)
//! loadgen … once-patch-1000 / once-get-group-full --group <id>
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use serde_json::{json, Value};

#[derive(Parser)]
struct Args {
    /// The bridge's base URL (without /scim/v2).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    /// A `scim`-scope token.
    #[arg(long, env = "SCIM_TOKEN")]
    token: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds per throughput scenario.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// A label prefixed to userNames, so runs against one database do not collide.
    #[arg(long, default_value = "lg")]
    label: String,
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand, Clone)]
enum What {
    /// POST /Users with fresh userNames.
    Create,
    /// GET /Users/{id} on users sampled from the directory.
    Get,
    /// GET /Users?filter=userName eq "…" on users sampled from the directory.
    Filter,
    /// PATCH /Groups/{id} adding 100 members per request (each connection its own group, or
    /// all on one with --one-group).
    PatchMembers {
        #[arg(long)]
        one_group: bool,
    },
    /// GET /Groups/{id}?excludedAttributes=members.
    GetGroup {
        #[arg(long)]
        group: String,
    },
    /// Creates this many users (throughput reported like `create`).
    SeedUsers {
        #[arg(long)]
        count: usize,
    },
    /// Creates a group with this many members (users must exist), 1,000 per PATCH; prints its id.
    BigGroup {
        #[arg(long)]
        members: usize,
    },
    /// One PATCH adding 1,000 members to a new group, timed (median of 5).
    #[command(name = "once-patch-1000")]
    OncePatch1000,
    /// One GET of a group with all its members, timed (median of 3).
    OnceGetGroupFull {
        #[arg(long)]
        group: String,
    },
}

struct Client {
    http: reqwest::Client,
    base: String,
    auth: String,
}

impl Client {
    fn url(&self, path: &str) -> String {
        format!("{}/scim/v2{path}", self.base)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let mut req = self
            .http
            .request(method, self.url(path))
            .header("Authorization", &self.auth);
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/scim+json")
                .body(b.to_string());
        }
        let res = req.send().await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let bytes = res.bytes().await.map_err(|e| e.to_string())?;
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, v))
    }
}

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

fn report(name: &str, stats: &mut Stats, elapsed: Duration) {
    let n = stats.latencies_us.len();
    stats.latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        if n == 0 {
            return 0.0;
        }
        let i = ((n as f64 * p).ceil() as usize).clamp(1, n) - 1;
        stats.latencies_us[i] as f64 / 1000.0
    };
    println!(
        "{name:<28} {:>8} ok {:>5} err {:>9.0} req/s   p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms",
        n,
        stats.errors,
        n as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0),
    );
    if let Some(e) = &stats.first_error {
        println!("    first error: {e}");
    }
}

/// Runs `make(i)` requests on `connections` tasks until `deadline` (or `limit` requests).
async fn run<F, Fut>(
    connections: usize,
    duration: Duration,
    limit: Option<u64>,
    work: F,
) -> (Stats, Duration)
where
    F: Fn(u64, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let work = Arc::new(work);
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for conn in 0..connections {
        let work = work.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let i = counter.fetch_add(1, Ordering::Relaxed);
                if limit.is_some_and(|l| i >= l) {
                    break;
                }
                let t = Instant::now();
                match work(i, conn).await {
                    Ok(()) => stats.latencies_us.push(t.elapsed().as_micros() as u64),
                    Err(e) => {
                        stats.errors += 1;
                        stats.first_error.get_or_insert(e);
                    }
                }
            }
            stats
        }));
    }
    let mut all = Stats::default();
    for t in tasks {
        if let Ok(s) = t.await {
            all.latencies_us.extend(s.latencies_us);
            all.errors += s.errors;
            if all.first_error.is_none() {
                all.first_error = s.first_error;
            }
        }
    }
    (all, start.elapsed())
}

fn expect(status: u16, want: u16, body: &Value) -> Result<(), String> {
    if status == want {
        Ok(())
    } else {
        Err(format!("{status}: {body}"))
    }
}

fn user_body(name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "name": {"givenName": "Load", "familyName": "Generator"},
        "emails": [{"primary": true, "value": name, "type": "work"}],
        "title": "Tester", "externalId": format!("ext-{name}"), "active": true
    })
}

/// Ids and userNames of up to `n` users of the directory (pages of 1,000), the oldest first or,
/// with `newest`, the most recently created first.
async fn sample_users(c: &Client, n: usize) -> Vec<(String, String)> {
    sample(c, n, false).await
}

async fn sample(c: &Client, n: usize, newest: bool) -> Vec<(String, String)> {
    let order = if newest {
        "&sortBy=meta.created&sortOrder=descending"
    } else {
        ""
    };
    let mut out = Vec::new();
    let mut start = 1;
    while out.len() < n {
        let path = format!("/Users?startIndex={start}&count=1000&attributes=userName{order}");
        let Ok((200, page)) = c.call(reqwest::Method::GET, &path, None).await else {
            break;
        };
        let items = page["Resources"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            break;
        }
        for r in items {
            if let (Some(id), Some(un)) = (r["id"].as_str(), r["userName"].as_str()) {
                out.push((id.to_string(), un.to_string()));
            }
        }
        start += 1000;
    }
    out.truncate(n);
    out
}

async fn new_group(c: &Client, name: &str) -> Result<String, String> {
    let (s, g) = c
        .call(
            reqwest::Method::POST,
            "/Groups",
            Some(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name})),
        )
        .await?;
    expect(s, 201, &g)?;
    g["id"].as_str().map(str::to_string).ok_or("no id".into())
}

fn add_members(ids: &[(String, String)]) -> Value {
    let members: Vec<Value> = ids
        .iter()
        .map(|(id, un)| json!({"value": id, "display": un}))
        .collect();
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
           "Operations": [{"op": "add", "path": "members", "value": members}]})
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let auth = format!("Bearer {}", args.token);
    let client = Arc::new(Client {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(args.connections * 2)
            .timeout(Duration::from_secs(120))
            .build()
            .expect("HTTP client"),
        base: args.base.trim_end_matches('/').to_string(),
        auth,
    });
    let duration = Duration::from_secs(args.seconds);
    let label = args.label.clone();
    let conns = args.connections;
    match args.what.clone() {
        What::Create | What::SeedUsers { .. } => {
            let limit = match args.what {
                What::SeedUsers { count } => Some(count as u64),
                _ => None,
            };
            let dur = if limit.is_some() {
                Duration::from_secs(3600)
            } else {
                duration
            };
            let c = client.clone();
            let run_id = std::process::id();
            let (mut s, e) = run(conns, dur, limit, move |i, _| {
                let c = c.clone();
                let name = format!("{label}-{run_id}-{i}@bench.example.com");
                async move {
                    let (st, b) = c
                        .call(reqwest::Method::POST, "/Users", Some(&user_body(&name)))
                        .await?;
                    expect(st, 201, &b)
                }
            })
            .await;
            report("POST /Users", &mut s, e);
        }
        What::Get | What::Filter => {
            // The newest users: in a realistic handful of groups, not in the ones the
            // membership scenarios fill.
            let sample = Arc::new(sample(&client, 5000, true).await);
            if sample.is_empty() {
                eprintln!("no users to read: seed some first");
                std::process::exit(1);
            }
            let filter = matches!(args.what, What::Filter);
            let c = client.clone();
            let (mut s, e) = run(conns, duration, None, move |i, _| {
                let c = c.clone();
                let (id, un) = sample[(i as usize * 7919) % sample.len()].clone();
                async move {
                    if filter {
                        let f = format!("userName eq \"{un}\"");
                        let path = format!("/Users?filter={}", encode(&f));
                        let (st, b) = c.call(reqwest::Method::GET, &path, None).await?;
                        expect(st, 200, &b)?;
                        if b["totalResults"] != 1 {
                            return Err(format!("expected one hit: {b}"));
                        }
                        Ok(())
                    } else {
                        let (st, b) = c
                            .call(reqwest::Method::GET, &format!("/Users/{id}"), None)
                            .await?;
                        expect(st, 200, &b)
                    }
                }
            })
            .await;
            let name = if filter {
                "GET /Users?filter=userName eq"
            } else {
                "GET /Users/{id}"
            };
            report(name, &mut s, e);
        }
        What::PatchMembers { one_group } => {
            // Every request adds 100 users that are not in its group yet: each group takes the
            // sample's chunks in turn, and a connection (or, with --one-group, everybody) moves
            // to a fresh group when its current one has them all.
            let sample = Arc::new(sample_users(&client, 20000).await);
            if sample.len() < 200 {
                eprintln!("need at least 200 users");
                std::process::exit(1);
            }
            let chunks = sample.len() / 100;
            let per_conn = 4;
            let groups_n = if one_group { 64 } else { conns * per_conn };
            let mut groups = Vec::new();
            for g in 0..groups_n {
                match new_group(
                    &client,
                    &format!("{label}-{}-patch-{g}", std::process::id()),
                )
                .await
                {
                    Ok(id) => groups.push(id),
                    Err(e) => {
                        eprintln!("cannot create group: {e}");
                        std::process::exit(1);
                    }
                }
            }
            let groups = Arc::new(groups);
            let local: Arc<Vec<AtomicU64>> =
                Arc::new((0..conns).map(|_| AtomicU64::new(0)).collect());
            let c = client.clone();
            let (mut s, e) = run(conns, duration, None, move |i, conn| {
                let c = c.clone();
                let (gid, k) = if one_group {
                    let i = i as usize;
                    (groups[(i / chunks) % groups.len()].clone(), i % chunks)
                } else {
                    let j = local[conn].fetch_add(1, Ordering::Relaxed) as usize;
                    (
                        groups[conn * per_conn + (j / chunks) % per_conn].clone(),
                        j % chunks,
                    )
                };
                let body = add_members(&sample[k * 100..k * 100 + 100]);
                async move {
                    let path = format!("/Groups/{gid}?excludedAttributes=members");
                    let (st, b) = c.call(reqwest::Method::PATCH, &path, Some(&body)).await?;
                    expect(st, 200, &b)
                }
            })
            .await;
            let name = if one_group {
                "PATCH /Groups +100 (1 group)"
            } else {
                "PATCH /Groups +100 (N groups)"
            };
            report(name, &mut s, e);
        }
        What::GetGroup { group } => {
            let c = client.clone();
            let (mut s, e) = run(conns, duration, None, move |_, _| {
                let c = c.clone();
                let path = format!("/Groups/{group}?excludedAttributes=members");
                async move {
                    let (st, b) = c.call(reqwest::Method::GET, &path, None).await?;
                    expect(st, 200, &b)
                }
            })
            .await;
            report("GET /Groups/{id}?excl=members", &mut s, e);
        }
        What::BigGroup { members } => {
            let sample = sample_users(&client, members).await;
            let gid = new_group(&client, &format!("{label}-{}-big", std::process::id()))
                .await
                .expect("group");
            let t = Instant::now();
            for chunk in sample.chunks(1000) {
                let (s, b) = client
                    .call(
                        reqwest::Method::PATCH,
                        &format!("/Groups/{gid}?excludedAttributes=members"),
                        Some(&add_members(chunk)),
                    )
                    .await
                    .expect("patch");
                expect(s, 200, &b).expect("patch ok");
            }
            eprintln!(
                "group {gid}: {} members in {:.1} s",
                sample.len(),
                t.elapsed().as_secs_f64()
            );
            println!("{gid}");
        }
        What::OncePatch1000 => {
            let sample = sample_users(&client, 5000).await;
            let mut times = Vec::new();
            for round in 0..5 {
                let gid = new_group(
                    &client,
                    &format!("{label}-{}-k-{round}", std::process::id()),
                )
                .await
                .expect("group");
                let chunk =
                    &sample[(round * 1000) % sample.len().max(1)..][..1000.min(sample.len())];
                let body = add_members(chunk);
                let t = Instant::now();
                let (s, b) = client
                    .call(
                        reqwest::Method::PATCH,
                        &format!("/Groups/{gid}?excludedAttributes=members"),
                        Some(&body),
                    )
                    .await
                    .expect("patch");
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                expect(s, 200, &b).expect("patch ok");
            }
            println!(
                "{:<28} median {:.1} ms (of {:?})",
                "PATCH +1,000 members",
                median(times.clone()),
                times.iter().map(|t| format!("{t:.1}")).collect::<Vec<_>>()
            );
        }
        What::OnceGetGroupFull { group } => {
            let mut times = Vec::new();
            let mut n = 0;
            for _ in 0..3 {
                let t = Instant::now();
                let (s, b) = client
                    .call(reqwest::Method::GET, &format!("/Groups/{group}"), None)
                    .await
                    .expect("get");
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                expect(s, 200, &b).expect("get ok");
                n = b["members"].as_array().map(Vec::len).unwrap_or(0);
            }
            println!(
                "{:<28} median {:.0} ms for {n} members (of {:?})",
                "GET /Groups/{id} (all)",
                median(times.clone()),
                times.iter().map(|t| format!("{t:.0}")).collect::<Vec<_>>()
            );
        }
    }
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
