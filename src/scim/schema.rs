//! The SCIM schemas this service serves (`schemas/*.json`, RFC 7643 §7 format) and the
//! attribute definitions read from them. One source of truth: what `/Schemas` advertises is what
//! drives canonical attribute names, type coercion, mutability, `returned` and case-exactness.

use std::sync::OnceLock;

use serde_json::Value;

pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

pub const USER_SCHEMA_JSON: &str = include_str!("../../schemas/User.json");
pub const GROUP_SCHEMA_JSON: &str = include_str!("../../schemas/Group.json");
pub const ENTERPRISE_SCHEMA_JSON: &str = include_str!("../../schemas/EnterpriseUser.json");
pub const SERVICE_PROVIDER_CONFIG_JSON: &str =
    include_str!("../../schemas/ServiceProviderConfig.json");
pub const RESOURCE_TYPES_JSON: &str = include_str!("../../schemas/ResourceTypes.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

/// One attribute (or sub-attribute) definition of RFC 7643 §7.
#[derive(Debug, Clone)]
pub struct AttrDef {
    pub name: String,
    pub kind: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub sub_attributes: Vec<AttrDef>,
}

impl AttrDef {
    /// RFC 7643 §2.1: attribute names are case-insensitive.
    pub fn sub(&self, name: &str) -> Option<&AttrDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn is_read_only(&self) -> bool {
        self.mutability == Mutability::ReadOnly
    }

    fn parse(v: &Value) -> Result<AttrDef, String> {
        let name = v["name"].as_str().ok_or("attribute without a name")?;
        let kind = match v["type"].as_str().unwrap_or("string") {
            "string" => AttrType::String,
            "boolean" => AttrType::Boolean,
            "decimal" => AttrType::Decimal,
            "integer" => AttrType::Integer,
            "dateTime" => AttrType::DateTime,
            "binary" => AttrType::Binary,
            "reference" => AttrType::Reference,
            "complex" => AttrType::Complex,
            other => return Err(format!("{name}: unknown type {other}")),
        };
        let mutability = match v["mutability"].as_str().unwrap_or("readWrite") {
            "readOnly" => Mutability::ReadOnly,
            "readWrite" => Mutability::ReadWrite,
            "immutable" => Mutability::Immutable,
            "writeOnly" => Mutability::WriteOnly,
            other => return Err(format!("{name}: unknown mutability {other}")),
        };
        let returned = match v["returned"].as_str().unwrap_or("default") {
            "always" => Returned::Always,
            "never" => Returned::Never,
            "default" => Returned::Default,
            "request" => Returned::Request,
            other => return Err(format!("{name}: unknown returned {other}")),
        };
        let sub_attributes = match v.get("subAttributes").and_then(Value::as_array) {
            Some(subs) => subs.iter().map(AttrDef::parse).collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        Ok(AttrDef {
            name: name.to_string(),
            kind,
            multi_valued: v["multiValued"].as_bool().unwrap_or(false),
            required: v["required"].as_bool().unwrap_or(false),
            case_exact: v["caseExact"].as_bool().unwrap_or(false),
            mutability,
            returned,
            sub_attributes,
        })
    }
}

/// One schema (core or extension).
#[derive(Debug, Clone)]
pub struct SchemaDef {
    pub id: String,
    pub attributes: Vec<AttrDef>,
}

impl SchemaDef {
    pub fn attr(&self, name: &str) -> Option<&AttrDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    fn parse(text: &str) -> Result<SchemaDef, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let id = v["id"].as_str().ok_or("schema without id")?.to_string();
        let attributes = v["attributes"]
            .as_array()
            .ok_or("schema without attributes")?
            .iter()
            .map(AttrDef::parse)
            .collect::<Result<_, _>>()?;
        Ok(SchemaDef { id, attributes })
    }
}

/// A resource type: its core schema, its known extensions, and the common attributes of
/// RFC 7643 §3.1 that every resource has but no schema lists.
#[derive(Debug)]
pub struct ResourceSchema {
    pub resource_type: &'static str,
    pub endpoint: &'static str,
    pub core: SchemaDef,
    pub extensions: Vec<SchemaDef>,
    pub common: Vec<AttrDef>,
}

/// Where an attribute lives in a resource document.
#[derive(Debug, Clone, Copy)]
pub enum Home<'a> {
    /// Top level: a core or common attribute.
    Core(&'a AttrDef),
    /// Inside the block of a known extension.
    Extension(&'a SchemaDef, &'a AttrDef),
}

impl<'a> Home<'a> {
    pub fn def(&self) -> &'a AttrDef {
        match self {
            Home::Core(d) | Home::Extension(_, d) => d,
        }
    }
}

