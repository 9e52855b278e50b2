//! The schema and the reader agree: every configuration of the repository is valid under the schema and
//! accepted by the reader; every mutation of them (an unknown field at each level, a wrong type for each field, a
//! bad `kind`) is refused by both, and removing any field gets the same verdict from both; and every field the
//! reader knows, at every level and for every connector kind, is a property of the schema (and no other is).
//!
//! `cargo test --lib --features cli core::config::schema`

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::*;
use crate::core::config::connector::ConnectorKind;
use crate::core::config::connectors::{CLAIMS_FIELDS, CONNECTOR_FIELDS};
use crate::core::config::cors::CORS_RULE_FIELDS;
use crate::core::config::pages::PAGES_FIELDS;
use crate::core::config::policies::POLICY_FIELDS;
use crate::core::config::saml::SAML_CONNECTOR_FIELDS;
use crate::core::config::service_tokens::SERVICE_TOKEN_FIELDS;
use crate::core::config::session::{ORIGIN_FIELDS, SESSION_FIELDS};
use crate::core::config::wsfed::WSFED_CONNECTOR_FIELDS;
use crate::core::config::{Config, TOP_FIELDS};

fn schema() -> Value {
    auth_config_schema().unwrap()
}

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A certificate the reader can read, for the README's elided ones (`"MIIC8DCC…"`).
fn fixture_certificate() -> String {
    repo_file("tests/fixtures/x509/rsa2048.pem")
}

/// Every `AUTH_CONFIG` of the repository, named: wrangler.toml's `[vars]` (and each `[env.*.vars]`), the
/// README's examples (whole documents, and single connectors wrapped in one), the configurations in
/// tests/fixtures/check/, the test kit's configurations. (The e2e tests' configurations are built in JavaScript:
/// not collected.)
fn corpus() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let wrangler: toml::Table = toml::from_str(&repo_file("wrangler.toml")).unwrap();
    let mut scopes = vec![("wrangler.toml [vars]".to_string(), wrangler.get("vars"))];
    for (name, env) in wrangler.get("env").and_then(toml::Value::as_table).into_iter().flatten() {
        scopes.push((format!("wrangler.toml [env.{name}.vars]"), env.get("vars")));
    }
    for (name, vars) in scopes {
        match vars.and_then(|v| v.get("AUTH_CONFIG")) {
            Some(toml::Value::String(text)) => out.push((name, serde_json::from_str(text).unwrap())),
            Some(table) => out.push((name, serde_json::to_value(table).unwrap())),
            None => {}
        }
    }
    let readme = repo_file("README.md");
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("```json\n") {
        let after = &rest[start + 8..];
        let end = after.find("```").unwrap();
        let line = readme.len() - rest.len() + start;
        let line = readme[..line].lines().count() + 1;
        rest = &after[end..];
        // An example with a field elided (`…,`) is not a document.
        let Ok(value) = serde_json::from_str::<Value>(&after[..end]) else { continue };
        let value = if value.get("connectors").is_some() { value } else { json!({ "connectors": [value] }) };
        out.push((format!("README.md line {line}"), with_readable_certificates(value)));
    }
    let fixtures = format!("{}/tests/fixtures/check", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(fixtures).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).collect();
    files.sort();
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
        let value: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        if value.get("connectors").is_some() {
            out.push((path.display().to_string(), value));
        }
    }
    for file in ["testkit/fixtures.rs"] {
        let text = repo_file(file);
        for (i, piece) in text.split("r#\"").skip(1).enumerate() {
            let Some((body, _)) = piece.split_once("\"#") else { continue };
            if body.trim_start().starts_with('{') && body.contains("\"connectors\"") {
                out.push((format!("{file} raw string {}", i + 1), serde_json::from_str(body).unwrap()));
            }
        }
    }
    assert!(out.len() >= 12, "the corpus shrank: {:?}", out.iter().map(|(n, _)| n).collect::<Vec<_>>());
    out
}

/// The README's certificates are elided (`MIIC8DCC…`): a real one in their place.
fn with_readable_certificates(mut value: Value) -> Value {
    for connector in value.get_mut("connectors").and_then(Value::as_array_mut).into_iter().flatten() {
        for field in ["idp_certificates", "certificates"] {
            if let Some(Value::Array(list)) = connector.get_mut(field) {
                for certificate in list.iter_mut().filter(|c| c.as_str().is_some_and(|c| c.contains('…'))) {
                    *certificate = Value::String(fixture_certificate());
                }
            }
        }
    }
    value
}

