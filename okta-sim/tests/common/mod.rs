//! Shared by the black-box tests: an org on a free loopback port, an HTTP client that
//! does the OAuth dance like the bridge will, a tiny event-hook receiver, and polling
//! with a deadline.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use okta_sim::{OAuthClient, RunningSim, SimConfig};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "0oatestclient0000001";
pub const CLIENT_SECRET: &str = "test-client-secret";
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/oauth/okta/callback";
pub const ALL_SCOPES: &str =
    "openid email offline_access okta.users.read okta.groups.read okta.eventHooks.manage";

/// The failure bound of every wait.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub fn client() -> reqwest::Client {
    // In a workspace-wide build reqwest carries `rustls-no-provider` and panics without
    // a provider, even for plain http.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

pub fn test_client() -> OAuthClient {
    OAuthClient::new(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI)
}

pub fn config() -> SimConfig {
    SimConfig {
        id_seed: Some(7),
        ..SimConfig::with_client(test_client())
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn error_code(&self) -> &str {
        self.body["errorCode"].as_str().unwrap_or("")
    }

    /// Asserts an Okta error answer: this status and this `errorCode`.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(
            (self.status, self.error_code()),
            (status, code),
            "{}",
            self.body
        );
    }

    /// Asserts an OAuth error answer: this status and this `error`.
    #[track_caller]
    pub fn assert_oauth_error(&self, status: StatusCode, error: &str) {
        assert_eq!(
            (self.status, self.oauth_error()),
            (status, error),
            "{}",
            self.body
        );
    }

    pub fn oauth_error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    /// The `Link` targets by relation, from one or several `Link` headers.
    pub fn links(&self) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for value in self.headers.get_all("link") {
            for part in value.to_str().unwrap_or("").split(',') {
                let Some((target, params)) = part.trim().split_once(';') else {
                    continue;
                };
                let target = target.trim().trim_start_matches('<').trim_end_matches('>');
                if let Some(rel) = params.trim().strip_prefix("rel=") {
                    out.insert(rel.trim_matches('"').to_owned(), target.to_owned());
                }
            }
        }
        out
    }
}

pub struct Org {
    pub running: RunningSim,
    pub http: reqwest::Client,
}

pub async fn start(cfg: SimConfig) -> Org {
    let running = okta_sim::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts");
    Org {
        running,
        http: client(),
    }
}

/// Tokens from one authorization.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub access: String,
    pub refresh: Option<String>,
    pub id_token: Option<String>,
    pub scope: String,
    pub nonce: String,
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

impl Org {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.running.base_url, path)
    }

    pub fn sim(&self) -> &okta_sim::Simulator {
        &self.running.sim
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let res = req.send().await.expect("request answered");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    /// A call with a bearer token; `path` may be a full URL (a `next` link).
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Answer {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            self.url(path)
        };
        let mut req = self.http.request(method, url).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.api(Method::GET, path, token, None).await
    }

    /// `GET path` with one query parameter (`filter`, `search`), encoded.
    pub async fn get_with(&self, path: &str, token: &str, param: (&str, &str)) -> Answer {
        self.send(
            self.http
                .get(self.url(path))
                .bearer_auth(token)
                .query(&[param]),
        )
        .await
    }

    /// `/_sim` calls (no token).
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut req = self.http.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    /// `GET /authorize`; the `Location` it redirects to.
    pub async fn authorize(&self, params: &[(&str, &str)]) -> Answer {
        self.send(
            self.http
                .get(self.url("/oauth2/v1/authorize"))
                .query(params),
        )
        .await
    }

    /// `/authorize` with the standard parameters; the query of the redirect.
    pub async fn authorize_code(
        &self,
        scope: &str,
        challenge: &str,
        nonce: &str,
    ) -> HashMap<String, String> {
        let a = self
            .authorize(&[
                ("client_id", CLIENT_ID),
                ("response_type", "code"),
                ("response_mode", "query"),
                ("scope", scope),
                ("redirect_uri", REDIRECT_URI),
                ("state", "st-123"),
                ("nonce", nonce),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ])
            .await;
        assert_eq!(a.status, StatusCode::FOUND, "{}", a.body);
        redirect_query(a.header("location").expect("Location"))
    }

    pub async fn token(&self, form: &[(&str, &str)]) -> Answer {
        self.send(
            self.http
                .post(self.url("/oauth2/v1/token"))
                .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
                .form(form),
        )
        .await
    }

    /// The whole dance: authorize, then exchange the code with PKCE.
    pub async fn login(&self, scope: &str) -> Tokens {
        let (verifier, challenge) = pkce();
        let nonce = uuid::Uuid::new_v4().to_string();
        let q = self.authorize_code(scope, &challenge, &nonce).await;
        let code = q.get("code").expect("code in the redirect").clone();
        let t = self
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &verifier),
            ])
            .await;
        assert_eq!(t.status, StatusCode::OK, "{}", t.body);
        Tokens {
            access: t.body["access_token"].as_str().unwrap().to_owned(),
            refresh: t.body["refresh_token"].as_str().map(str::to_owned),
            id_token: t.body["id_token"].as_str().map(str::to_owned),
            scope: t.body["scope"].as_str().unwrap().to_owned(),
            nonce,
        }
    }

    pub async fn access_token(&self) -> String {
        self.login(ALL_SCOPES).await.access
    }

    pub async fn stop(self) {
        self.running.stop().await;
    }
}

