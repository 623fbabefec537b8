//! PATCH (RFC 7644 §3.5.2) → ordered intents.
//!
//! The request is parsed here (op names without regard to case, paths through scim_v2's
//! grammar), resolved against the served schema, and turned into:
//! - for users, one [`DocEdit`]: attribute operations applied in order to the locked document;
//! - for groups, [`GroupOp`]s: attribute edits and membership set operations, in order.
//!
//! Forms real clients send, all handled (see `spec/okta-scim.md`): path-less `replace` of
//! `{"active": false}` and of `{"id": …, "displayName": …}` (the `id` is informational and
//! ignored); dotted and URN-qualified keys in path-less values; capitalised ops; string
//! booleans; `members[value eq "…"]` removes; Entra's `remove members` with a value array
//! (removes only those); `replace members []` (empties the group); Entra's
//! `add emails[type eq "work"].value` for an email that does not exist yet (creates it).

use serde_json::{Map, Value};

use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, PatchPath, ValFilter};

use super::document::{self, Writable};
use super::filter;
use super::schema::{self, AttrDef, AttrType, ResourceSchema, SchemaDef};
use crate::directory::membership::{GroupOp, MemberOp};
use crate::directory::{Document, Edit, Reason, Rejection};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

/// One operation as sent, with its path parsed.
#[derive(Debug, Clone)]
pub struct RawOp {
    pub kind: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

fn syntax(detail: impl Into<String>) -> Rejection {
    Rejection::new(Reason::InvalidSyntax, detail)
}

fn get_ci<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Parses a PatchOp body (RFC 7644 §3.5.2).
pub fn parse(body: &Map<String, Value>) -> Result<Vec<RawOp>, Rejection> {
    if let Some(schemas) = get_ci(body, "schemas") {
        let ok = schemas
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(schema::PATCH_OP_URN)));
        if !ok {
            return Err(syntax(format!(
                "a PATCH body must declare the schema {}",
                schema::PATCH_OP_URN
            )));
        }
    }
    let ops = get_ci(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| syntax("a PATCH body needs an \"Operations\" array"))?;
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let obj = op
            .as_object()
            .ok_or_else(|| syntax(format!("Operations[{i}] must be an object")))?;
        let kind = match get_ci(obj, "op").and_then(Value::as_str) {
            Some(s) if s.eq_ignore_ascii_case("add") => OpKind::Add,
            Some(s) if s.eq_ignore_ascii_case("remove") => OpKind::Remove,
            Some(s) if s.eq_ignore_ascii_case("replace") => OpKind::Replace,
            Some(s) => {
                return Err(syntax(format!(
                    "Operations[{i}].op \"{s}\" is not add, remove or replace"
                )))
            }
            None => return Err(syntax(format!("Operations[{i}] has no \"op\""))),
        };
        let path = match get_ci(obj, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.parse::<PatchPath>().map_err(|e| {
                Rejection::invalid_path(format!(
                    "Operations[{i}].path \"{s}\" is not a valid path: {e}"
                ))
            })?),
            Some(_) => return Err(syntax(format!("Operations[{i}].path must be a string"))),
        };
        let value = get_ci(obj, "value").cloned();
        match (kind, &path, &value) {
            // RFC 7644 §3.5.2.2: remove without a path fails with noTarget.
            (OpKind::Remove, None, _) => {
                return Err(Rejection::new(
                    Reason::NoTarget,
                    format!("Operations[{i}]: remove needs a \"path\""),
                ))
            }
            (OpKind::Add | OpKind::Replace, None, v) if !matches!(v, Some(Value::Object(_))) => {
                return Err(syntax(format!(
                    "Operations[{i}]: without a path, \"value\" must be an object of attributes"
                )))
            }
            (OpKind::Add | OpKind::Replace, Some(_), None) => {
                return Err(syntax(format!("Operations[{i}] needs a \"value\"")))
            }
            _ => {}
        }
        out.push(RawOp { kind, path, value });
    }
    Ok(out)
}