fn reader_accepts(document: &Value) -> Result<(), String> {
    Config::from_json_all(&document.to_string()).map(|_| ()).map_err(|e| e.to_string())
}

fn schema_accepts(schema: &Value, document: &Value) -> Result<(), String> {
    let errors = validate(schema, document);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
    }
}

#[test]
fn the_schema_uses_only_keywords_the_validator_applies() {
    let schema = schema();
    assert_eq!(unsupported_keywords(&schema), Vec::<String>::new());
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    // A keyword it would not apply is found.
    let mut other = schema.clone();
    other["properties"]["session"]["patternProperties"] = json!({});
    assert_eq!(unsupported_keywords(&other), ["#/properties/session/patternProperties"]);
}

#[test]
fn every_config_of_the_repository_is_valid_and_accepted() {
    let schema = schema();
    for (name, document) in corpus() {
        assert_eq!(schema_accepts(&schema, &document), Ok(()), "{name}: the schema refuses it");
        assert_eq!(reader_accepts(&document), Ok(()), "{name}: the reader refuses it");
    }
}

/// Every object of `value` (the document, each section, each connector, each rule...), by JSON pointer.
fn objects(value: &Value, pointer: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            out.push(pointer.to_string());
            for (k, v) in members {
                objects(v, &format!("{pointer}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                objects(v, &format!("{pointer}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Every value of `value` below the document, by JSON pointer.
fn members(value: &Value, pointer: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                out.push(format!("{pointer}/{k}"));
                members(v, &format!("{pointer}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                out.push(format!("{pointer}/{i}"));
                members(v, &format!("{pointer}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// A value of another JSON type than `value` (never null: the reader takes a null field as absent).
fn other_type(value: &Value) -> Value {
    match value {
        Value::String(_) => json!(12345),
        Value::Number(_) => json!("12345"),
        Value::Bool(_) => json!("true"),
        Value::Array(_) => json!("a list expected"),
        Value::Object(_) => json!(["an object expected"]),
        Value::Null => json!(1),
    }
}

fn parent_and_key(pointer: &str) -> (&str, &str) {
    pointer.rsplit_once('/').unwrap()
}

fn remove(document: &mut Value, pointer: &str) {
    let (parent, key) = parent_and_key(pointer);
    match document.pointer_mut(parent).unwrap() {
        Value::Object(m) => {
            m.remove(key);
        }
        Value::Array(items) => {
            items.remove(key.parse::<usize>().unwrap());
        }
        _ => unreachable!(),
    }
}

/// Mutations of each configuration of the repository: an unknown field in every object, another type for every
/// value, a `kind` no connector has — refused by both; and every value removed — the same verdict from both.
#[test]
fn mutations_are_refused_by_both_and_removals_judged_alike() {
    let schema = schema();
    let mut checked = 0;
    for (name, document) in corpus() {
        let mut objects_at = Vec::new();
        objects(&document, "", &mut objects_at);
        for at in &objects_at {
            let mut m = document.clone();
            m.pointer_mut(at).unwrap().as_object_mut().unwrap().insert("unknown_field".into(), json!(true));
            assert!(schema_accepts(&schema, &m).is_err(), "{name}: the schema accepts an unknown field at {at:?}");
            assert!(reader_accepts(&m).is_err(), "{name}: the reader accepts an unknown field at {at:?}");
            checked += 1;
        }
        let mut values_at = Vec::new();
        members(&document, "", &mut values_at);
        for at in &values_at {
            let mut m = document.clone();
            let value = m.pointer_mut(at).unwrap();
            *value = other_type(value);
            assert!(schema_accepts(&schema, &m).is_err(), "{name}: the schema accepts another type at {at:?}");
            assert!(reader_accepts(&m).is_err(), "{name}: the reader accepts another type at {at:?}");

            let mut m = document.clone();
            remove(&mut m, at);
            let (schema_verdict, reader_verdict) = (schema_accepts(&schema, &m), reader_accepts(&m));
            // What only the reader can judge, the references between sections (a rule's group grant names a
            // connector: remove the connector, or the rule's last entry...), is not a disagreement of shapes:
            // there the schema may accept what the reader refuses, never the reverse.
            let whole_connector = at.strip_prefix("/connectors/").is_some_and(|i| !i.contains('/'));
            if schema_verdict.is_err() || !(at.contains("/policies/") || whole_connector) {
                assert_eq!(
                    schema_verdict.is_ok(),
                    reader_verdict.is_ok(),
                    "{name}: without {at:?}, schema {schema_verdict:?}, reader {reader_verdict:?}"
                );
            }
            checked += 2;
        }
        for (i, _) in document["connectors"].as_array().unwrap().iter().enumerate() {
            let mut m = document.clone();
            m["connectors"][i]["kind"] = json!("ldap");
            assert!(schema_accepts(&schema, &m).is_err(), "{name}: the schema accepts kind \"ldap\"");
            assert!(reader_accepts(&m).is_err(), "{name}: the reader accepts kind \"ldap\"");
            checked += 1;
        }
    }
    assert!(checked > 500, "{checked} mutations");
}

fn property_names(schema: &Value, pointer: &str) -> BTreeSet<String> {
    let object = schema.pointer(pointer).and_then(|s| s.get("properties")).and_then(Value::as_object);
    object.unwrap_or_else(|| panic!("no properties at {pointer}")).keys().cloned().collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The fields an OAuth kind takes, as the reader decides it: the shared ones, and the kind-specific ones it is
/// listed for (Facebook takes neither `max_age` nor `token_endpoint_auth_method`).
fn reader_fields_of(kind: ConnectorKind) -> BTreeSet<String> {
    let specific: Vec<&str> = ConnectorKind::KIND_SPECIFIC_FIELDS.iter().map(|(f, _)| *f).collect();
    let mut fields: BTreeSet<String> =
        CONNECTOR_FIELDS.iter().filter(|f| !specific.contains(f)).map(|f| f.to_string()).collect();
    for (field, kinds) in ConnectorKind::KIND_SPECIFIC_FIELDS {
        if kinds.contains(&kind) {
            fields.insert(field.to_string());
        }
    }
    if kind == ConnectorKind::Facebook {
        fields.remove("max_age");
        fields.remove("token_endpoint_auth_method");
    }
    fields
}

/// The schema describes exactly the fields the reader knows, at every level and for every kind. A field added to
/// the reader (its field lists) and not to the schema fails here, naming it.
#[test]
fn the_schema_has_every_field_the_reader_knows() {
    let schema = schema();
    let pairs: Vec<(&str, BTreeSet<String>)> = vec![
        ("", names(TOP_FIELDS)),
        ("/properties/session", names(SESSION_FIELDS)),
        ("/properties/origin", names(ORIGIN_FIELDS)),
        ("/properties/policies/items", names(POLICY_FIELDS)),
        ("/properties/service_tokens/items", names(SERVICE_TOKEN_FIELDS)),
        ("/properties/cors/items", names(CORS_RULE_FIELDS)),
        ("/properties/pages", names(PAGES_FIELDS)),
        ("/$defs/oidc/properties/claims", names(CLAIMS_FIELDS)),
        ("/$defs/saml", names(SAML_CONNECTOR_FIELDS)),
        ("/$defs/wsfed", names(WSFED_CONNECTOR_FIELDS)),
    ];
    let kinds = ConnectorKind::ALL.iter().map(|k| (format!("/$defs/{}", k.as_str()), reader_fields_of(*k)));
    for (pointer, reader) in pairs.into_iter().map(|(p, r)| (p.to_string(), r)).chain(kinds) {
        let in_schema = property_names(&schema, &pointer);
        let missing: Vec<&String> = reader.difference(&in_schema).collect();
        let extra: Vec<&String> = in_schema.difference(&reader).collect();
        assert!(missing.is_empty(), "{AUTH_CONFIG_SCHEMA_PATH}#{pointer} lacks the reader's fields {missing:?}");
        assert!(extra.is_empty(), "{AUTH_CONFIG_SCHEMA_PATH}#{pointer} has fields the reader refuses: {extra:?}");
        assert_eq!(schema.pointer(&pointer).unwrap()["additionalProperties"], json!(false), "{pointer}");
        // Each field says what it is (directly, or through the definition it refers to).
        for name in &in_schema {
            let field = &schema.pointer(&pointer).unwrap()["properties"][name];
            let described = field.get("description").is_some()
                || field.get("$ref").and_then(Value::as_str).and_then(|r| resolve(&schema, r)).is_some_and(|d| {
                    d.get("description").is_some()
                        || d.get("$ref").and_then(Value::as_str).and_then(|r| resolve(&schema, r)).is_some()
                });
            assert!(described || name == "kind", "{pointer}/properties/{name} has no description");
        }
    }
    // Every kind the reader knows is one of the schema's, with its shape.
    let kinds: Vec<Value> =
        ConnectorKind::ALL.iter().map(|k| json!(k.as_str())).chain([json!("saml"), json!("wsfed")]).collect();
    assert_eq!(schema["$defs"]["connector"]["properties"]["kind"]["enum"], Value::Array(kinds));
}

/// The validator's own keywords, each refusing what it should (so that the agreement above means something).
#[test]
fn the_validator_applies_each_keyword() {
    let schema = json!({
        "type": "object", "additionalProperties": false, "required": ["a"],
        "properties": {
            "a": { "type": "integer", "minimum": 1, "maximum": 3 },
            "b": { "type": "string", "minLength": 2, "maxLength": 3 },
            "c": { "type": "array", "minItems": 1, "maxItems": 2, "items": { "enum": ["x", "y"] } },
            "d": { "$ref": "#/$defs/d" },
            "e": { "const": "e" }, "f": {}, "g": {}
        },
        "dependentRequired": { "f": ["g"] },
        "oneOf": [ { "required": ["b"] }, { "required": ["c"] } ],
        "not": { "required": ["g"] },
        "if": { "required": ["d"] }, "then": { "required": ["c"] },
        "$defs": { "d": { "type": "boolean" } }
    });
    let ok = |doc: Value| validate(&schema, &doc);
    assert_eq!(ok(json!({"a": 2, "b": "xy"})), vec![]);
    let pointers = |doc: Value| -> Vec<(String, String)> {
        ok(doc).into_iter().map(|e| (e.pointer, e.message.split(' ').take(3).collect::<Vec<_>>().join(" "))).collect()
    };
    assert_eq!(pointers(json!({"b": "xy"})), [("".into(), "the required field".into())]);
    assert_eq!(pointers(json!({"a": 2.5, "b": "xy"})), [("/a".into(), "number is not".into())]);
    assert_eq!(pointers(json!({"a": 0, "b": "xy"})), [("/a".into(), "0 is less".into())]);
    assert_eq!(pointers(json!({"a": 4, "b": "xy"})), [("/a".into(), "4 is more".into())]);
    assert_eq!(pointers(json!({"a": 1, "b": "x"})), [("/b".into(), "shorter than 2".into())]);
    assert_eq!(pointers(json!({"a": 1, "b": "xxxx"})), [("/b".into(), "longer than 3".into())]);
    assert_eq!(pointers(json!({"a": 1, "c": []})), [("/c".into(), "fewer than 1".into())]);
    assert_eq!(pointers(json!({"a": 1, "c": ["x", "y", "x"]})), [("/c".into(), "more than 2".into())]);
    assert_eq!(pointers(json!({"a": 1, "c": ["z"]})), [("/c/0".into(), "\"z\" is not".into())]);
    assert_eq!(pointers(json!({"a": 1, "b": "xy", "x~/": 1})), [("/x~0~1".into(), "unknown field \"x~/\"".into())]);
    assert_eq!(pointers(json!({"a": 1, "b": "xy", "e": "f"})), [("/e".into(), "\"f\" is not".into())]);
    assert_eq!(pointers(json!({"a": 1, "b": "xy", "g": 1})), [("".into(), "must not match".into())]);
    assert_eq!(pointers(json!({"a": 1, "b": "xy", "f": 1})), [("".into(), "\"g\" is required".into())]);
    assert_eq!(pointers(json!({"a": 1})), [("".into(), "matches none of".into())]);
    assert_eq!(pointers(json!({"a": 1, "b": "xy", "c": ["x"]})), [("".into(), "matches more than".into())]);
    assert_eq!(pointers(json!({"a": 1, "b": "xy", "d": true})), [("".into(), "the required field".into())]);
    assert_eq!(pointers(json!({"a": 1, "c": ["x"], "d": 1})), [("/d".into(), "integer is not".into())]);
}
