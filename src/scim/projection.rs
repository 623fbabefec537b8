//! `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9) on every read and write answer.
//!
//! `id` and `schemas` are always returned (RFC 7643 §3.1: `returned: always`). Names match
//! without regard to case and may be URN-qualified (`urn:…:enterprise:2.0:User:department`) or
//! name a whole extension block. Names that match nothing are ignored. The projection also tells
//! the directory what not to load: `excludedAttributes=members` never reads `group_members`.

use scim_v2::filter::PatchPath;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Sel {
    uri: Option<String>,
    name: String,
    sub: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub enum Projection {
    #[default]
    Default,
    Include(Vec<Sel>),
    Exclude(Vec<Sel>),
}

fn parse_list(raw: &str, core_urn: &str) -> Vec<Sel> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter_map(|item| match item.parse::<PatchPath>() {
            Ok(PatchPath::Attr(p)) => Some(Sel {
                uri: p.uri.filter(|u| !u.eq_ignore_ascii_case(core_urn)),
                name: p.name,
                sub: p.sub_attr,
            }),
            _ => None,
        })
        .collect()
}

/// Where a selection points in one rendered resource.
enum Spot {
    /// A top-level key (a core attribute, or a whole extension block).
    Top(String),
    /// An attribute inside an extension block.
    InBlock(String, String),
    Nowhere,
}

