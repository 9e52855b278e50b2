//! The JSON Schema of `AUTH_CONFIG` (`schema/auth-config.schema.json`, draft 2020-12) and the small validator
//! `edge-auth-check` checks documents with. Host-only (feature `cli`): the worker reads `AUTH_CONFIG` with its own
//! reader ([`super::Config::from_json_all`]); the schema is for editors, CI and the check, and a test proves the
//! two agree (every config of the repository accepted by both, every mutation refused by both, every field the
//! reader knows described by the schema).
//!
//! The validator implements the keywords the schema uses and no others ([`KEYWORDS`]; a test walks the schema for
//! any other): `type`, `enum`, `const`, `properties`, `required`, `additionalProperties`, `items`,
//! `minItems`/`maxItems`, `minimum`/`maximum`, `minLength`/`maxLength`, `allOf`/`anyOf`/`oneOf`/`not`,
//! `if`/`then`/`else`, `dependentRequired` and local `$ref`s (`#/$defs/...`). `integer` means a JSON number
//! without fraction or exponent, as the reader takes it. It fetches nothing.

use serde_json::Value;

/// The schema's text, as published in the repository.
pub const AUTH_CONFIG_SCHEMA: &str = include_str!("../../../schema/auth-config.schema.json");

/// Where the schema lives in the repository (for messages).
pub const AUTH_CONFIG_SCHEMA_PATH: &str = "schema/auth-config.schema.json";

/// The keywords the validator applies.
pub const KEYWORDS: &[&str] = &[
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "dependentRequired",
    "$ref",
];

/// Keywords that only annotate (or hold subschemas reached through `$ref`): not checked.
pub const ANNOTATIONS: &[&str] =
    &["$schema", "$id", "$defs", "$comment", "title", "description", "default", "examples", "format", "deprecated"];

/// One refusal of the schema: where in the document (a JSON pointer, RFC 6901) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.pointer.is_empty() { "(document)" } else { self.pointer.as_str() };
        write!(f, "{at}: {}", self.message)
    }
}

/// The published schema, parsed.
pub fn auth_config_schema() -> Result<Value, String> {
    serde_json::from_str(AUTH_CONFIG_SCHEMA).map_err(|e| format!("{AUTH_CONFIG_SCHEMA_PATH} is not JSON: {e}"))
}

/// Every refusal of `document` by `schema` (empty when valid).
pub fn validate(schema: &Value, document: &Value) -> Vec<SchemaError> {
    let mut errors = Vec::new();
    check(schema, schema, document, "", &mut errors, 0);
    errors
}

/// `$ref`s are followed at most this deep (a schema that refers to itself without end is refused, not looped).
const MAX_DEPTH: usize = 64;

fn is_valid(root: &Value, schema: &Value, value: &Value, pointer: &str, depth: usize) -> bool {
    let mut errors = Vec::new();
    check(root, schema, value, pointer, &mut errors, depth);
    errors.is_empty()
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    let actual = type_name(value);
    actual == name || (name == "number" && actual == "integer")
}

/// The subschema a local `$ref` (`#/$defs/name`, any JSON pointer into the schema) names.
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

