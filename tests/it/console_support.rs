//! Helpers for the console tests over HTTP: a browser-like client that keeps the console's
//! cookies by hand (so a test can also replay an old one), signs in with a token, and reads
//! the CSRF token out of a page the way a form would carry it.

#![allow(dead_code)]

use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{send, TestApp};

/// A page as a browser received it.
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// `Set-Cookie` lines whose cookie is `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }

    /// The value of the first hidden input `name` on the page.
    pub fn input(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')? + start;
        Some(self.body[start..end].to_string())
    }
}

/// The cookie jar of one browser, by hand.
pub struct Browser {
    pub base: String,
    client: reqwest::Client,
    pub cookies: Vec<(String, String)>,
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser {
            base: app.base.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, headers: &HeaderMap) {
        for line in headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            let pair = line.split(';').next().unwrap_or("");
            let Some((k, v)) = pair.split_once('=') else {
                continue;
            };
            self.cookies.retain(|(name, _)| name != k);
            let removed = line.contains("Max-Age=0") || v.is_empty();
            if !removed {
                self.cookies.push((k.to_string(), v.to_string()));
            }
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let req = if self.cookies.is_empty() {
            req
        } else {
            req.header(COOKIE, self.cookie_header())
        };
        let res = req.send().await.expect("console answered");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.text().await.unwrap_or_default();
        self.keep(&headers);
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self
            .client
            .request(Method::POST, format!("{}{path}", self.base))
            .form(form);
        self.send(req).await
    }

    /// Posts a form with this session's CSRF token (read from `page_path`).
    pub async fn submit(&mut self, page_path: &str, action: &str, form: &[(&str, &str)]) -> Page {
        let page = self.get(page_path).await;
        assert_eq!(page.status, 200, "{page_path}: {}", page.body);
        let csrf = page.input("csrf").expect("the page carries a CSRF token");
        let mut fields: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        self.post(action, &fields).await
    }

    /// Signs in with `token` through the sign-in form; returns the answer to the form.
    pub async fn sign_in(&mut self, token: &str) -> Page {
        let form = self.get("/console/signin").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let signin = form.input("signin").expect("the sign-in form's token");
        self.post(
            "/console/signin",
            &[
                ("signin", &signin),
                ("token", token),
                ("next", "/console/dashboard"),
            ],
        )
        .await
    }
}

/// A browser signed in with the app's admin token.
pub async fn admin_browser(app: &TestApp) -> Browser {
    let mut b = Browser::new(app);
    let res = b.sign_in(&app.admin_token).await;
    assert_eq!(res.status, 303, "{}", res.body);
    b
}

/// Makes a token over the REST API; returns it.
pub async fn token(app: &TestApp, name: &str, scope: &str) -> String {
    let (s, body) = send(
        app.admin(Method::POST, "/tokens")
            .json(&json!({"name": name, "scope": scope})),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    body["token"].as_str().expect("token").to_string()
}

/// Audit entries with `action`, over the REST API.
pub async fn audited(app: &TestApp, action: &str) -> Vec<Value> {
    let (s, body) = send(app.admin(Method::GET, "/audit?limit=1000")).await;
    assert_eq!(s, 200, "{body}");
    body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

/// The Okta org of the console tests: `a` and `e` (in ZenQMS too, by email) in the group QA;
/// `boss` in "Bridge Admins", `viewer` in "Bridge Readers", `stranger` in neither.
pub fn console_org() -> okta_sim::Seed {
    let person = |n: &str| {
        json!({"id": format!("00u{n}"), "profile": {
            "login": format!("{n}@example.com"), "email": format!("{n}@example.com"),
            "firstName": format!("Given{n}"), "lastName": format!("Family{n}"),
            "title": "QA Specialist"}})
    };
    let users: Vec<Value> = ["a", "e", "boss", "viewer", "stranger"]
        .into_iter()
        .map(person)
        .collect();
    let seed = json!({
        "users": users,
        "groups": [
            {"id": "00gqa", "name": "QA", "members": ["00ua", "00ue"]},
            {"id": "00gadmins", "name": "Bridge Admins", "members": ["00uboss"]},
            {"id": "00greaders", "name": "Bridge Readers", "members": ["00uviewer"]},
        ],
    });
    okta_sim::Seed::from_json(&seed.to_string()).expect("seed")
}

/// Makes `n` (of [`console_org`]) the person who signs in at okta-sim's `/authorize`.
pub fn okta_person(sim: &okta_sim::RunningSim, n: &str) {
    sim.sim.set_admin(okta_sim::AdminIdentity {
        id: format!("00u{n}"),
        login: format!("{n}@example.com"),
        email: format!("{n}@example.com"),
        name: format!("Given{n} Family{n}"),
        lacks_permission: false,
    });
}

/// Follows an answer that leaves for okta-sim (a `303` to its `/authorize`) back to the
/// bridge: returns the callback's path and query, to be opened by the browser.
pub async fn through_okta(to_okta: &Page) -> String {
    assert_eq!(to_okta.status, 303, "{}", to_okta.body);
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let res = plain
        .get(to_okta.location())
        .send()
        .await
        .expect("okta-sim answered");
    assert_eq!(res.status().as_u16(), 302, "okta-sim redirects back");
    let back = res
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_string();
    let url = url::Url::parse(&back).expect("callback URL");
    format!("{}?{}", url.path(), url.query().unwrap_or(""))
}

impl Browser {
    /// "Sign in with Okta" as whoever okta-sim signs in ([`okta_person`]); the callback's page.
    pub async fn sign_in_with_okta(&mut self) -> Page {
        let start = self.get("/console/okta/signin").await;
        let callback = through_okta(&start).await;
        self.get(&callback).await
    }
}
