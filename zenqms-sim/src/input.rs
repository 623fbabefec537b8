//! Request bodies → intents. Two steps with two answers, as the spec's error table asks:
//! a body that is not a JSON object or has a field of the wrong JSON type is `400
//! bad_request`; a well-typed body that breaks a rule (required field missing or empty,
//! bad email, unknown `status`) is `422 validation_failed` listing every such field.
//! Unknown fields are ignored, except unknown search filters (see [`search`]).

use serde_json::{Map, Value};

use crate::error::{FieldError, SimError};
use crate::model::{email_problem, Id, Status};

/// A field of a JSON object body: absent, explicitly `null`, or a value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Field<T> {
    #[default]
    Absent,
    Null,
    Set(T),
}

/// The user fields of a create or update body, type-checked but not yet validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct UserInput {
    pub email: Field<String>,
    pub first_name: Field<String>,
    pub last_name: Field<String>,
    pub title: Field<String>,
    pub site: Field<String>,
    pub supervisor_email: Field<String>,
    pub external_id: Field<String>,
    pub status: Field<String>,
}

/// A valid new user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewUser {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub title: String,
    pub site: Option<String>,
    pub supervisor_email: Option<String>,
    pub external_id: Option<String>,
    pub status: Status,
}

/// A valid update: `None` leaves a field alone; `Some(None)` clears an optional one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct UserPatch {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub site: Option<Option<String>>,
    pub supervisor_email: Option<Option<String>>,
    pub external_id: Option<Option<String>>,
    pub status: Option<Status>,
}

/// `POST /v2/users/search` after parsing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SearchQuery {
    pub id: Option<Id>,
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub status: Option<Status>,
    pub page: u64,
    pub page_size: u64,
}

pub(crate) const MAX_PAGE_SIZE: u64 = 100;
pub(crate) const DEFAULT_PAGE_SIZE: u64 = 100;

const USER_FIELDS: [&str; 8] = [
    "email",
    "first_name",
    "last_name",
    "title",
    "site",
    "supervisor_email",
    "external_id",
    "status",
];

fn object(body: &Value) -> Result<&Map<String, Value>, SimError> {
    body.as_object()
        .ok_or_else(|| SimError::bad_request("body must be a JSON object"))
}

/// Type-checks the user fields of a create or update body.
pub(crate) fn user_input(body: &Value) -> Result<UserInput, SimError> {
    let obj = object(body)?;
    let mut wrong = Vec::new();
    let mut field = |name: &str| match obj.get(name) {
        None => Field::Absent,
        Some(Value::Null) => Field::Null,
        Some(Value::String(s)) => Field::Set(s.clone()),
        Some(_) => {
            wrong.push(name.to_owned());
            Field::Absent
        }
    };
    let [email, first_name, last_name, title, site, supervisor_email, external_id, status] =
        USER_FIELDS.map(&mut field);
    if !wrong.is_empty() {
        return Err(SimError::bad_fields("these fields must be strings", wrong));
    }
    Ok(UserInput {
        email,
        first_name,
        last_name,
        title,
        site,
        supervisor_email,
        external_id,
        status,
    })
}

impl UserInput {
    /// Validates a create: the four required fields present and non-empty, emails
    /// well-formed ASCII, `status` known (absent or `null` means `active`).
    pub(crate) fn into_new_user(self) -> Result<NewUser, SimError> {
        let mut errors = Vec::new();
        let email = required("email", self.email, true, &mut errors);
        let first_name = required("first_name", self.first_name, true, &mut errors);
        let last_name = required("last_name", self.last_name, true, &mut errors);
        let title = required("title", self.title, true, &mut errors);
        let site = optional("site", self.site, &mut errors);
        let supervisor_email = optional("supervisor_email", self.supervisor_email, &mut errors);
        let external_id = optional("external_id", self.external_id, &mut errors);
        let status = match self.status {
            Field::Absent | Field::Null => Some(Status::Active),
            Field::Set(s) => status(&s, &mut errors),
        };
        match (email, first_name, last_name, title, status) {
            (Some(email), Some(first_name), Some(last_name), Some(title), Some(status))
                if errors.is_empty() =>
            {
                Ok(NewUser {
                    email,
                    first_name,
                    last_name,
                    title,
                    site: site.flatten(),
                    supervisor_email: supervisor_email.flatten(),
                    external_id: external_id.flatten(),
                    status,
                })
            }
            _ => Err(SimError::Validation(errors)),
        }
    }

