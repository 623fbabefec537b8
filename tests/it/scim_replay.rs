//! Replays of recorded IdP conversations (tests/data/okta, tests/data/entra).
//!
//! A fixture is a list of steps: a request as the IdP sends it and what the answer must
//! contain. Expected bodies match as subsets (every expected member must be there, arrays
//! element by element), `"{{*}}"` matches any present value, `"{{name}}"` a value captured by an
//! earlier step (`"capture": {"name": "/json/pointer"}`), and `"absent"` lists pointers that
//! must not exist. `"repeat": n` runs a step n times with `{{i}}` = 0..n.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::Value;

use crate::harness::{json_of, TestApp};
use crate::scim_support::*;

fn substitute(text: &str, vars: &HashMap<String, Value>) -> String {
    let mut out = text.to_string();
    for (k, v) in vars {
        let with = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out = out.replace(&format!("{{{{{k}}}}}"), &with);
    }
    out
}

/// Whether `actual` contains `expected`; on a mismatch, the JSON pointer where it differs.
fn contains(actual: &Value, expected: &Value, at: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::String(s), a) if s == "{{*}}" => {
            if a.is_null() {
                Err(format!("{at}: expected a value, found nothing"))
            } else {
                Ok(())
            }
        }
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let av = a.get(k).unwrap_or(&Value::Null);
                contains(av, ev, &format!("{at}/{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!(
                    "{at}: expected {} items, found {}",
                    e.len(),
                    a.len()
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                contains(av, ev, &format!("{at}/{i}"))?;
            }
            Ok(())
        }
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!("{at}: expected {e}, found {a}")),
    }
}

/// Runs a fixture; returns the captured values.
pub async fn replay(app: &TestApp, fixture: &str) -> HashMap<String, Value> {
    let fixture: Value = serde_json::from_str(fixture).expect("fixture is JSON");
    let mut vars: HashMap<String, Value> = HashMap::new();
    let steps = fixture["steps"].as_array().expect("steps");
    for (n, step) in steps.iter().enumerate() {
        let repeat = step["repeat"].as_u64().unwrap_or(1);
        for i in 0..repeat {
            vars.insert("i".into(), Value::String(i.to_string()));
            let name = step["name"].as_str().unwrap_or("step");
            let label = format!("step {n} ({name}) #{i}");
            let req = &step["request"];
            let method = Method::from_bytes(req["method"].as_str().expect("method").as_bytes())
                .expect("method");
            let path = substitute(req["path"].as_str().expect("path"), &vars);
            let mut builder = app.scim(method, &path);
            if let Some(headers) = req["headers"].as_object() {
                for (k, v) in headers {
                    builder = builder.header(k, substitute(v.as_str().unwrap_or(""), &vars));
                }
            }
            if !req["body"].is_null() {
                let content_type = req["contentType"]
                    .as_str()
                    .unwrap_or("application/scim+json");
                builder = builder
                    .header("Content-Type", content_type)
                    .body(substitute(&req["body"].to_string(), &vars));
            }
            let res = builder.send().await.expect("sent");
            let headers = res.headers().clone();
            let (status, body) = json_of(res).await;
            let want = &step["response"];
            let expected_status = want["status"].as_u64().expect("status") as u16;
            assert_eq!(status, expected_status, "{label}: {path}: {body}");
            if status >= 400 {
                assert_error(
                    status,
                    &body,
                    expected_status,
                    want["body"]["scimType"].as_str(),
                );
            } else if status != 204 && status != 304 {
                assert_eq!(headers["content-type"], "application/scim+json", "{label}");
            }
            if !want["body"].is_null() {
                let expected: Value =
                    serde_json::from_str(&substitute(&want["body"].to_string(), &vars))
                        .expect("expected body");
                if let Err(e) = contains(&body, &expected, "") {
                    panic!("{label}: {path}: {e}\nbody: {body}");
                }
            }
            for pointer in want["absent"].as_array().into_iter().flatten() {
                let p = pointer.as_str().unwrap_or("");
                assert!(
                    body.pointer(p).is_none(),
                    "{label}: {p} must be absent: {body}"
                );
            }
            if let Some(text) = want["bodyNotContaining"].as_str() {
                assert!(!body.to_string().contains(text), "{label}: {body}");
            }
            for (var, pointer) in step["capture"].as_object().into_iter().flatten() {
                let v = body
                    .pointer(pointer.as_str().unwrap_or(""))
                    .unwrap_or_else(|| panic!("{label}: nothing at {pointer} to capture: {body}"))
                    .clone();
                vars.insert(var.clone(), v);
            }
        }
    }
    vars
}

macro_rules! fixture_test {
    ($name:ident, $file:literal) => {
        #[tokio::test]
        async fn $name() {
            let app = TestApp::start().await;
            replay(&app, include_str!($file)).await;
            app.stop().await;
        }
    };
}

fixture_test!(okta_credential_test, "../data/okta/credential_test.json");
fixture_test!(okta_push_new_user, "../data/okta/push_new_user.json");
fixture_test!(
    okta_profile_push_by_put,
    "../data/okta/profile_push_put.json"
);
fixture_test!(
    okta_deactivate_reactivate_by_patch,
    "../data/okta/deactivate_reactivate_patch.json"
);
fixture_test!(
    okta_deactivate_reactivate_by_put,
    "../data/okta/deactivate_reactivate_put.json"
);
fixture_test!(okta_group_push, "../data/okta/group_push.json");
fixture_test!(okta_group_push_by_put, "../data/okta/group_push_put.json");
fixture_test!(entra_user_quirks, "../data/entra/user_quirks.json");
fixture_test!(entra_group_quirks, "../data/entra/group_quirks.json");

/// Okta's import pages through the users: the pages must neither overlap nor miss anyone.
#[tokio::test]
async fn okta_import_paging_is_stable_and_complete() {
    let app = TestApp::start().await;
    let vars = replay(&app, include_str!("../data/okta/import_paging.json")).await;
    let mut seen: Vec<String> = Vec::new();
    for page in ["page1", "page2", "page3"] {
        for r in vars[page].as_array().unwrap() {
            seen.push(r["id"].as_str().unwrap().to_string());
        }
    }
    let total = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!((total, seen.len()), (230, 230));
    app.stop().await;
}

/// The outbox after a group push: everyone who joined or left has a job.
#[tokio::test]
async fn okta_group_push_enqueues_every_affected_member() {
    let app = TestApp::start().await;
    let vars = replay(&app, include_str!("../data/okta/group_push.json")).await;
    for who in ["ada", "bob", "cy"] {
        let id = vars[who].as_str().unwrap();
        assert!(
            job_generation(&app, id).unwrap() >= 2,
            "{who} was created and then joined or left a group"
        );
    }
    app.stop().await;
}

#[test]
fn the_matcher_rejects_mismatches() {
    use serde_json::json;
    assert!(contains(&json!({"a": 1, "b": 2}), &json!({"a": 1}), "").is_ok());
    assert!(contains(&json!({"a": 1}), &json!({"a": 2}), "").is_err());
    assert!(contains(&json!({"a": [1]}), &json!({"a": [1, 2]}), "").is_err());
    assert!(contains(&json!({}), &json!({"a": "{{*}}"}), "").is_err());
    assert!(contains(&json!({"a": {"b": "x"}}), &json!({"a": {"b": "{{*}}"}}), "").is_ok());
}
