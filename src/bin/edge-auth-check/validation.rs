//! `AUTH_CONFIG` read by the worker's reader ([`Config::from_json_all`]: every connector and section on its own,
//! every error found) and validated with the published JSON Schema ([`schema`], `schema/auth-config.schema.json`),
//! both reported, numbered, before anything else.
//!
//! [`schema`]: edge_auth::core::config::schema

use edge_auth::core::config::schema::{auth_config_schema, validate, AUTH_CONFIG_SCHEMA_PATH};
use edge_auth::core::config::{Config, ConfigError};

use crate::report::{locate, plural, Report};

/// The configuration, or `None` after reporting every error of the reader and of the schema. When the reader
/// accepts what the schema refuses, the schema's refusals are warnings (the worker decides; the schema is
/// stricter there, e.g. a `null` the worker takes as absent).
pub fn read_config(report: &mut Report, text: &str) -> Option<Config> {
    let read = Config::from_json_all(text);
    let schema_errors = match serde_json::from_str::<serde_json::Value>(text) {
        // Not JSON: the reader says so.
        Err(_) => Vec::new(),
        Ok(document) => match auth_config_schema() {
            Ok(schema) => validate(&schema, &document),
            Err(e) => {
                report.warning(0, None, "(schema)", e);
                Vec::new()
            }
        },
    };
    match read {
        Ok(config) => {
            for e in &schema_errors {
                report.warning(
                    0,
                    None,
                    "(schema)",
                    format!("{AUTH_CONFIG_SCHEMA_PATH} refuses {e}, which the worker accepts"),
                );
            }
            if schema_errors.is_empty() {
                report.line(0, format!("schema:   valid ({AUTH_CONFIG_SCHEMA_PATH})"));
            }
            Some(config)
        }
        Err(errors) => {
            let n = errors.len();
            report.line(
                0,
                format!(
                    "AUTH_CONFIG: {n} error{} (each connector and section is read on its own; inside one, its first error):",
                    plural(n)
                ),
            );
            for (i, e) in errors.iter().enumerate() {
                report.line(2, format!("{}. {}", i + 1, described(e)));
                report.record_config_error(e.to_string());
            }
            if !schema_errors.is_empty() {
                let m = schema_errors.len();
                report.line(0, format!("{AUTH_CONFIG_SCHEMA_PATH}: {m} error{}:", plural(m)));
                for (i, e) in schema_errors.iter().enumerate() {
                    report.line(2, format!("{}. {e}", i + 1));
                    report.record_config_error(format!("{AUTH_CONFIG_SCHEMA_PATH}: {e}"));
                }
            }
            None
        }
    }
}

/// Connector (if any), field and why.
fn described(e: &ConfigError) -> String {
    format!("{}: {}", locate(e.connector.as_deref(), &e.field), e.reason)
}
