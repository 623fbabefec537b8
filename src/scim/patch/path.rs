//! Path resolution: an operation's path (or each key of a path-less value) resolved against
//! the served schema into a [`Target`] — core attribute, extension attribute, value-filtered
//! element, whole extension block, or an attribute of an extension this service does not know.

use scim_v2::filter::{AttrPath, PatchPath, ValFilter};
use serde_json::{Map, Value};

use crate::directory::{Reason, Rejection};
use crate::scim::document::{self, Writable};
use crate::scim::schema::{AttrDef, AttrType, ResourceSchema, SchemaDef};

use super::matching::check_element_filter;
use super::OpKind;

/// Where in a document an attribute lives.
#[derive(Debug, Clone)]
pub(super) enum Block {
    Core,
    Ext(&'static SchemaDef),
    /// An extension this service does not know, keyed as the client spells it.
    Foreign(String),
}

#[derive(Debug, Clone)]
pub(super) enum Target {
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
pub(super) struct Step {
    pub(super) kind: OpKind,
    pub(super) target: Target,
    pub(super) value: Option<Value>,
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

pub(super) fn resolve(
    schema: &'static ResourceSchema,
    path: &PatchPath,
) -> Result<Target, Rejection> {
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
pub(super) fn pathless(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::patch::testkit::{body, patch_user};
    use crate::scim::schema;
    use serde_json::json;

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
    fn refusals_carry_the_rfc_scim_type() {
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
    }
}
