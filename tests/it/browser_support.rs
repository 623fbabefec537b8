//! Headless Chromium for the console's browser tests, driven over WebDriver (fantoccini →
//! Debian's `chromium-driver`; `.ci/run` installs both). Each test gets its own chromedriver
//! on a free port; a failing test saves a screenshot of the page it was on (the path is in
//! the panic message), and axe-core (vendored, `tests/vendor/axe-core`) checks pages for
//! accessibility violations of serious or critical impact.

#![allow(dead_code)]

use std::net::TcpListener;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use serde_json::{json, Value};

use crate::harness::eventually;

const AXE: &str = include_str!("../vendor/axe-core/axe.min.js");

/// Where failure screenshots go.
pub fn failure_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-failures")
}

pub struct Browser {
    pub client: Client,
    driver: Child,
    name: String,
}

impl Browser {
    /// A fresh headless Chromium at 1280×900 (`width` for a phone-width check).
    pub async fn start(name: &str) -> Browser {
        Self::start_sized(name, 1280, 900).await
    }

    pub async fn start_sized(name: &str, width: u32, height: u32) -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start chromedriver ({e}): install it with `apt-get install -y chromium chromium-driver` (.ci/run does)")
            });
        let status = format!("http://127.0.0.1:{port}/status");
        let http = reqwest::Client::new();
        eventually(Duration::from_secs(20), || async {
            http.get(&status)
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false)
        })
        .await;
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         format!("--window-size={width},{height}")]
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Browser {
            client,
            driver,
            name: name.to_string(),
        }
    }

    /// Runs the test's steps; on a panic, saves a screenshot first, then fails with its path.
    pub async fn run<F>(&self, steps: F)
    where
        F: std::future::Future<Output = ()>,
    {
        let outcome = AssertUnwindSafe(steps).catch_unwind().await;
        if let Err(panic) = outcome {
            let shot = self.screenshot().await;
            let _ = self.client.clone().close().await;
            eprintln!("browser test {} failed; screenshot: {shot}", self.name);
            std::panic::resume_unwind(panic);
        }
        let _ = self.client.clone().close().await;
    }

    async fn screenshot(&self) -> String {
        let dir = failure_dir();
        let path = dir.join(format!("{}.png", self.name));
        match self.client.screenshot().await {
            Ok(png) => {
                let _ = std::fs::create_dir_all(&dir);
                match std::fs::write(&path, png) {
                    Ok(()) => path.display().to_string(),
                    Err(e) => format!("(not saved: {e})"),
                }
            }
            Err(e) => format!("(none: {e})"),
        }
    }

    /// Saves a screenshot of the current page to `path` (the README's pictures).
    pub async fn save_screenshot(&self, path: &std::path::Path) {
        let png = self.client.screenshot().await.expect("screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("screenshot written");
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigated");
    }

    pub async fn path(&self) -> String {
        let u = self.client.current_url().await.expect("url");
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    /// The first element matching `css`, waiting up to 10 s for it to appear.
    async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let el = self.element(css).await;
        el.clear().await.expect("cleared");
        el.send_keys(text).await.expect("typed");
    }

    pub async fn click(&self, css: &str) {
        self.element(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// The text of the first element matching `css`. An element found on a page the browser
    /// is just leaving goes stale before it is read: it is looked up again on the new page.
    pub async fn text(&self, css: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match self.element(css).await.text().await {
                Ok(text) => return text,
                Err(e)
                    if e.is_stale_element_reference() && std::time::Instant::now() < deadline => {}
                Err(e) => panic!("text of {css}: {e}"),
            }
        }
    }

    pub async fn body(&self) -> String {
        self.text("body").await
    }

    /// Waits until the page contains `needle` (pages that refresh themselves).
    pub async fn wait_for_text(&self, needle: &str, deadline: Duration) {
        eventually(deadline, || async {
            self.client
                .source()
                .await
                .map(|s| s.contains(needle))
                .unwrap_or(false)
        })
        .await;
    }

    /// axe-core's violations of serious or critical impact on the current page.
    pub async fn accessibility_violations(&self) -> Vec<Value> {
        self.client
            .execute(AXE, vec![])
            .await
            .expect("axe-core injected");
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations\
                   .filter(v => v.impact === 'serious' || v.impact === 'critical')\
                   .map(v => ({id: v.id, impact: v.impact, help: v.help,\
                     nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))));",
                vec![],
            )
            .await
            .expect("axe-core ran");
        result.as_array().cloned().unwrap_or_default()
    }

    /// Fails on any serious or critical accessibility violation of the current page.
    pub async fn assert_accessible(&self) {
        let v = self.accessibility_violations().await;
        assert!(
            v.is_empty(),
            "{}: accessibility violations: {}",
            self.path().await,
            serde_json::to_string_pretty(&v).unwrap_or_default()
        );
    }

    /// Signs in through the form with a token, and waits until the browser has left the
    /// sign-in page: a click that submits a form can return before the browser navigates,
    /// and a `goto` issued then cancels the sign-in (an intermittent failure under load).
    pub async fn sign_in(&self, base: &str, token: &str) {
        self.goto(&format!("{base}/console/signin")).await;
        self.fill("#token", token).await;
        self.click("form[action='/console/signin'] button[type=submit]")
            .await;
        self.wait_left_signin().await;
    }

    /// Signs out through the header's button, and waits for the sign-in page.
    pub async fn sign_out(&self) {
        self.click("form.who button[type=submit]").await;
        self.wait_path_where(|p| p.starts_with("/console/signin"))
            .await;
    }

    /// Waits until the page is no longer the sign-in page (a sign-in was accepted).
    pub async fn wait_left_signin(&self) {
        self.wait_path_where(|p| !p.starts_with("/console/signin"))
            .await;
    }

    /// Waits up to 10 s until the page's path (with its query) satisfies `wanted`.
    async fn wait_path_where(&self, wanted: impl Fn(&str) -> bool) {
        eventually(Duration::from_secs(10), || async {
            wanted(&self.path().await)
        })
        .await;
    }
}

