//! The field reader every part of `AUTH_CONFIG` is read with (connectors, session, origin, policies): one
//! wording for every type error, unknown fields refused by name.

use serde_json::{Map, Value};

use crate::core::config::error::ConfigError;

/// A JSON object read field by field, so that every error names the connector and the field path
/// (`domains[1]`, `session.lifetime_seconds`) and unknown fields are refused (a typo is never ignored).
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
    connector: Option<&'a str>,
}

impl<'a> Fields<'a> {
    pub(crate) fn of(
        value: &'a Value,
        prefix: &str,
        connector: Option<&'a str>,
        allowed: &[&str],
    ) -> Result<Fields<'a>, ConfigError> {
        let whole = |reason: &str| {
            let field = if prefix.is_empty() {
                if connector.is_some() {
                    "(connector)".to_string()
                } else {
                    "(document)".to_string()
                }
            } else {
                prefix.trim_end_matches('.').to_string()
            };
            ConfigError::new(connector, field, reason)
        };
        let map = value.as_object().ok_or_else(|| whole("must be a JSON object"))?;
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                let expected: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
                return Err(ConfigError::new(
                    connector,
                    format!("{prefix}{key}"),
                    format!("unknown field `{key}`, expected one of {}", expected.join(", ")),
                ));
            }
        }
        Ok(Fields { map, prefix: prefix.to_string(), connector })
    }

    /// The object without the check of its field names (after [`Fields::of`] refused one: the known fields
    /// can still be read, so that the other sections' errors are found too).
    pub(crate) fn unchecked(value: &'a Value) -> Option<Fields<'a>> {
        value.as_object().map(|map| Fields { map, prefix: String::new(), connector: None })
    }

    pub(crate) fn err(&self, name: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::new(self.connector, format!("{}{name}", self.prefix), reason)
    }

    /// The field, absent when missing or `null`.
    pub(crate) fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    pub(crate) fn opt_str(&self, name: &str) -> Result<Option<String>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.err(name, format!("invalid type: {}, expected a string", kind(other)))),
        }
    }

    pub(crate) fn str(&self, name: &str) -> Result<String, ConfigError> {
        self.opt_str(name)?.ok_or_else(|| self.err(name, format!("missing field `{name}`")))
    }

    pub(crate) fn opt_u64(&self, name: &str) -> Result<Option<u64>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                self.err(name, format!("invalid type: {}, expected a whole number of seconds", kind(v)))
            }),
        }
    }

    pub(crate) fn bool(&self, name: &str) -> Result<bool, ConfigError> {
        match self.get(name) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.err(name, format!("invalid type: {}, expected true or false", kind(other)))),
        }
    }

    pub(crate) fn opt_str_list(&self, name: &str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => {
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match v {
                        Value::String(s) => Ok(s.clone()),
                        other => Err(self
                            .err(&format!("{name}[{i}]"), format!("invalid type: {}, expected a string", kind(other)))),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some)
            }
            Some(other) => Err(self.err(name, format!("invalid type: {}, expected a list of strings", kind(other)))),
        }
    }

    pub(crate) fn str_list(&self, name: &str) -> Result<Vec<String>, ConfigError> {
        Ok(self.opt_str_list(name)?.unwrap_or_default())
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
