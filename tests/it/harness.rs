//! The black-box test harness: a fresh database per test (a temp SQLite file, or a throwaway
//! PostgreSQL database on `TEST_DATABASE_URL`), the real server on a free port, and HTTP.

#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use diesel::{Connection, RunQueryDsl};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use zenqms_bridge::auth::{tokens, Scope};
use zenqms_bridge::server::{self, RunningServer, Services};
use zenqms_bridge::Config;

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    pg: Option<(String, String)>,
    pub dir: tempfile::TempDir,
}

impl TestDb {
    pub fn new() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|v| !v.is_empty())
        {
            None => TestDb {
                url: format!("sqlite://{}", dir.path().join("bridge.db").display()),
                pg: None,
                dir,
            },
            Some(admin_url) => {
                // Fail loudly: a Postgres run that silently skipped would prove nothing.
                let mut admin = diesel::PgConnection::establish(&admin_url).unwrap_or_else(|e| {
                    panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}")
                });
                let name = format!("zqb_test_{}", uuid::Uuid::new_v4().simple());
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
                let url = with_database(&admin_url, &name);
                TestDb {
                    url,
                    pg: Some((admin_url, name)),
                    dir,
                }
            }
        }
    }

    /// A database the test made and manages itself (a private cluster's): never dropped here.
    pub fn at(url: String) -> TestDb {
        TestDb {
            url,
            pg: None,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Another handle on the same database, as a second bridge process has: it never drops
    /// the database (this one does). Its data directory is its own, so both bridges need the
    /// same `SECRET_KEY`.
    pub fn share(&self) -> TestDb {
        TestDb {
            url: self.url.clone(),
            pg: None,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// PostgreSQL only: ends every server session on this database, as a restart or a
    /// failover would. Returns how many were ended.
    pub fn terminate_connections(&self) -> usize {
        #[derive(diesel::QueryableByName)]
        struct Ended {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            ended: bool,
        }
        let Some((admin_url, name)) = &self.pg else {
            return 0;
        };
        let mut admin = diesel::PgConnection::establish(admin_url).expect("admin connection");
        let rows: Vec<Ended> = diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .load(&mut admin)
        .expect("terminate sessions");
        rows.iter().filter(|r| r.ended).count()
    }
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.pg {
            if let Ok(mut admin) = diesel::PgConnection::establish(admin_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
    }
}

/// `postgres://u@h:5432/postgres?x=y` with the database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Configuration for a test server on `db`, with extra settings.
pub fn test_config(db: &TestDb, port: u16, extra: &[(&str, &str)]) -> Config {
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("DATABASE_URL".into(), db.url.clone());
    env.insert("DATA_DIR".into(), db.dir.path().display().to_string());
    env.insert("BIND_ADDR".into(), format!("127.0.0.1:{port}"));
    env.insert("DB_POOL_SIZE".into(), "8".into());
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    Config::from_source(&env).expect("test configuration")
}

/// A running bridge with an admin token and a SCIM token.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub admin_token: String,
    pub scim_token: String,
    /// The services the server was built from (tests read the database through `pool`).
    pub state: Services,
    server: Option<RunningServer>,
    pub db: TestDb,
}

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with(&[]).await
    }

    pub async fn start_with(extra: &[(&str, &str)]) -> TestApp {
        Self::start_on(TestDb::new(), extra).await
    }

    pub async fn start_on(db: TestDb, extra: &[(&str, &str)]) -> TestApp {
        Self::start_tuned(db, extra, |_| {}).await
    }

    /// Starts a bridge whose services `tune` may adjust before they start (the sync polling).
    pub async fn start_tuned(
        db: TestDb,
        extra: &[(&str, &str)],
        tune: impl FnOnce(&mut Services),
    ) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("free port");
        Self::start_listening(db, listener, extra, tune).await
    }

    /// Starts a bridge on `port`, the port a bridge stopped just before served, as a
    /// restarted process would (Okta's event hook still points at it). The port is free once
    /// the stopped server closed its listener; a moment's wait covers the kernel's release.
    pub async fn start_at(db: TestDb, port: u16, extra: &[(&str, &str)]) -> TestApp {
        let mut listener = None;
        eventually(Duration::from_secs(10), || {
            listener = TcpListener::bind(("127.0.0.1", port)).ok();
            std::future::ready(listener.is_some())
        })
        .await;
        let listener = listener.expect("the port is free again");
        Self::start_listening(db, listener, extra, |_| {}).await
    }

    async fn start_listening(
        db: TestDb,
        listener: TcpListener,
        extra: &[(&str, &str)],
        tune: impl FnOnce(&mut Services),
    ) -> TestApp {
        zenqms_bridge::install_crypto_provider();
        let port = listener.local_addr().expect("addr").port();
        let config = test_config(&db, port, extra);
        let mut state = server::prepare(config).expect("prepare");
        tune(&mut state);
        let (admin_token, scim_token) = {
            let mut conn = state.pool.get().expect("conn");
            // A second bridge on the same database gets its own accounts.
            let mut mint = |name: &str, scope| {
                (1..)
                    .map(|n| {
                        if n == 1 {
                            name.to_string()
                        } else {
                            format!("{name}-{n}")
                        }
                    })
                    .find_map(|n| match tokens::create(&mut conn, &n, scope) {
                        Ok(t) => Some(t.token),
                        Err(tokens::TokenError::NameTaken(_)) => None,
                        Err(e) => panic!("token {n}: {e}"),
                    })
                    .expect("a free name")
            };
            (
                mint("test-admin", Scope::Admin),
                mint("test-okta", Scope::Scim),
            )
        };
        let running = server::start_on(state.clone(), listener, false).expect("start");
        let app = TestApp {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            admin_token,
            scim_token,
            state,
            server: Some(running),
            db,
        };
        app.wait_ready().await;
        app
    }

    async fn wait_ready(&self) {
        answers(
            &self.client,
            &format!("{}/healthz", self.base),
            Duration::from_secs(10),
        )
        .await;
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the base URL")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request with no credentials.
    pub fn raw(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// A SCIM request as Okta makes it (`/scim/v2` prefix added).
    pub fn scim(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(&format!("/scim/v2{path}")))
            .header("Authorization", format!("Bearer {}", self.scim_token))
    }

    /// An admin API request (`/api/v1` prefix added).
    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(&format!("/api/v1{path}")))
            .header("Authorization", format!("Bearer {}", self.admin_token))
    }

    /// `GET /metrics` with the admin token: the text.
    pub async fn metrics(&self) -> String {
        self.raw(Method::GET, "/metrics")
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
    }

    /// Stops the server and hands its database over (to start another bridge on it).
    pub async fn stop_keeping_db(mut self) -> TestDb {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
        self.db
    }
}

