//! Shared by the black-box tests: a simulator on a free loopback port and a small
//! JSON client for it.
#![allow(dead_code)] // each test binary uses a different part

use std::time::Duration;

use reqwest::{header::HeaderMap, Method, StatusCode};
use serde_json::Value;
use zenqms_sim::{NewRole, RunningSim, Seed, SeedUser, SimConfig};

pub const TOKEN: &str = "test-token";
pub const READONLY_TOKEN: &str = "read-only-token";

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// `error.code` of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

pub struct Api {
    pub running: RunningSim,
    pub client: reqwest::Client,
    pub token: String,
}

pub fn client(timeout: Option<Duration>) -> reqwest::Client {
    // In a workspace-wide build reqwest carries the root crate's `rustls-no-provider`
    // and panics without a provider, even for plain http.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder().no_proxy();
    if let Some(t) = timeout {
        builder = builder.timeout(t);
    }
    builder.build().expect("http client")
}

pub fn config() -> SimConfig {
    SimConfig {
        readonly_token: Some(READONLY_TOKEN.into()),
        ..SimConfig::new(TOKEN)
    }
}

/// Roles 7 and 12, no users.
pub fn two_roles() -> Seed {
    Seed {
        roles: vec![
            NewRole::new(7, "Document Approver", "Approves documents"),
            NewRole::new(12, "Training Coordinator", "Assigns training"),
        ],
        users: vec![],
    }
}

pub fn seed_user(email: &str) -> SeedUser {
    SeedUser::new(email, "Ada", "Lovelace", "QA Specialist")
}

pub async fn start(cfg: SimConfig) -> Api {
    let running = zenqms_sim::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts");
    Api {
        running,
        client: client(None),
        token: TOKEN.into(),
    }
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.running.base_url, path)
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.send(self.request(method, path, body)).await
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::RequestBuilder {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req
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

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str, body: Value) -> Answer {
        self.call(Method::DELETE, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PUT, path, Some(body)).await
    }

    /// Creates a user with the required fields and returns its id (in its JSON form).
    pub async fn create(&self, email: &str) -> Value {
        let a = self
            .post(
                "/v2/users",
                serde_json::json!({
                    "email": email, "first_name": "Ada", "last_name": "Lovelace",
                    "title": "QA Specialist"
                }),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        a.body["id"].clone()
    }

    pub async fn stop(self) {
        self.running.stop().await;
    }
}

/// The string form of an id as a path segment.
pub fn path_id(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
