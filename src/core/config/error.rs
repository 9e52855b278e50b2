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
pub struct ConfigErrors {
    first: ConfigError,
    more: Vec<ConfigError>,
}

impl ConfigErrors {
    /// `None` when there is no error.
    pub fn new(errors: Vec<ConfigError>) -> Option<ConfigErrors> {
        let mut it = errors.into_iter();
        let first = it.next()?;
        Some(ConfigErrors { first, more: it.collect() })
    }

    /// The first error found (the one a single-error caller reports).
    pub fn first(&self) -> &ConfigError {
        &self.first
    }

    pub fn len(&self) -> usize {
        1 + self.more.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        std::iter::once(&self.first).chain(&self.more)
    }

    pub fn into_vec(self) -> Vec<ConfigError> {
        let mut all = vec![self.first];
        all.extend(self.more);
        all
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(first: ConfigError) -> Self {
        ConfigErrors { first, more: Vec::new() }
    }
}

/// One error as [`ConfigError`] writes it; several numbered, on one line (the worker logs it as one line).
impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.more.is_empty() {
            return write!(f, "{}", self.first);
        }
        write!(f, "{} configuration errors:", self.len())?;
        for (i, e) in self.iter().enumerate() {
            write!(f, " ({}) {e}", i + 1)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
