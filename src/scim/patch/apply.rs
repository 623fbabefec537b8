//! Applying resolved steps, in order, to the locked document; the result is normalised again
//! and checked for removed required attributes.

use std::collections::HashSet;

use scim_v2::filter::ValFilter;
use serde_json::{Map, Value};

use crate::directory::{Document, Edit, Reason, Rejection};
use crate::scim::schema::{AttrDef, AttrType};
use crate::scim::{document, limits};

use super::matching::{element_matches, equality_seed};
use super::path::{Block, Step, Target};
use super::{DocEdit, OpKind};

fn required_error(def: &AttrDef) -> Rejection {
    Rejection::new(
        Reason::Mutability,
        format!("{} is required and cannot be removed", def.name),
    )
}

fn container<'d>(
    doc: &'d mut Document,
    block: &Block,
    create: bool,
) -> Option<&'d mut Map<String, Value>> {
    let key = match block {
        Block::Core => return Some(doc),
        Block::Ext(ext) => ext.id.clone(),
        Block::Foreign(k) => doc
            .keys()
            .find(|existing| existing.eq_ignore_ascii_case(k))
            .cloned()
            .unwrap_or_else(|| k.clone()),
    };
    if !doc.contains_key(&key) {
        if !create {
            return None;
        }
        doc.insert(key.clone(), Value::Object(Map::new()));
    }
    match doc.get_mut(&key) {
        Some(Value::Object(m)) => Some(m),
        Some(other) if create => {
            *other = Value::Object(Map::new());
            other.as_object_mut()
        }
        _ => None,
    }
}

/// Drops an emptied extension block.
fn prune(doc: &mut Document) {
    doc.retain(|k, v| {
        !(k.contains(':') && (v.is_null() || v.as_object().is_some_and(Map::is_empty)))
    });
}

fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        into.insert(k, v);
    }
}

/// RFC 7644 §3.5.2: a value added or set with `"primary": true` makes the others non-primary.
fn demote_others(list: &mut [Value], keep: &[usize]) {
    let keep: HashSet<usize> = keep.iter().copied().collect();
    for (i, item) in list.iter_mut().enumerate() {
        if !keep.contains(&i) {
            if let Some(obj) = item.as_object_mut() {
                if obj.get("primary") == Some(&Value::Bool(true)) {
                    obj.insert("primary".into(), Value::Bool(false));
                }
            }
        }
    }
}

/// The values a `remove` lists, for linear look-ups. Two values of a multi-valued attribute
/// are the same value when equal, or when their `value` sub-attributes are (Entra's remove
/// lists carry only `value`).
struct ValueSet {
    whole: HashSet<String>,
    by_value: HashSet<String>,
}

impl ValueSet {
    fn of(values: &[Value]) -> ValueSet {
        ValueSet {
            whole: values.iter().map(document::canonical).collect(),
            by_value: values
                .iter()
                .filter_map(|v| v.get("value").map(document::canonical))
                .collect(),
        }
    }

    fn holds(&self, item: &Value) -> bool {
        self.whole.contains(&document::canonical(item))
            || item
                .get("value")
                .is_some_and(|v| self.by_value.contains(&document::canonical(v)))
    }
}

fn is_primary(v: &Value) -> bool {
    v.get("primary") == Some(&Value::Bool(true))
}

fn set_list(map: &mut Map<String, Value>, name: &str, list: Vec<Value>) {
    if list.is_empty() {
        map.remove(name);
    } else {
        map.insert(name.to_string(), Value::Array(list));
    }
}

fn take_list(map: &mut Map<String, Value>, name: &str) -> Vec<Value> {
    match map.remove(name) {
        Some(Value::Array(a)) => a,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other],
    }
}