impl Browser {
    /// Resizes the window (phone width, desktop width) without a new session.
    pub async fn resize(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("resized");
    }

    /// By how many pixels the page scrolls sideways (0 or less: it does not).
    pub async fn horizontal_overflow(&self) -> i64 {
        self.client
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                vec![],
            )
            .await
            .expect("measured")
            .as_i64()
            .unwrap_or(1)
    }

    /// Presses one key (a `fantoccini::key::Key` or a character) on the focused element.
    pub async fn press(&self, key: impl Into<char>) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let key: char = key.into();
        let actions = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
        self.client
            .perform_actions(actions)
            .await
            .expect("key pressed");
    }

    /// What the focused element is: `tag#id.class text`, for assertions on keyboard use.
    pub async fn focused(&self) -> String {
        self.client
            .execute(
                "const e = document.activeElement; return e ? (e.tagName.toLowerCase() + '#' + e.id + ' ' + (e.getAttribute('href') || '') + ' ' + (e.textContent || '').trim()) : '';",
                vec![],
            )
            .await
            .expect("focus read")
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Fetches `href` from the page (same origin, the session's cookie): status, headers
    /// `content-type` and `content-disposition`, and the body — what a download link gives.
    pub async fn fetch(&self, href: &str) -> (u16, String, String, String) {
        let v = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.text().then(t => done([r.status,\
                   r.headers.get('content-type') || '', r.headers.get('content-disposition') || '', t])))\
                 .catch(e => done([0, '', '', String(e)]));",
                vec![json!(href)],
            )
            .await
            .expect("fetched");
        let at = |i: usize| v[i].as_str().unwrap_or("").to_string();
        (v[0].as_u64().unwrap_or(0) as u16, at(1), at(2), at(3))
    }

    /// An attribute of the first element matching `css`.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .attr(name)
            .await
            .expect("attribute")
    }

    /// Whether an element matches `css` now (no waiting).
    pub async fn has(&self, css: &str) -> bool {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map(|v| !v.is_empty())
            .unwrap_or(false)
    }

    /// Waits until the page's path is `path` (after a form or a redirect chain).
    pub async fn wait_path(&self, path: &str, deadline: Duration) {
        eventually(deadline, || async { self.path().await == path }).await;
    }

    /// Accessible and readable at this width: no serious or critical axe-core violation, no
    /// sideways scroll.
    pub async fn assert_readable(&self) {
        self.assert_accessible().await;
        let over = self.horizontal_overflow().await;
        if over > 0 {
            let wide = self
                .client
                .execute(
                    "const w = document.documentElement.clientWidth; return Array.from(document.querySelectorAll('body *'))\
                       .filter(e => e.getBoundingClientRect().right > w + 1)\
                       .filter(e => { for (let p = e.parentElement; p; p = p.parentElement) { if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) return false; } return true; })\
                       .slice(0, 8).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join(', ');",
                    vec![],
                )
                .await
                .ok();
            panic!(
                "{}: the page scrolls sideways by {over}px; too wide: {}",
                self.path().await,
                wide.and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            );
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