    /// Validates an update: any subset; `null` clears `site`, `supervisor_email` and
    /// `external_id`; `null` or empty for a required field (or `status`) is rejected.
    pub(crate) fn into_patch(self) -> Result<UserPatch, SimError> {
        let mut errors = Vec::new();
        let patch = UserPatch {
            email: required("email", self.email, false, &mut errors),
            first_name: required("first_name", self.first_name, false, &mut errors),
            last_name: required("last_name", self.last_name, false, &mut errors),
            title: required("title", self.title, false, &mut errors),
            site: optional("site", self.site, &mut errors),
            supervisor_email: optional("supervisor_email", self.supervisor_email, &mut errors),
            external_id: optional("external_id", self.external_id, &mut errors),
            status: match self.status {
                Field::Absent => None,
                Field::Null => {
                    errors.push(FieldError::new("status", "must not be null"));
                    None
                }
                Field::Set(s) => status(&s, &mut errors),
            },
        };
        if errors.is_empty() {
            Ok(patch)
        } else {
            Err(SimError::Validation(errors))
        }
    }
}

fn is_email(name: &str) -> bool {
    name == "email" || name == "supervisor_email"
}

/// A required field: `Some(value)` when given and valid.
fn required(
    name: &str,
    field: Field<String>,
    must_be_present: bool,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match field {
        Field::Absent => {
            if must_be_present {
                errors.push(FieldError::new(name, "is required"));
            }
            None
        }
        Field::Null => {
            errors.push(FieldError::new(name, "must not be null"));
            None
        }
        Field::Set(s) if s.trim().is_empty() => {
            errors.push(FieldError::new(name, "must not be empty"));
            None
        }
        Field::Set(s) => match email_problem(&s).filter(|_| is_email(name)) {
            Some(problem) => {
                errors.push(FieldError::new(name, problem));
                None
            }
            None => Some(s),
        },
    }
}

/// An optional field: `None` when absent, `Some(None)` when cleared (by `null` or an
/// empty string: an empty `external_id` would otherwise clash with every other empty one).
fn optional(
    name: &str,
    field: Field<String>,
    errors: &mut Vec<FieldError>,
) -> Option<Option<String>> {
    match field {
        Field::Absent => None,
        Field::Null => Some(None),
        Field::Set(s) if s.trim().is_empty() => Some(None),
        Field::Set(s) => match email_problem(&s).filter(|_| is_email(name)) {
            Some(problem) => {
                errors.push(FieldError::new(name, problem));
                None
            }
            None => Some(Some(s)),
        },
    }
}

fn status(s: &str, errors: &mut Vec<FieldError>) -> Option<Status> {
    let parsed = Status::parse(s);
    if parsed.is_none() {
        errors.push(FieldError::new(
            "status",
            "must be one of active, disabled, locked_out",
        ));
    }
    parsed
}

/// An id in a request body: a non-negative integer or a string.
fn id(v: &Value) -> Option<Id> {
    match v {
        Value::Number(n) => n.as_u64().map(Id::Num),
        Value::String(s) => Some(Id::Str(s.clone())),
        _ => None,
    }
}