fn apply_attr(
    map: &mut Map<String, Value>,
    kind: OpKind,
    def: &AttrDef,
    sub: Option<&AttrDef>,
    value: Option<&Value>,
) -> Result<(), Rejection> {
    let name = def.name.as_str();
    match sub {
        None => match kind {
            OpKind::Remove => {
                if def.required {
                    return Err(required_error(def));
                }
                match value {
                    // Remove the listed values of a multi-valued attribute only.
                    Some(v) if def.multi_valued && !v.is_null() => {
                        let drop = document::attribute(def, v, name)?
                            .and_then(|v| v.as_array().cloned())
                            .unwrap_or_default();
                        let drop = ValueSet::of(&drop);
                        let list: Vec<Value> = take_list(map, name)
                            .into_iter()
                            .filter(|item| !drop.holds(item))
                            .collect();
                        set_list(map, name, list);
                    }
                    _ => {
                        map.remove(name);
                    }
                }
            }
            OpKind::Add | OpKind::Replace => {
                let new = match value {
                    Some(v) => document::attribute(def, v, name)?,
                    None => None,
                };
                let Some(new) = new else {
                    // An empty value: `replace` clears, `add` adds nothing.
                    if kind == OpKind::Replace {
                        if def.required {
                            return Err(required_error(def));
                        }
                        map.remove(name);
                    }
                    return Ok(());
                };
                if def.multi_valued {
                    let new_items = match new {
                        Value::Array(a) => a,
                        other => vec![other],
                    };
                    let mut list = if kind == OpKind::Add {
                        take_list(map, name)
                    } else {
                        Vec::new()
                    };
                    let new_primary = new_items.iter().any(is_primary);
                    let start = list.len();
                    let mut seen: HashSet<String> = list.iter().map(document::canonical).collect();
                    for item in new_items {
                        if seen.insert(document::canonical(&item)) {
                            list.push(item);
                        }
                    }
                    if list.len() > limits::MAX_VALUES_PER_ATTRIBUTE {
                        return Err(limits::too_many_values(name, list.len()));
                    }
                    if new_primary {
                        let keep: Vec<usize> = (start..list.len())
                            .filter(|i| is_primary(&list[*i]))
                            .collect();
                        demote_others(&mut list, &keep);
                    }
                    set_list(map, name, list);
                } else if def.kind == AttrType::Complex {
                    // RFC 7644 §3.5.2.3: sub-attributes not given are left unchanged.
                    let entry = map
                        .entry(name.to_string())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !entry.is_object() {
                        *entry = Value::Object(Map::new());
                    }
                    if let (Some(obj), Value::Object(new)) = (entry.as_object_mut(), new) {
                        merge(obj, new);
                    }
                } else {
                    map.insert(name.to_string(), new);
                }
            }
        },
        Some(sub) => {
            let new = match (kind, value) {
                (OpKind::Remove, _) | (_, None) => None,
                (_, Some(v)) => document::attribute(sub, v, &format!("{name}.{}", sub.name))?,
            };
            if def.multi_valued {
                // `emails.type`: every value of the attribute.
                let mut list = take_list(map, name);
                for item in list.iter_mut() {
                    if let Some(obj) = item.as_object_mut() {
                        match &new {
                            Some(v) => {
                                obj.insert(sub.name.clone(), v.clone());
                            }
                            None => {
                                obj.remove(&sub.name);
                            }
                        }
                    }
                }
                list.retain(|v| v.as_object().is_none_or(|o| !o.is_empty()));
                set_list(map, name, list);
            } else {
                match new {
                    Some(v) => {
                        let entry = map
                            .entry(name.to_string())
                            .or_insert_with(|| Value::Object(Map::new()));
                        if !entry.is_object() {
                            *entry = Value::Object(Map::new());
                        }
                        if let Some(obj) = entry.as_object_mut() {
                            obj.insert(sub.name.clone(), v);
                        }
                    }
                    None => {
                        if let Some(Value::Object(obj)) = map.get_mut(name) {
                            obj.remove(&sub.name);
                            if obj.is_empty() {
                                map.remove(name);
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn apply_select(
    map: &mut Map<String, Value>,
    kind: OpKind,
    def: &AttrDef,
    filter: &ValFilter,
    sub: Option<&AttrDef>,
    value: Option<&Value>,
) -> Result<(), Rejection> {
    let name = def.name.as_str();
    let mut list = take_list(map, name);
    let mut matched = Vec::new();
    for (i, item) in list.iter().enumerate() {
        if element_matches(def, item, filter)? {
            matched.push(i);
        }
    }
    let result = (|| -> Result<(), Rejection> {
        match kind {
            OpKind::Remove => {
                match sub {
                    None => {
                        let gone: HashSet<usize> = matched.iter().copied().collect();
                        let mut i = 0;
                        list.retain(|_| {
                            let keep = !gone.contains(&i);
                            i += 1;
                            keep
                        });
                    }
                    Some(sub) => {
                        for &i in &matched {
                            if let Some(obj) = list[i].as_object_mut() {
                                obj.remove(&sub.name);
                            }
                        }
                        list.retain(|v| v.as_object().is_none_or(|o| !o.is_empty()));
                    }
                }
                Ok(())
            }
            OpKind::Add | OpKind::Replace => {
                let patch: Map<String, Value> = match (sub, value) {
                    (_, None) => Map::new(),
                    (Some(sub), Some(v)) => {
                        let mut m = Map::new();
                        if let Some(v) =
                            document::attribute(sub, v, &format!("{name}.{}", sub.name))?
                        {
                            m.insert(sub.name.clone(), v);
                        }
                        m
                    }
                    (None, Some(v)) => {
                        let single = AttrDef {
                            multi_valued: false,
                            ..def.clone()
                        };
                        match document::attribute(&single, v, name)? {
                            Some(Value::Object(m)) => m,
                            _ => Map::new(),
                        }
                    }
                };
                if matched.is_empty() {
                    // RFC 7644 §3.5.2.3 makes an unmatched replace filter `noTarget`; Entra
                    // sends `add`/`replace` of `emails[type eq "work"].value` for an email that
                    // does not exist yet, so an equality filter describes the value to create.
                    let Some(mut seed) = equality_seed(def, filter) else {
                        return Err(Rejection::new(
                            Reason::NoTarget,
                            format!("no value of {name} matches the path filter"),
                        ));
                    };
                    merge(&mut seed, patch);
                    let created = Value::Object(seed);
                    let created = document::attribute(
                        &AttrDef {
                            multi_valued: false,
                            ..def.clone()
                        },
                        &created,
                        name,
                    )?;
                    if let Some(created) = created {
                        let primary = is_primary(&created);
                        list.push(created);
                        if primary {
                            let last = list.len() - 1;
                            demote_others(&mut list, &[last]);
                        }
                    }
                    return Ok(());
                }
                for &i in &matched {
                    match list[i].as_object_mut() {
                        Some(obj) => merge(obj, patch.clone()),
                        None => list[i] = Value::Object(patch.clone()),
                    }
                }
                if patch.get("primary") == Some(&Value::Bool(true)) {
                    demote_others(&mut list, &matched);
                }
                Ok(())
            }
        }
    })();
    set_list(map, name, list);
    result
}

fn apply_step(doc: &mut Document, step: &Step) -> Result<(), Rejection> {
    let create = step.kind != OpKind::Remove;
    let value = step.value.as_ref();
    match &step.target {
        Target::Ignore => Ok(()),
        Target::Attr { block, def, sub } => match container(doc, block, create) {
            Some(map) => apply_attr(map, step.kind, def, *sub, value),
            None => Ok(()),
        },
        Target::Select {
            block,
            def,
            filter,
            sub,
        } => match container(doc, block, create) {
            Some(map) => apply_select(map, step.kind, def, filter, *sub, value),
            None => Ok(()),
        },
        Target::WholeBlock(block) => {
            let key = match block {
                Block::Ext(ext) => ext.id.clone(),
                Block::Foreign(k) => k.clone(),
                Block::Core => return Err(Rejection::invalid_path("not an extension")),
            };
            match step.kind {
                OpKind::Remove => {
                    doc.retain(|k, _| !k.eq_ignore_ascii_case(&key));
                }
                OpKind::Add | OpKind::Replace => {
                    let new = match (block, value) {
                        (_, None) => None,
                        (Block::Ext(ext), Some(v)) => document::extension_block(ext, v)?,
                        (_, Some(Value::Object(m))) => Some(m.clone()),
                        (_, Some(Value::Null)) => None,
                        (_, Some(_)) => {
                            return Err(Rejection::invalid_value(format!(
                                "{key} must be an object"
                            )))
                        }
                    };
                    if let (Some(new), Some(map)) = (new, container(doc, block, true)) {
                        merge(map, new);
                    }
                }
            }
            Ok(())
        }
        Target::Foreign { uri, name, sub } => {
            // `urn:a:b:User:attr` names attribute `attr` of block `urn:a:b:User` — or the whole
            // block `urn:a:b:User:attr`. The document decides: an existing block of the full
            // name wins, then an existing block `urn:a:b:User`; with neither, an object value
            // is a new block (`{"urn:acme:ext:User": {…}}`) and anything else a new attribute.
            let whole = format!("{uri}:{name}");
            let has = |k: &str| doc.keys().any(|existing| existing.eq_ignore_ascii_case(k));
            let as_block =
                has(&whole) || (!has(uri) && sub.is_none() && value.is_some_and(Value::is_object));
            let (block_key, attr, sub) = match (as_block, sub) {
                (true, None) => {
                    return apply_step(
                        doc,
                        &Step {
                            kind: step.kind,
                            target: Target::WholeBlock(Block::Foreign(whole)),
                            value: step.value.clone(),
                        },
                    );
                }
                // `urn:a:b:User:attr.sub` on a block named `urn:a:b:User:attr`: `sub` is its
                // attribute.
                (true, Some(s)) => (whole, s.clone(), None),
                (false, sub) => (uri.clone(), name.clone(), sub.clone()),
            };
            let Some(map) = container(doc, &Block::Foreign(block_key), create) else {
                return Ok(());
            };
            let key = map
                .keys()
                .find(|k| k.eq_ignore_ascii_case(&attr))
                .cloned()
                .unwrap_or(attr);
            match (step.kind, sub) {
                (OpKind::Remove, None) => {
                    map.remove(&key);
                }
                (OpKind::Remove, Some(s)) => {
                    if let Some(Value::Object(o)) = map.get_mut(&key) {
                        o.retain(|k, _| !k.eq_ignore_ascii_case(&s));
                    }
                }
                (_, None) => {
                    let v = value.cloned().unwrap_or(Value::Null);
                    match (map.get_mut(&key), v) {
                        (Some(Value::Array(existing)), Value::Array(more))
                            if step.kind == OpKind::Add =>
                        {
                            existing.extend(more)
                        }
                        (Some(Value::Object(existing)), Value::Object(more)) => {
                            merge(existing, more)
                        }
                        (_, Value::Null) => {
                            map.remove(&key);
                        }
                        (_, v) => {
                            map.insert(key, v);
                        }
                    }
                }
                (_, Some(s)) => {
                    let entry = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
                    if !entry.is_object() {
                        *entry = Value::Object(Map::new());
                    }
                    if let Some(o) = entry.as_object_mut() {
                        o.insert(s, value.cloned().unwrap_or(Value::Null));
                    }
                }
            }
            Ok(())
        }
    }
}

impl Edit for DocEdit {
    fn apply(&self, mut doc: Document) -> Result<Document, Rejection> {
        for step in &self.steps {
            apply_step(&mut doc, step)?;
        }
        prune(&mut doc);
        // Re-normalise (canonical names, coerced types, empties dropped) and check that no
        // required attribute was removed (RFC 7644 §3.5.2.2: `mutability`).
        let doc = document::normalize(self.schema, &doc)?;
        for def in self.schema.core.attributes.iter().filter(|d| d.required) {
            if !doc.contains_key(&def.name) {
                return Err(required_error(def));
            }
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use crate::scim::patch::testkit::{body, patch_user};
    use serde_json::json;

    use crate::directory::Reason;

    #[test]
    fn okta_deactivate_without_path_and_entra_string_booleans() {
        let out = patch_user(
            json!({"userName": "a", "active": true}),
            body(json!([{"op": "replace", "value": {"active": false}}])),
        )
        .unwrap();
        assert_eq!(out["active"], false);
        let out = patch_user(
            json!({"userName": "a", "active": false}),
            body(json!([{"op": "Replace", "path": "active", "value": "True"}])),
        )
        .unwrap();
        assert_eq!(out["active"], true);
    }

    #[test]
    fn refusals_carry_the_rfc_scim_type() {
        let e = patch_user(
            json!({"userName": "a"}),
            body(json!([{"op": "remove", "path": "userName"}])),
        )
        .unwrap_err();
        assert_eq!(e.reason, Reason::Mutability);
    }

    #[test]
    fn password_is_dropped_and_unknown_blocks_round_trip() {
        let out = patch_user(
            json!({"userName": "a", "urn:okta:custom:User": {"costCenter": "1"}}),
            body(json!([
                {"op": "replace", "path": "password", "value": "s3cret"},
                {"op": "replace", "path": "urn:okta:custom:User:costCenter", "value": "2"},
                {"op": "add", "value": {"urn:acme:ext:User": {"badge": 7}}}
            ])),
        )
        .unwrap();
        assert!(!out.to_string().contains("s3cret"));
        assert_eq!(out["urn:okta:custom:User"]["costCenter"], "2");
        assert_eq!(out["urn:acme:ext:User"]["badge"], 7);
        // A URN-qualified key names an attribute of an existing block, or a new block.
        let out = patch_user(
            out,
            body(json!([{"op": "add", "value": {
                "urn:okta:custom:User:site": "Basel",
                "urn:okta:custom:User:address": {"city": "Basel"},
                "urn:acme:other:User": {"x": true}
            }}])),
        )
        .unwrap();
        assert_eq!(out["urn:okta:custom:User"]["site"], "Basel");
        assert_eq!(
            out["urn:okta:custom:User"]["address"],
            json!({"city": "Basel"})
        );
        assert_eq!(out["urn:acme:other:User"], json!({"x": true}));
    }
}