/// Where in a document an attribute lives.
#[derive(Debug, Clone)]
enum Block {
    Core,
    Ext(&'static SchemaDef),
    /// An extension this service does not know, keyed as the client spells it.
    Foreign(String),
}

#[derive(Debug, Clone)]
enum Target {
    Attr {
        block: Block,
        def: &'static AttrDef,
        sub: Option<&'static AttrDef>,
    },
    /// `attr[filter]` or `attr[filter].sub` on a multi-valued complex attribute.
    Select {
        block: Block,
        def: &'static AttrDef,
        filter: ValFilter,
        sub: Option<&'static AttrDef>,
    },
    /// A whole extension block.
    WholeBlock(Block),
    /// `uri:name[.sub]` under an unknown URN: an attribute of block `uri`, or — when the
    /// document has a block called `uri:name` — that whole block.
    Foreign {
        uri: String,
        name: String,
        sub: Option<String>,
    },
    /// Accepted and dropped (`password`; read-only keys of a path-less value).
    Ignore,
}

/// One resolved operation.
#[derive(Debug, Clone)]
struct Step {
    kind: OpKind,
    target: Target,
    value: Option<Value>,
}

fn path_str(p: &AttrPath) -> String {
    p.to_string()
}

/// Resolves `uri:name.sub` to a target. `lenient` (path-less values) ignores read-only and
/// unknown attributes instead of refusing them.
fn resolve_attr(
    schema: &'static ResourceSchema,
    p: &AttrPath,
    lenient: bool,
) -> Result<Target, Rejection> {
    let block = match &p.uri {
        None => Block::Core,
        Some(uri) if schema.is_core_urn(uri) => Block::Core,
        Some(uri) => {
            if let Some(ext) = schema.extension(uri) {
                Block::Ext(ext)
            } else {
                let whole = format!("{uri}:{}", p.name);
                if let Some(ext) = schema.extension(&whole) {
                    if p.sub_attr.is_some() {
                        return Err(Rejection::invalid_path(format!(
                            "\"{}\" is not a valid path",
                            path_str(p)
                        )));
                    }
                    return Ok(Target::WholeBlock(Block::Ext(ext)));
                }
                return Ok(Target::Foreign {
                    uri: uri.clone(),
                    name: p.name.clone(),
                    sub: p.sub_attr.clone(),
                });
            }
        }
    };
    let def = match &block {
        Block::Ext(ext) => match ext.attr(&p.name) {
            Some(d) if d.is_read_only() && lenient => return Ok(Target::Ignore),
            Some(d) if d.is_read_only() => {
                return Err(Rejection::new(
                    Reason::Mutability,
                    format!("{} is read-only", d.name),
                ))
            }
            Some(d) => d,
            None if lenient => return Ok(Target::Ignore),
            None => {
                return Err(Rejection::invalid_path(format!(
                    "\"{}\" is not an attribute of {}",
                    p.name, ext.id
                )))
            }
        },
        // Core (a foreign block returned above).
        _ => match document::writable(schema, &p.name) {
            Writable::Yes(d) => d,
            Writable::Dropped => return Ok(Target::Ignore),
            Writable::ReadOnly(_) if lenient => return Ok(Target::Ignore),
            Writable::ReadOnly(d) => {
                return Err(Rejection::new(
                    Reason::Mutability,
                    format!("{} is read-only", d.name),
                ))
            }
            Writable::Unknown if lenient => return Ok(Target::Ignore),
            Writable::Unknown => {
                return Err(Rejection::invalid_path(format!(
                    "\"{}\" is not an attribute of a {}",
                    path_str(p),
                    schema.resource_type
                )))
            }
        },
    };
    let sub = match &p.sub_attr {
        None => None,
        Some(s) => {
            let sub = def.sub(s).ok_or_else(|| {
                Rejection::invalid_path(format!("\"{}\" has no sub-attribute \"{s}\"", def.name))
            })?;
            if sub.is_read_only() {
                if lenient {
                    return Ok(Target::Ignore);
                }
                return Err(Rejection::new(
                    Reason::Mutability,
                    format!("{}.{} is read-only", def.name, sub.name),
                ));
            }
            Some(sub)
        }
    };
    Ok(Target::Attr { block, def, sub })
}

fn resolve(schema: &'static ResourceSchema, path: &PatchPath) -> Result<Target, Rejection> {
    match path {
        PatchPath::Attr(p) => resolve_attr(schema, p, false),
        PatchPath::Value(vp) => {
            let target = resolve_attr(schema, &vp.attr, false)?;
            let (block, def) = match target {
                Target::Attr {
                    block,
                    def,
                    sub: None,
                } if def.multi_valued && def.kind == AttrType::Complex => (block, def),
                _ => {
                    return Err(Rejection::invalid_path(format!(
                        "a value filter needs a multi-valued complex attribute, not \"{}\"",
                        vp.attr
                    )))
                }
            };
            check_element_filter(def, &vp.filter)?;
            let sub = match &vp.sub_attr {
                None => None,
                Some(s) => {
                    let sub = def.sub(s).ok_or_else(|| {
                        Rejection::invalid_path(format!(
                            "\"{}\" has no sub-attribute \"{s}\"",
                            def.name
                        ))
                    })?;
                    if sub.is_read_only() {
                        return Err(Rejection::new(
                            Reason::Mutability,
                            format!("{}.{} is read-only", def.name, sub.name),
                        ));
                    }
                    Some(sub)
                }
            };
            Ok(Target::Select {
                block,
                def,
                filter: vp.filter.clone(),
                sub,
            })
        }
    }
}

/// Resolves one path-less value (`{"op":"replace","value":{…}}`) into steps, one per key.
fn pathless(
    schema: &'static ResourceSchema,
    kind: OpKind,
    value: &Map<String, Value>,
) -> Result<Vec<Step>, Rejection> {
    let mut steps = Vec::new();
    for (key, v) in value {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let target = if let Some(ext) = schema.extension(key) {
            Target::WholeBlock(Block::Ext(ext))
        } else {
            match key.parse::<PatchPath>() {
                Ok(PatchPath::Attr(p)) => resolve_attr(schema, &p, true)?,
                // A URN the path grammar does not take: a whole unknown block.
                Err(_) if key.contains(':') && v.is_object() => {
                    Target::WholeBlock(Block::Foreign(key.clone()))
                }
                // Keys are attribute names, never filters; an odd key is ignored like any
                // unknown attribute of a body.
                _ => Target::Ignore,
            }
        };
        steps.push(Step {
            kind,
            target,
            value: Some(v.clone()),
        });
    }
    Ok(steps)
}

/// A sequence of attribute operations on one document (a [`crate::directory::Edit`]).
#[derive(Debug, Clone)]
pub struct DocEdit {
    schema: &'static ResourceSchema,
    steps: Vec<Step>,
}

impl DocEdit {
    fn new(schema: &'static ResourceSchema) -> DocEdit {
        DocEdit {
            schema,
            steps: Vec::new(),
        }
    }