pub fn redirect_query(location: &str) -> HashMap<String, String> {
    let url = url::Url::parse(location).expect("absolute Location");
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Polls `f` until it gives `Some`, or panics after [`DEADLINE`] naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- a tiny event-hook receiver ----

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

#[derive(Default)]
struct ReceiverState {
    got: Vec<Received>,
    /// Statuses for the next POSTs (200 when empty).
    answers: VecDeque<u16>,
    /// Answer verification with a wrong value.
    bad_verification: bool,
    /// Wait this long before answering a POST.
    slow_ms: u64,
}

pub struct Receiver {
    pub url: String,
    pub secret: String,
    state: Arc<Mutex<ReceiverState>>,
    handle: actix_web::dev::ServerHandle,
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<Mutex<ReceiverState>>>,
    secret: web::Data<String>,
) -> HttpResponse {
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let parsed = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let authorized = headers.get("authorization") == Some(secret.get_ref());
    let is_get = req.method() == actix_web::http::Method::GET;
    // Decide under the lock, answer after it (a slow answer must not block the others).
    let (status, slow, verification) = {
        let mut s = state.lock().unwrap();
        s.got.push(Received {
            method: req.method().as_str().to_owned(),
            headers: headers.clone(),
            body: parsed,
        });
        if !authorized {
            (401, 0, None)
        } else if is_get {
            let challenge = headers
                .get("x-okta-verification-challenge")
                .cloned()
                .unwrap_or_default();
            let value = if s.bad_verification {
                "wrong".to_owned()
            } else {
                challenge
            };
            (200, 0, Some(value))
        } else {
            (s.answers.pop_front().unwrap_or(200), s.slow_ms, None)
        }
    };
    if slow > 0 {
        tokio::time::sleep(Duration::from_millis(slow)).await;
    }
    let mut res = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    match verification {
        Some(value) => res.json(json!({ "verification": value })),
        None => res.finish(),
    }
}

impl Receiver {
    pub async fn start(secret: &str) -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let data = web::Data::new(state.clone());
        let secret_data = web::Data::new(secret.to_owned());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(secret_data.clone())
                .route("/okta/events", web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind("127.0.0.1:0")
        .expect("receiver binds");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url: format!("http://{addr}/okta/events"),
            secret: secret.to_owned(),
            state,
            handle,
        }
    }

    pub fn got(&self) -> Vec<Received> {
        self.state.lock().unwrap().got.clone()
    }

    /// The deliveries (POSTs) received so far.
    pub fn posts(&self) -> Vec<Received> {
        self.got()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect()
    }

    /// The next POSTs answer these statuses.
    pub fn answer_next(&self, statuses: &[u16]) {
        self.state.lock().unwrap().answers.extend(statuses);
    }

    /// POSTs are answered after `ms`.
    pub fn slow(&self, ms: u64) {
        self.state.lock().unwrap().slow_ms = ms;
    }

    pub fn bad_verification(&self, on: bool) {
        self.state.lock().unwrap().bad_verification = on;
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// The body of `POST /api/v1/eventHooks` for `uri` with `secret`.
pub fn hook_body(uri: &str, secret: &str, items: &[&str]) -> Value {
    json!({
        "name": "zenqms-bridge",
        "events": {"type": "EVENT_TYPE", "items": items},
        "channel": {"type": "HTTP", "version": "1.0.0",
                    "config": {"uri": uri,
                               "authScheme": {"type": "HEADER", "key": "Authorization", "value": secret}}}
    })
}
