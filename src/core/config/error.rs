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

/// Every error found in `AUTH_CONFIG` (never empty): each connector is read on its own, and each top-level section
/// (`session`, `origin`, `policies`, `clock_leeway_seconds`), so that one start-up log line, or one run of
/// `edge-auth-check`, names them all. Inside one connector, reading stops at its first error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(Vec<ConfigError>);

/// Not returned: a `ConfigErrors` is never empty.
static NO_ERROR: ConfigError = ConfigError { connector: None, field: String::new(), reason: String::new() };

impl ConfigErrors {
    /// The errors found (at least one: [`ConfigErrors::first`] of none is an empty error).
    pub(crate) fn new(errors: Vec<ConfigError>) -> ConfigErrors {
        ConfigErrors(errors)
    }

    /// The first error found (the one a single-error caller reports).
    pub fn first(&self) -> &ConfigError {
        self.0.first().unwrap_or(&NO_ERROR)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    pub fn into_vec(self) -> Vec<ConfigError> {
        self.0
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(first: ConfigError) -> Self {
        ConfigErrors(vec![first])
    }
}

/// One error as [`ConfigError`] writes it; several numbered, on one line (the worker logs it as one line).
impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let [one] = self.0.as_slice() {
            return write!(f, "{one}");
        }
        write!(f, "{} configuration errors:", self.0.len())?;
        for (i, e) in self.0.iter().enumerate() {
            write!(f, " ({}) {e}", i + 1)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
