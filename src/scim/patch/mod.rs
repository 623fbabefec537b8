//! PATCH (RFC 7644 §3.5.2) → ordered intents.
//!
//! A request goes through four steps, one file each:
//! - [`parse`](parse::parse): the body → [`RawOp`]s (op names without regard to case, paths
//!   through scim_v2's grammar);
//! - `path`: each path, or each key of a path-less value, resolved against the served schema;
//! - `members` (groups only): operations on `members` routed to membership set operations, the
//!   rest to attribute edits;
//! - `apply`: the resolved steps applied in order to the locked document, with `matching`
//!   evaluating value filters (`emails[type eq "work"]`) on the attribute's values.
//!
//! The result is, for users, one [`DocEdit`] (attribute operations applied in order to the
//! locked document); for groups, [`GroupOp`](crate::directory::membership::GroupOp)s
//! (attribute edits and membership set operations, in order).
//!
//! Forms real clients send, all handled: path-less `replace` of `{"active": false}` (Okta's
//! deactivation) and of `{"id": …, "displayName": …}` (Okta's group rename; the `id` is
//! informational and ignored); dotted and URN-qualified keys in path-less values; capitalised
//! ops and string booleans (Entra); `members[value eq "…"]` removes (Okta, one per member);
//! Entra's `remove members` with a value array (removes only those); `replace members []`
//! (empties the group); Entra's `add emails[type eq "work"].value` for an email that does not
//! exist yet (creates it).

mod apply;
mod matching;
mod members;
mod parse;
mod path;

pub use members::group_ops;
pub use parse::{parse, OpKind, RawOp};

use serde_json::Value;

use crate::directory::Rejection;

use super::schema::{self, ResourceSchema};
use parse::syntax;
use path::{pathless, resolve, Step};

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

/// Helpers the unit tests of every step share: a PatchOp body, its parse, and a user PATCH run
/// end to end on a document.
#[cfg(test)]
mod testkit {
    use serde_json::{json, Value};

    use super::{parse, user_edit, RawOp};
    use crate::directory::{Edit, Rejection};
    use crate::scim::{document, schema};

    pub(super) fn ops(v: Value) -> Vec<RawOp> {
        parse(v.as_object().unwrap()).unwrap()
    }

    pub(super) fn patch_user(doc: Value, body: Value) -> Result<Value, Rejection> {
        let edit = user_edit(&ops(body))?;
        let doc = document::normalize(schema::user(), doc.as_object().unwrap())?;
        edit.apply(doc).map(Value::Object)
    }

    pub(super) fn body(operations: Value) -> Value {
        json!({"schemas": [schema::PATCH_OP_URN], "Operations": operations})
    }
}