fn check(root: &Value, schema: &Value, value: &Value, pointer: &str, errors: &mut Vec<SchemaError>, depth: usize) {
    let mut fail = |message: String| errors.push(SchemaError { pointer: pointer.to_string(), message });
    let Some(keywords) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            fail("no value is allowed here".into());
        }
        return;
    };
    if depth > MAX_DEPTH {
        fail("the schema's $refs nest too deep".into());
        return;
    }
    if let Some(reference) = keywords.get("$ref").and_then(Value::as_str) {
        match resolve(root, reference) {
            Some(target) => check(root, target, value, pointer, errors, depth + 1),
            None => errors.push(SchemaError {
                pointer: pointer.to_string(),
                message: format!("the schema's $ref {reference:?} names nothing"),
            }),
        }
    }
    let mut fail = |message: String| errors.push(SchemaError { pointer: pointer.to_string(), message });
    if let Some(types) = keywords.get("type") {
        let names: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !names.iter().any(|t| has_type(value, t)) {
            fail(format!("{} is not of type {}", type_name(value), names.join(" or ")));
            // The other keywords would only repeat it.
            return;
        }
    }
    if let Some(Value::Array(allowed)) = keywords.get("enum") {
        if !allowed.contains(value) {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            fail(format!("{value} is not one of {}", list.join(", ")));
        }
    }
    if let Some(expected) = keywords.get("const") {
        if expected != value {
            fail(format!("{value} is not {expected}"));
        }
    }
    let bound = |name: &str| keywords.get(name).and_then(Value::as_u64);
    match value {
        Value::String(s) => {
            let length = s.chars().count() as u64;
            if bound("minLength").is_some_and(|min| length < min) {
                fail(format!("shorter than {} characters", bound("minLength").unwrap_or_default()));
            }
            if bound("maxLength").is_some_and(|max| length > max) {
                fail(format!("longer than {} characters", bound("maxLength").unwrap_or_default()));
            }
        }
        Value::Number(n) => {
            let number = n.as_f64().unwrap_or_default();
            let limit = |name: &str| keywords.get(name).and_then(Value::as_f64);
            if limit("minimum").is_some_and(|min| number < min) {
                fail(format!("{n} is less than the minimum {}", limit("minimum").unwrap_or_default()));
            }
            if limit("maximum").is_some_and(|max| number > max) {
                fail(format!("{n} is more than the maximum {}", limit("maximum").unwrap_or_default()));
            }
        }
        Value::Array(items) => {
            let count = items.len() as u64;
            if bound("minItems").is_some_and(|min| count < min) {
                fail(format!("fewer than {} items", bound("minItems").unwrap_or_default()));
            }
            if bound("maxItems").is_some_and(|max| count > max) {
                fail(format!("more than {} items", bound("maxItems").unwrap_or_default()));
            }
            if let Some(item_schema) = keywords.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(root, item_schema, item, &format!("{pointer}/{i}"), errors, depth + 1);
                }
            }
        }
        Value::Object(members) => {
            for name in keywords.get("required").and_then(Value::as_array).into_iter().flatten() {
                let Some(name) = name.as_str() else { continue };
                if !members.contains_key(name) {
                    errors.push(SchemaError {
                        pointer: pointer.to_string(),
                        message: format!("the required field {name:?} is missing"),
                    });
                }
            }
            if let Some(Value::Object(dependent)) = keywords.get("dependentRequired") {
                for (present, needed) in dependent.iter().filter(|(name, _)| members.contains_key(name.as_str())) {
                    for name in needed.as_array().into_iter().flatten().filter_map(Value::as_str) {
                        if !members.contains_key(name) {
                            errors.push(SchemaError {
                                pointer: pointer.to_string(),
                                message: format!("{name:?} is required with {present:?}"),
                            });
                        }
                    }
                }
            }
            let properties = keywords.get("properties").and_then(Value::as_object);
            for (name, member) in members {
                let at = format!("{pointer}/{}", escape(name));
                match (properties.and_then(|p| p.get(name)), keywords.get("additionalProperties")) {
                    (Some(member_schema), _) => check(root, member_schema, member, &at, errors, depth + 1),
                    (None, Some(Value::Bool(false))) => {
                        let known: Vec<&str> =
                            properties.into_iter().flat_map(|p| p.keys()).map(String::as_str).collect();
                        errors.push(SchemaError {
                            pointer: at,
                            message: format!("unknown field {name:?} (expected one of {})", known.join(", ")),
                        });
                    }
                    (None, Some(extra)) => check(root, extra, member, &at, errors, depth + 1),
                    (None, None) => {}
                }
            }
        }
        _ => {}
    }
    for sub in keywords.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        check(root, sub, value, pointer, errors, depth + 1);
    }
    if let Some(Value::Array(any)) = keywords.get("anyOf") {
        if !any.iter().any(|sub| is_valid(root, sub, value, pointer, depth + 1)) {
            errors.push(SchemaError { pointer: pointer.to_string(), message: alternatives(any, "none") });
        }
    }
    if let Some(Value::Array(one)) = keywords.get("oneOf") {
        let matching = one.iter().filter(|sub| is_valid(root, sub, value, pointer, depth + 1)).count();
        if matching != 1 {
            let which = if matching == 0 { "none" } else { "more than one" };
            errors.push(SchemaError { pointer: pointer.to_string(), message: alternatives(one, which) });
        }
    }
    if let Some(not) = keywords.get("not") {
        if is_valid(root, not, value, pointer, depth + 1) {
            errors.push(SchemaError {
                pointer: pointer.to_string(),
                message: format!("must not match {}", describe(not)),
            });
        }
    }
    if let Some(condition) = keywords.get("if") {
        let branch = if is_valid(root, condition, value, pointer, depth + 1) { "then" } else { "else" };
        if let Some(sub) = keywords.get(branch) {
            check(root, sub, value, pointer, errors, depth + 1);
        }
    }
}

/// Alternatives matched by `which` ("none", "more than one"), in words an operator reads.
fn alternatives(list: &[Value], which: &str) -> String {
    let described: Vec<String> = list.iter().map(describe).collect();
    format!("matches {which} of the alternatives: {}", described.join("; or "))
}

/// A subschema in a few words: its `required` fields, else its `description`, else its JSON.
fn describe(schema: &Value) -> String {
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        let names: Vec<&str> = required.iter().filter_map(Value::as_str).collect();
        return format!("with {}", names.join(" + "));
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        let parts: Vec<String> = any.iter().map(describe).collect();
        return format!("any of ({})", parts.join(", "));
    }
    schema.get("description").and_then(Value::as_str).map_or_else(|| schema.to_string(), str::to_string)
}

/// Every keyword of `schema` (and its subschemas) the validator neither applies nor ignores as an annotation,
/// with its location: the schema must use none (a keyword the check would not apply is a rule not enforced).
pub fn unsupported_keywords(schema: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk(schema, "#", &mut found);
    found
}

fn walk(schema: &Value, at: &str, found: &mut Vec<String>) {
    let Some(keywords) = schema.as_object() else { return };
    for (keyword, value) in keywords {
        let here = format!("{at}/{}", escape(keyword));
        match keyword.as_str() {
            "properties" | "$defs" => {
                for (name, sub) in value.as_object().into_iter().flatten() {
                    walk(sub, &format!("{here}/{}", escape(name)), found);
                }
            }
            "allOf" | "anyOf" | "oneOf" => {
                for (i, sub) in value.as_array().into_iter().flatten().enumerate() {
                    walk(sub, &format!("{here}/{i}"), found);
                }
            }
            "items" | "not" | "if" | "then" | "else" | "additionalProperties" => walk(value, &here, found),
            k if KEYWORDS.contains(&k) || ANNOTATIONS.contains(&k) => {}
            _ => found.push(here),
        }
    }
}

#[cfg(test)]
mod tests;