/// `{"role_ids": [..]}` of the role add/remove calls.
pub(crate) fn role_ids(body: &Value) -> Result<Vec<Id>, SimError> {
    match object(body)?.get("role_ids") {
        None | Some(Value::Null) => Err(SimError::Validation(vec![FieldError::new(
            "role_ids",
            "is required",
        )])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                id(v).ok_or_else(|| {
                    SimError::bad_request(
                        "role_ids must hold ids (non-negative integers or strings)",
                    )
                })
            })
            .collect(),
        Some(_) => Err(SimError::bad_fields(
            "this field must be an array",
            vec!["role_ids".into()],
        )),
    }
}

/// `page`/`page_size`: absent means 1 and [`DEFAULT_PAGE_SIZE`]. `page` is 1-based;
/// `page_size` above [`MAX_PAGE_SIZE`] is refused with `400` rather than clamped, so a
/// client that asks for more than the API gives learns it at once.
pub(crate) fn paging(page: Option<u64>, page_size: Option<u64>) -> Result<(u64, u64), SimError> {
    let page = page.unwrap_or(1);
    let page_size = page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    if page == 0 {
        return Err(SimError::bad_request("page is 1-based"));
    }
    if page_size == 0 || page_size > MAX_PAGE_SIZE {
        return Err(SimError::BadRequest {
            message: format!("page_size must be between 1 and {MAX_PAGE_SIZE}"),
            details: serde_json::json!({ "field": "page_size", "max": MAX_PAGE_SIZE }),
        });
    }
    Ok((page, page_size))
}