fn find_key(map: &Map<String, Value>, name: &str) -> Option<String> {
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

impl Sel {
    fn spot(&self, res: &Map<String, Value>) -> Spot {
        match &self.uri {
            None => find_key(res, &self.name).map_or(Spot::Nowhere, Spot::Top),
            Some(uri) => {
                if let Some(block) = find_key(res, &format!("{uri}:{}", self.name)) {
                    return Spot::Top(block);
                }
                let Some(block) = find_key(res, uri) else {
                    return Spot::Nowhere;
                };
                match res.get(&block).and_then(Value::as_object) {
                    Some(obj) => {
                        find_key(obj, &self.name).map_or(Spot::Nowhere, |k| Spot::InBlock(block, k))
                    }
                    None => Spot::Nowhere,
                }
            }
        }
    }

    /// The sub-attribute, when the selection names one of the core attribute (or of the
    /// block attribute).
    fn sub(&self) -> Option<&str> {
        self.sub.as_deref()
    }
}

/// Keeps only `sub` of an object, or of each object of a list.
fn only_sub(v: &Value, sub: &str) -> Option<Value> {
    match v {
        Value::Object(o) => {
            let k = find_key(o, sub)?;
            let mut m = Map::new();
            m.insert(k.clone(), o[&k].clone());
            Some(Value::Object(m))
        }
        Value::Array(items) => {
            let kept: Vec<Value> = items.iter().filter_map(|i| only_sub(i, sub)).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        _ => None,
    }
}

fn without_sub(v: &mut Value, sub: &str) {
    match v {
        Value::Object(o) => o.retain(|k, _| !k.eq_ignore_ascii_case(sub)),
        Value::Array(items) => {
            for i in items.iter_mut() {
                without_sub(i, sub);
            }
            items.retain(|i| i.as_object().is_none_or(|o| !o.is_empty()));
        }
        _ => {}
    }
}

/// Merges `v` into `out[key]` (selections of two sub-attributes of one attribute combine).
fn put(out: &mut Map<String, Value>, key: &str, v: Value) {
    match (out.get_mut(key), v) {
        (Some(Value::Object(a)), Value::Object(b)) => a.extend(b),
        (Some(Value::Array(a)), Value::Array(b)) if a.len() == b.len() => {
            for (x, y) in a.iter_mut().zip(b) {
                if let (Value::Object(x), Value::Object(y)) = (x, y) {
                    x.extend(y);
                }
            }
        }
        (_, v) => {
            out.insert(key.to_string(), v);
        }
    }
}

impl Projection {
    /// From the two query parameters. RFC 7644 §3.9 lets a client send one of them; if both
    /// arrive, `attributes` wins.
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>, core_urn: &str) -> Projection {
        if let Some(a) = attributes.filter(|a| !a.trim().is_empty()) {
            return Projection::Include(parse_list(a, core_urn));
        }
        if let Some(e) = excluded.filter(|e| !e.trim().is_empty()) {
            return Projection::Exclude(parse_list(e, core_urn));
        }
        Projection::Default
    }

    /// Whether a core attribute appears in the answer (decides what the directory loads).
    pub fn wants(&self, name: &str) -> bool {
        let names = |s: &Sel| s.uri.is_none() && s.name.eq_ignore_ascii_case(name);
        match self {
            Projection::Default => true,
            Projection::Include(sels) => sels.iter().any(names),
            Projection::Exclude(sels) => !sels.iter().any(|s| names(s) && s.sub.is_none()),
        }
    }

    pub fn apply(&self, res: Map<String, Value>) -> Map<String, Value> {
        let mut res = res;
        match self {
            Projection::Default => return res,
            Projection::Include(sels) => {
                let mut out = Map::new();
                for always in ["schemas", "id"] {
                    if let Some(v) = res.remove(always) {
                        out.insert(always.to_string(), v);
                    }
                }
                for sel in sels {
                    match sel.spot(&res) {
                        Spot::Nowhere => {}
                        Spot::Top(k) => {
                            let v = match sel.sub() {
                                None => Some(res[&k].clone()),
                                Some(sub) => only_sub(&res[&k], sub),
                            };
                            if let Some(v) = v {
                                put(&mut out, &k, v);
                            }
                        }
                        Spot::InBlock(block, k) => {
                            let inner = &res[&block][&k];
                            let v = match sel.sub() {
                                None => Some(inner.clone()),
                                Some(sub) => only_sub(inner, sub),
                            };
                            if let Some(v) = v {
                                let mut m = Map::new();
                                m.insert(k, v);
                                put(&mut out, &block, Value::Object(m));
                            }
                        }
                    }
                }
                res = out;
            }
            Projection::Exclude(sels) => {
                for sel in sels {
                    match sel.spot(&res) {
                        Spot::Nowhere => {}
                        Spot::Top(k) if k == "id" || k == "schemas" => {}
                        Spot::Top(k) => match sel.sub() {
                            None => {
                                res.remove(&k);
                            }
                            Some(sub) => {
                                if let Some(v) = res.get_mut(&k) {
                                    without_sub(v, sub);
                                }
                            }
                        },
                        Spot::InBlock(block, k) => {
                            if let Some(Value::Object(b)) = res.get_mut(&block) {
                                match sel.sub() {
                                    None => {
                                        b.remove(&k);
                                    }
                                    Some(sub) => {
                                        if let Some(v) = b.get_mut(&k) {
                                            without_sub(v, sub);
                                        }
                                    }
                                }
                                if b.is_empty() {
                                    res.remove(&block);
                                }
                            }
                        }
                    }
                }
            }
        }
        // `schemas` lists the extension blocks that are still there.
        let present: Vec<String> = res.keys().filter(|k| k.contains(':')).cloned().collect();
        if let Some(Value::Array(schemas)) = res.get_mut("schemas") {
            let core = schemas.first().cloned();
            schemas.retain(|s| {
                Some(s) == core.as_ref()
                    || s.as_str().is_some_and(|s| present.iter().any(|p| p == s))
            });
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn user() -> Map<String, Value> {
        json!({
            "schemas": [CORE, ENT], "id": "1", "userName": "a",
            "name": {"givenName": "A", "familyName": "B"},
            "emails": [{"value": "a@x", "type": "work"}],
            ENT: {"department": "QA", "employeeNumber": "7"},
            "meta": {"version": "W/\"1\""}
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn include() {
        let p = Projection::parse(
            Some(&format!(
                "USERNAME, name.givenName,emails.value,{ENT}:department"
            )),
            None,
            CORE,
        );
        let out = Value::Object(p.apply(user()));
        assert_eq!(
            out,
            json!({"schemas": [CORE, ENT], "id": "1", "userName": "a", "name": {"givenName": "A"},
                   "emails": [{"value": "a@x"}], ENT: {"department": "QA"}})
        );
        assert!(!p.wants("groups"));
    }

    #[test]
    fn exclude() {
        let p = Projection::parse(None, Some(&format!("{ENT},name.familyName,id,meta")), CORE);
        let out = Value::Object(p.apply(user()));
        assert_eq!(out["id"], "1");
        assert!(out.get(ENT).is_none() && out.get("meta").is_none());
        assert_eq!(out["name"], json!({"givenName": "A"}));
        assert_eq!(out["schemas"], json!([CORE]));
        let p = Projection::parse(None, Some("members"), CORE);
        assert!(!p.wants("members"));
        assert!(Projection::Default.wants("members"));
    }
}
