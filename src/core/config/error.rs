//! The one error type of `AUTH_CONFIG` validation: every error names the connector (by `id`, or `#N` by
//! position), the field path, and why.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", self.describe())]
pub struct ConfigError {
    /// The connector the error is about (its id, or `#N` by position), if any.
    pub connector: Option<String>,
    /// The field, as a path inside the connector or the document (`issuer`, `domains[1]`, `session.lifetime_seconds`).
    pub field: String,
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(connector: Option<&str>, field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError { connector: connector.map(str::to_string), field: field.into(), reason: reason.into() }
    }

    pub fn top(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(None, field, reason)
    }

    fn describe(&self) -> String {
        match &self.connector {
            Some(c) => format!("AUTH_CONFIG: connector {c:?}, field `{}`: {}", self.field, self.reason),
            None => format!("AUTH_CONFIG: field `{}`: {}", self.field, self.reason),
        }
    }
}