impl ResourceSchema {
    /// A core or common attribute by (case-insensitive) name.
    pub fn top(&self, name: &str) -> Option<&AttrDef> {
        self.core.attr(name).or_else(|| {
            self.common
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(name))
        })
    }

    /// A known extension by (case-insensitive) URN.
    pub fn extension(&self, urn: &str) -> Option<&SchemaDef> {
        self.extensions
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    pub fn is_core_urn(&self, urn: &str) -> bool {
        self.core.id.eq_ignore_ascii_case(urn)
    }
}

fn common_attributes(with_external_id: bool) -> Vec<AttrDef> {
    let simple = |name: &str, mutability, returned, case_exact| AttrDef {
        name: name.to_string(),
        kind: AttrType::String,
        multi_valued: false,
        required: false,
        case_exact,
        mutability,
        returned,
        sub_attributes: Vec::new(),
    };
    let mut meta = simple("meta", Mutability::ReadOnly, Returned::Default, false);
    meta.kind = AttrType::Complex;
    meta.sub_attributes = vec![
        simple(
            "resourceType",
            Mutability::ReadOnly,
            Returned::Default,
            true,
        ),
        {
            let mut d = simple("created", Mutability::ReadOnly, Returned::Default, false);
            d.kind = AttrType::DateTime;
            d
        },
        {
            let mut d = simple(
                "lastModified",
                Mutability::ReadOnly,
                Returned::Default,
                false,
            );
            d.kind = AttrType::DateTime;
            d
        },
        {
            let mut d = simple("location", Mutability::ReadOnly, Returned::Default, true);
            d.kind = AttrType::Reference;
            d
        },
        simple("version", Mutability::ReadOnly, Returned::Default, true),
    ];
    // RFC 7643 §3.1: id is readOnly, caseExact, returned always; externalId is caseExact.
    let mut out = vec![
        simple("id", Mutability::ReadOnly, Returned::Always, true),
        meta,
    ];
    if with_external_id {
        out.push(simple(
            "externalId",
            Mutability::ReadWrite,
            Returned::Default,
            true,
        ));
    }
    out
}

fn build() -> (ResourceSchema, ResourceSchema) {
    // The schema files are compiled into the binary and checked by the unit tests below, so a
    // failure here is a build defect, not bad input.
    let parse = |text: &str| SchemaDef::parse(text).expect("embedded schema JSON is valid");
    let user = ResourceSchema {
        resource_type: "User",
        endpoint: "Users",
        core: parse(USER_SCHEMA_JSON),
        extensions: vec![parse(ENTERPRISE_SCHEMA_JSON)],
        common: common_attributes(true),
    };
    let group = ResourceSchema {
        resource_type: "Group",
        endpoint: "Groups",
        core: parse(GROUP_SCHEMA_JSON),
        extensions: Vec::new(),
        common: common_attributes(true),
    };
    (user, group)
}

fn both() -> &'static (ResourceSchema, ResourceSchema) {
    static SCHEMAS: OnceLock<(ResourceSchema, ResourceSchema)> = OnceLock::new();
    SCHEMAS.get_or_init(build)
}

pub fn user() -> &'static ResourceSchema {
    &both().0
}

pub fn group() -> &'static ResourceSchema {
    &both().1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_schemas_parse_and_say_what_the_code_does() {
        let u = user();
        assert_eq!(u.core.id, USER_URN);
        assert_eq!(u.extensions[0].id, ENTERPRISE_URN);
        let user_name = u.top("USERNAME").unwrap();
        assert_eq!(user_name.name, "userName");
        assert!(user_name.required && !user_name.case_exact);
        let password = u.top("password").unwrap();
        assert_eq!(password.returned, Returned::Never);
        assert!(u.top("groups").unwrap().is_read_only());
        assert!(u.top("emails").unwrap().multi_valued);
        assert!(u.top("addresses").unwrap().sub("primary").is_some());
        assert!(u.top("externalId").unwrap().case_exact);
        let g = group();
        assert!(g.top("displayName").unwrap().required);
        assert!(g
            .top("members")
            .unwrap()
            .sub("display")
            .unwrap()
            .is_read_only());
        for text in [SERVICE_PROVIDER_CONFIG_JSON, RESOURCE_TYPES_JSON] {
            serde_json::from_str::<Value>(text).unwrap();
        }
    }
}