/// Sends a request and returns the status and the JSON body (`Null` when empty or not JSON).
pub async fn send(req: RequestBuilder) -> (u16, Value) {
    let res = req.send().await.expect("request sent");
    json_of(res).await
}

pub async fn json_of(res: Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A deadline is only a bound after which a test gives up: it never makes a fast machine
/// pass or a correct program fail — so on a loaded CI machine (the whole suite in parallel on
/// two cores) no bound is shorter than this.
pub const MIN_FAILURE_BOUND: Duration = Duration::from_secs(30);

pub fn failure_bound(deadline: Duration) -> Duration {
    deadline.max(MIN_FAILURE_BOUND)
}

/// Polls `check` until it is true or the deadline passes (then panics). Never a fixed sleep.
/// Waits (at most `within`) until `GET url` answers with a success status.
async fn answers(client: &reqwest::Client, url: &str, within: Duration) {
    eventually(within, || async {
        client
            .get(url)
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false)
    })
    .await;
}

pub async fn eventually<F, Fut>(deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = Instant::now() + failure_bound(deadline);
    loop {
        if check().await {
            return;
        }
        assert!(
            Instant::now() < end,
            "condition not met within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The bridge binary as a child process (for signal and crash tests).
pub struct BinaryApp {
    pub child: std::process::Child,
    pub base: String,
    pub stderr_path: std::path::PathBuf,
}

impl BinaryApp {
    pub fn spawn(db: &TestDb, extra: &[(&str, &str)]) -> BinaryApp {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let stderr_path = db.dir.path().join(format!("bridge-{port}.stderr"));
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_zenqms-bridge"));
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db.url)
            .env("DATA_DIR", db.dir.path())
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .current_dir(db.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(stderr);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn bridge");
        BinaryApp {
            child,
            base: format!("http://127.0.0.1:{port}"),
            stderr_path,
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub async fn wait_ready(&self, client: &reqwest::Client) {
        answers(
            client,
            &format!("{}/readyz", self.base),
            Duration::from_secs(30),
        )
        .await;
    }

    pub fn signal(&self, sig: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

impl Drop for BinaryApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates a token through the CLI, as an operator would; returns its last stdout line.
pub fn cli(db: &TestDb, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_zenqms-bridge"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("DATA_DIR", db.dir.path())
        .current_dir(db.dir.path())
        .output()
        .expect("run cli")
}

#[test]
fn database_name_is_replaced() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
        "postgres://postgres@127.0.0.1:5432/t1"
    );
    assert_eq!(with_database("postgres://h", "t1"), "postgres://h/t1");
    assert_eq!(
        with_database("postgres://h/db?sslmode=disable", "t1"),
        "postgres://h/t1?sslmode=disable"
    );
}