    fn push(&mut self, schema: &'static ResourceSchema, op: &RawOp) -> Result<(), Rejection> {
        match (&op.path, &op.value) {
            (None, Some(Value::Object(v))) => self.steps.extend(pathless(schema, op.kind, v)?),
            (None, _) => return Err(syntax("a path-less operation needs an object value")),
            (Some(p), v) => self.steps.push(Step {
                kind: op.kind,
                target: resolve(schema, p)?,
                value: v.clone(),
            }),
        }
        Ok(())
    }
}

/// A user PATCH: every operation, in order, on the user's document.
pub fn user_edit(ops: &[RawOp]) -> Result<DocEdit, Rejection> {
    let schema = schema::user();
    let mut edit = DocEdit::new(schema);
    for op in ops {
        edit.push(schema, op)?;
    }
    Ok(edit)
}

fn is_members(p: &AttrPath) -> bool {
    p.name.eq_ignore_ascii_case("members")
        && p.uri
            .as_deref()
            .is_none_or(|u| schema::group().is_core_urn(u))
}

fn push_member(ops: &mut Vec<GroupOp>, op: MemberOp) {
    // Okta sends one remove per departing member: adjacent operations of one kind become one
    // statement. Order across kinds is kept ([remove X, add X] ≠ [add X, remove X]).
    if let Some(GroupOp::Members(last)) = ops.last_mut() {
        match (last, &op) {
            (MemberOp::Add(a), MemberOp::Add(b)) | (MemberOp::Remove(a), MemberOp::Remove(b)) => {
                a.extend(b.iter().cloned());
                return;
            }
            _ => {}
        }
    }
    ops.push(GroupOp::Members(op));
}

fn push_edit(
    ops: &mut Vec<GroupOp>,
    schema: &'static ResourceSchema,
    op: &RawOp,
) -> Result<(), Rejection> {
    let mut edit = DocEdit::new(schema);
    edit.push(schema, op)?;
    if edit.steps.is_empty() {
        return Ok(());
    }
    ops.push(GroupOp::Edit(Box::new(edit)));
    Ok(())
}

/// A group PATCH: attribute edits and membership operations, in request order.
pub fn group_ops(raw: &[RawOp]) -> Result<Vec<GroupOp>, Rejection> {
    let schema = schema::group();
    let mut ops: Vec<GroupOp> = Vec::new();
    for op in raw {
        match &op.path {
            Some(PatchPath::Attr(p)) if is_members(p) => {
                if let Some(sub) = &p.sub_attr {
                    return Err(Rejection::invalid_path(format!(
                        "members.{sub} cannot be modified; add or remove members instead"
                    )));
                }
                let ids = document::member_ids(op.value.as_ref())?;
                let m = match op.kind {
                    OpKind::Add => MemberOp::Add(ids),
                    OpKind::Replace => MemberOp::Replace(ids),
                    // Entra: remove with a value array removes only the listed members.
                    OpKind::Remove if op.value.as_ref().is_some_and(|v| !v.is_null()) => {
                        MemberOp::Remove(ids)
                    }
                    OpKind::Remove => MemberOp::RemoveAll,
                };
                push_member(&mut ops, m);
            }
            Some(PatchPath::Value(vp)) if is_members(&vp.attr) => {
                if vp.sub_attr.is_some() {
                    return Err(Rejection::invalid_path(
                        "a member's sub-attributes cannot be modified",
                    ));
                }
                let f = filter::members(&vp.filter)?;
                let m = match op.kind {
                    OpKind::Remove => match filter::member_ids_of(&f) {
                        Some(ids) => MemberOp::Remove(ids),
                        None => MemberOp::RemoveWhere(f),
                    },
                    OpKind::Replace => {
                        MemberOp::ReplaceWhere(f, document::member_ids(op.value.as_ref())?)
                    }
                    OpKind::Add => {
                        return Err(Rejection::invalid_path(
                            "add to members takes the path \"members\", without a filter",
                        ))
                    }
                };
                push_member(&mut ops, m);
            }
            None => {
                let Some(Value::Object(v)) = &op.value else {
                    return Err(syntax("a path-less operation needs an object value"));
                };
                let mut rest = Map::new();
                let mut members = None;
                for (k, val) in v {
                    if k.eq_ignore_ascii_case("members") {
                        members = Some(val);
                    } else {
                        rest.insert(k.clone(), val.clone());
                    }
                }
                push_edit(
                    &mut ops,
                    schema,
                    &RawOp {
                        kind: op.kind,
                        path: None,
                        value: Some(Value::Object(rest)),
                    },
                )?;
                if let Some(val) = members {
                    let ids = document::member_ids(Some(val))?;
                    let m = match op.kind {
                        OpKind::Replace => MemberOp::Replace(ids),
                        _ => MemberOp::Add(ids),
                    };
                    push_member(&mut ops, m);
                }
            }
            Some(_) => push_edit(&mut ops, schema, op)?,
        }
    }
    Ok(ops)
}

// ---------------------------------------------------------------------------------------------
// Applying steps to a document.

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
                        let list: Vec<Value> = take_list(map, name)
                            .into_iter()
                            .filter(|item| !drop.iter().any(|d| same_value(d, item)))
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
                    for item in new_items {
                        if !list.contains(&item) {
                            list.push(item);
                        }
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

/// Two values of a multi-valued attribute are the same value when equal, or when their
/// `value` sub-attributes are (Entra's remove lists carry only `value`).
fn same_value(a: &Value, b: &Value) -> bool {
    a == b || matches!((a.get("value"), b.get("value")), (Some(x), Some(y)) if x == y)
}

/// The sub-attribute values an equality-only filter (`type eq "work"`, `a eq 1 and b eq 2`)
/// pins down, to create the element it describes.
fn equality_seed(def: &AttrDef, f: &ValFilter) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    let mut add = |e: &AttrExp| -> Option<()> {
        let AttrExp::Comparison(p, CompareOp::Eq, v) = e else {
            return None;
        };
        let sub = def.sub(&p.name)?;
        let v = match v {
            CompValue::Str(s) => Value::String(s.clone()),
            CompValue::True => Value::Bool(true),
            CompValue::False => Value::Bool(false),
            CompValue::Number(n) => Value::Number(n.clone()),
            CompValue::Null => return None,
        };
        out.insert(sub.name.clone(), v);
        Some(())
    };
    match f {
        ValFilter::Attr(e) => add(e)?,
        ValFilter::And(items) => {
            for item in items.iter() {
                match item {
                    ValFilter::Attr(e) => add(e)?,
                    _ => return None,
                }
            }
        }
        _ => return None,
    }
    Some(out)
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
                        let mut i = 0;
                        list.retain(|_| {
                            let keep = !matched.contains(&i);
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

// ---------------------------------------------------------------------------------------------
// Value filters on one attribute's values (RFC 7644 §3.5.2 valuePath), evaluated on the values
// of the one locked resource — never over a table.

fn check_element_filter(def: &AttrDef, f: &ValFilter) -> Result<(), Rejection> {
    match f {
        ValFilter::Attr(AttrExp::Present(p)) | ValFilter::Attr(AttrExp::Comparison(p, _, _)) => {
            if p.sub_attr.is_some() || def.sub(&p.name).is_none() {
                return Err(Rejection::invalid_filter(format!(
                    "\"{p}\" is not a sub-attribute of {}",
                    def.name
                )));
            }
            Ok(())
        }
        ValFilter::Not(inner) => check_element_filter(def, inner),
        ValFilter::And(items) | ValFilter::Or(items) => {
            items.iter().try_for_each(|i| check_element_filter(def, i))
        }
    }
}

fn element_matches(def: &AttrDef, item: &Value, f: &ValFilter) -> Result<bool, Rejection> {
    Ok(match f {
        ValFilter::Not(inner) => !element_matches(def, item, inner)?,
        ValFilter::And(items) => {
            for i in items.iter() {
                if !element_matches(def, item, i)? {
                    return Ok(false);
                }
            }
            true
        }
        ValFilter::Or(items) => {
            for i in items.iter() {
                if element_matches(def, item, i)? {
                    return Ok(true);
                }
            }
            false
        }
        ValFilter::Attr(AttrExp::Present(p)) => {
            let sub = def.sub(&p.name);
            sub.and_then(|s| item.get(&s.name))
                .is_some_and(|v| !v.is_null())
        }
        ValFilter::Attr(AttrExp::Comparison(p, op, expected)) => {
            let Some(sub) = def.sub(&p.name) else {
                return Ok(false);
            };
            let Some(actual) = item.get(&sub.name) else {
                return Ok(false);
            };
            compare(sub, actual, op, expected)
        }
    })
}

fn compare(sub: &AttrDef, actual: &Value, op: &CompareOp, expected: &CompValue) -> bool {
    match (actual, expected) {
        (Value::String(a), CompValue::Str(b)) => {
            let (a, b) = if sub.case_exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                CompareOp::Gt => a > b,
                CompareOp::Ge => a >= b,
                CompareOp::Lt => a < b,
                CompareOp::Le => a <= b,
            }
        }
        (Value::Bool(a), CompValue::True | CompValue::False) => {
            let b = matches!(expected, CompValue::True);
            match op {
                CompareOp::Eq => *a == b,
                CompareOp::Ne => *a != b,
                _ => false,
            }
        }
        // Entra writes booleans as strings, in filters too.
        (Value::Bool(a), CompValue::Str(s))
            if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") =>
        {
            let b = s.eq_ignore_ascii_case("true");
            match op {
                CompareOp::Eq => *a == b,
                CompareOp::Ne => *a != b,
                _ => false,
            }
        }
        (Value::Number(a), CompValue::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                CompareOp::Gt => a > b,
                CompareOp::Ge => a >= b,
                CompareOp::Lt => a < b,
                CompareOp::Le => a <= b,
                _ => false,
            },
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ops(v: Value) -> Vec<RawOp> {
        parse(v.as_object().unwrap()).unwrap()
    }

    fn patch_user(doc: Value, body: Value) -> Result<Value, Rejection> {
        let edit = user_edit(&ops(body))?;
        let doc = document::normalize(schema::user(), doc.as_object().unwrap())?;
        edit.apply(doc).map(Value::Object)
    }

    fn body(operations: Value) -> Value {
        json!({"schemas": [schema::PATCH_OP_URN], "Operations": operations})
    }

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
    fn dotted_and_urn_keys_in_pathless_values() {
        let out = patch_user(
            json!({"userName": "a", "name": {"givenName": "A", "familyName": "B"}}),
            body(json!([{"op": "Add", "value": {
                "name.givenName": "Ada",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "QA",
                "id": "ignored", "meta": {"x": 1}
            }}])),
        )
        .unwrap();
        assert_eq!(out["name"], json!({"givenName": "Ada", "familyName": "B"}));
        assert_eq!(out[schema::ENTERPRISE_URN]["department"], "QA");
        assert!(out.get("id").is_none());
    }

    #[test]
    fn value_filters_replace_create_and_remove() {
        let doc = json!({"userName": "a", "emails": [
            {"value": "a@work", "type": "work", "primary": true},
            {"value": "a@home", "type": "home"}]});
        let out = patch_user(
            doc.clone(),
            body(json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@work"}])),
        )
        .unwrap();
        assert_eq!(out["emails"][0]["value"], "new@work");
        assert_eq!(out["emails"][0]["type"], "work");
        // Entra: add of an email that does not exist yet.
        let out = patch_user(
            json!({"userName": "a"}),
            body(json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "x@w"}])),
        )
        .unwrap();
        assert_eq!(out["emails"], json!([{"type": "work", "value": "x@w"}]));
        let out = patch_user(
            doc.clone(),
            body(json!([{"op": "remove", "path": "emails[type eq \"HOME\"]"}])),
        )
        .unwrap();
        assert_eq!(out["emails"].as_array().unwrap().len(), 1);
        // A new primary demotes the old one.
        let out = patch_user(
            doc,
            body(json!([{"op": "add", "path": "emails", "value": [{"value": "p@x", "primary": true}]}])),
        )
        .unwrap();
        let primaries: Vec<_> = out["emails"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["primary"] == true)
            .collect();
        assert_eq!(primaries.len(), 1);
        assert_eq!(primaries[0]["value"], "p@x");
    }

    #[test]
    fn refusals_carry_the_rfc_scim_type() {
        let e = patch_user(
            json!({"userName": "a"}),
            body(json!([{"op": "remove", "path": "userName"}])),
        )
        .unwrap_err();
        assert_eq!(e.reason, Reason::Mutability);
        let e = patch_user(
            json!({"userName": "a"}),
            body(json!([{"op": "replace", "path": "id", "value": "x"}])),
        )
        .unwrap_err();
        assert_eq!(e.reason, Reason::Mutability);
        let e = patch_user(
            json!({"userName": "a"}),
            body(json!([{"op": "replace", "path": "bogus", "value": "x"}])),
        )
        .unwrap_err();
        assert_eq!(e.reason, Reason::InvalidPath);
        let e = parse(body(json!([{"op": "remove"}])).as_object().unwrap()).unwrap_err();
        assert_eq!(e.reason, Reason::NoTarget);
        let e = parse(
            body(json!([{"op": "move", "path": "x"}]))
                .as_object()
                .unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.reason, Reason::InvalidSyntax);
        let e = parse(
            body(json!([{"op": "add", "path": "emails[type eq]"}]))
                .as_object()
                .unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.reason, Reason::InvalidPath);
        let e = patch_user(
            json!({"userName": "a", "emails": [{"value": "x", "type": "work"}]}),
            body(json!([{"op": "replace", "path": "emails[type co \"o\"].value", "value": "y"}, {"op": "replace", "path": "emails[type ew \"zz\"].value", "value": "y"}])),
        )
        .unwrap_err();
        assert_eq!(e.reason, Reason::NoTarget);
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

    #[test]
    fn group_forms() {
        let raw = ops(body(json!([
            {"op": "replace", "value": {"id": "g", "displayName": "QA"}},
            {"op": "remove", "path": "members[value eq \"u1\"]"},
            {"op": "remove", "path": "members[value eq \"u2\"]"},
            {"op": "add", "path": "members", "value": [{"value": "u3", "display": "c"}]},
            {"op": "Remove", "path": "members", "value": [{"value": "u4"}]},
            {"op": "replace", "path": "members", "value": []},
            {"op": "remove", "path": "members"}
        ])));
        let g = group_ops(&raw).unwrap();
        let shape: Vec<String> = g.iter().map(|o| format!("{o:?}")).collect();
        assert_eq!(
            shape,
            vec![
                "Edit(..)".to_string(),
                "Members(Remove([\"u1\", \"u2\"]))".into(),
                "Members(Add([\"u3\"]))".into(),
                "Members(Remove([\"u4\"]))".into(),
                "Members(Replace([]))".into(),
                "Members(RemoveAll)".into(),
            ]
        );
    }
}