/// The search body. Filters are ANDed; `null` filters are ignored. An unknown filter is
/// `400` rather than ignored: ignoring it would answer every user, and a client with a
/// misspelt filter would take the first one for its match.
pub(crate) fn search(body: &Value) -> Result<SearchQuery, SimError> {
    let obj = object(body)?;
    let number = |name: &str| -> Result<Option<u64>, SimError> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                SimError::bad_fields("must be a positive integer", vec![name.to_owned()])
            }),
        }
    };
    let (page, page_size) = paging(number("page")?, number("page_size")?)?;
    let mut query = SearchQuery {
        page,
        page_size,
        ..SearchQuery::default()
    };
    let filters = match obj.get("filters") {
        None | Some(Value::Null) => return Ok(query),
        Some(Value::Object(filters)) => filters,
        Some(_) => {
            return Err(SimError::bad_fields(
                "this field must be an object",
                vec!["filters".into()],
            ))
        }
    };
    let mut wrong = Vec::new();
    let mut status_text = None;
    for (key, value) in filters {
        if value.is_null() {
            continue;
        }
        let text = value.as_str().map(str::to_owned);
        match key.as_str() {
            "id" => query.id = id(value),
            "email" => query.email = text.clone(),
            "external_id" => query.external_id = text.clone(),
            "name" => query.name = text.clone(),
            "status" => status_text = text.clone(),
            _ => {
                return Err(SimError::BadRequest {
                    message: format!("unknown filter {key:?}"),
                    details: serde_json::json!({
                        "filter": key,
                        "allowed": ["id", "email", "external_id", "name", "status"],
                    }),
                })
            }
        }
        let typed = if key == "id" {
            query.id.is_some()
        } else {
            text.is_some()
        };
        if !typed {
            wrong.push(format!("filters.{key}"));
        }
    }
    if !wrong.is_empty() {
        return Err(SimError::bad_fields("wrong type", wrong));
    }
    if let Some(s) = status_text {
        query.status = Some(Status::parse(&s).ok_or_else(|| {
            SimError::Validation(vec![FieldError::new(
                "filters.status",
                "must be one of active, disabled, locked_out",
            )])
        })?);
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(err: SimError) -> Vec<String> {
        match err {
            SimError::Validation(f) => f.into_iter().map(|f| f.field).collect(),
            other => panic!("expected validation_failed, got {other:?}"),
        }
    }

    fn code(err: &SimError) -> &'static str {
        err.code()
    }

    #[test]
    fn create_requires_the_four_fields() {
        let err =
            user_input(&json!({"email": "a@example.com", "first_name": "A", "last_name": ""}))
                .unwrap()
                .into_new_user()
                .unwrap_err();
        assert_eq!(fields(err), vec!["last_name", "title"]);
    }

    #[test]
    fn create_defaults_and_clears() {
        let u = user_input(&json!({
            "email": "a@example.com", "first_name": "A", "last_name": "B", "title": "T",
            "site": "", "external_id": null, "status": null, "role_ids": [1], "extra": {}
        }))
        .unwrap()
        .into_new_user()
        .unwrap();
        assert_eq!(u.status, Status::Active);
        assert_eq!((u.site, u.external_id), (None, None));
    }

    #[test]
    fn emails_and_status_are_validated() {
        let err = user_input(&json!({
            "email": "zoë@example.com", "first_name": "Z", "last_name": "B", "title": "T",
            "supervisor_email": "boss", "status": "retired"
        }))
        .unwrap()
        .into_new_user()
        .unwrap_err();
        assert_eq!(fields(err), vec!["email", "supervisor_email", "status"]);
    }

    #[test]
    fn wrong_types_are_bad_requests() {
        let err = user_input(&json!({"email": 5, "title": ["x"]})).unwrap_err();
        assert_eq!(code(&err), "bad_request");
        assert_eq!(err.details()["fields"], json!(["email", "title"]));
        assert_eq!(code(&user_input(&json!([1])).unwrap_err()), "bad_request");
    }

    #[test]
    fn patch_semantics() {
        let p = user_input(&json!({"site": null, "external_id": "x", "title": "New"}))
            .unwrap()
            .into_patch()
            .unwrap();
        assert_eq!(p.site, Some(None));
        assert_eq!(p.external_id, Some(Some("x".into())));
        assert_eq!(p.title.as_deref(), Some("New"));
        assert_eq!(p.email, None);
        let err = user_input(&json!({"first_name": null, "last_name": " ", "status": null}))
            .unwrap()
            .into_patch()
            .unwrap_err();
        assert_eq!(fields(err), vec!["first_name", "last_name", "status"]);
    }

    #[test]
    fn role_id_lists() {
        assert_eq!(
            role_ids(&json!({"role_ids": [7, "r-9"]})).unwrap(),
            vec![Id::Num(7), Id::from("r-9")]
        );
        assert_eq!(
            code(&role_ids(&json!({})).unwrap_err()),
            "validation_failed"
        );
        assert_eq!(
            code(&role_ids(&json!({"role_ids": 7})).unwrap_err()),
            "bad_request"
        );
        assert_eq!(
            code(&role_ids(&json!({"role_ids": [1.5]})).unwrap_err()),
            "bad_request"
        );
        assert_eq!(
            code(&role_ids(&json!({"role_ids": [-1]})).unwrap_err()),
            "bad_request"
        );
    }

    #[test]
    fn search_bodies() {
        let q = search(&json!({
            "filters": {"email": "A@x.com", "status": "disabled", "id": 1001, "name": null},
            "page": 2, "page_size": 10
        }))
        .unwrap();
        assert_eq!(q.email.as_deref(), Some("A@x.com"));
        assert_eq!(q.status, Some(Status::Disabled));
        assert_eq!(q.id, Some(Id::Num(1001)));
        assert_eq!((q.page, q.page_size), (2, 10));
        let q = search(&json!({})).unwrap();
        assert_eq!((q.page, q.page_size), (1, DEFAULT_PAGE_SIZE));

        for bad in [
            json!({"filters": {"emial": "a@x.com"}}),
            json!({"filters": {"email": 5}}),
            json!({"filters": []}),
            json!({"page": 0}),
            json!({"page": -1}),
            json!({"page": "1"}),
            json!({"page_size": 101}),
            json!({"page_size": 1e300}),
        ] {
            assert_eq!(code(&search(&bad).unwrap_err()), "bad_request", "{bad}");
        }
        let err = search(&json!({"filters": {"status": "gone"}})).unwrap_err();
        assert_eq!(fields(err), vec!["filters.status"]);
    }
}
