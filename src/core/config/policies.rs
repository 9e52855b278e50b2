//! `policies` of `AUTH_CONFIG`: each rule read with the config's field reader, then validated by
//! [`crate::core::policy`] against the connectors (group grants name the connector that may assert them).

use serde_json::Value;

use crate::core::config::connector::Connector;
use crate::core::config::error::ConfigError;
use crate::core::config::fields::{kind, Fields};
use crate::core::config::saml::SamlConnector;
use crate::core::policy::{parse_policies, GroupSource, Policy, RawPolicy};
use crate::core::service_token::ServiceToken;

/// The fields of one rule of `policies`.
pub(crate) const POLICY_FIELDS: &[&str] = &["path", "public", "emails", "domains", "groups", "service_tokens"];

/// Read the `policies` list, as written (types and field names only): each rule on its own, every rule's first
/// error.
pub(crate) fn read_raw_policies(value: Option<&Value>) -> Result<Vec<RawPolicy>, Vec<ConfigError>> {
    let items = match value {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(vec![ConfigError::top(
                "policies",
                format!("invalid type: {}, expected a list of rules", kind(other)),
            )])
        }
    };
    let mut out = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("policies[{i}].");
        let rule = (|| {
            let f = Fields::of(item, &prefix, None, POLICY_FIELDS)?;
            Ok(RawPolicy {
                path: f.str("path")?,
                public: f.bool("public")?,
                emails: f.str_list("emails")?,
                domains: f.str_list("domains")?,
                groups: f.str_list("groups")?,
                service_tokens: f.str_list("service_tokens")?,
            })
        })();
        match rule {
            Ok(rule) => out.push(rule),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Validate the rules against the configured connectors.
pub(crate) fn validate_policies(
    raw: Vec<RawPolicy>,
    connectors: &[Connector],
    saml_connectors: &[SamlConnector],
    tokens: &[ServiceToken],
) -> Result<Vec<Policy>, ConfigError> {
    // SAML IdPs assert groups as attributes (Entra's and AD FS's group claims).
    let sources: Vec<GroupSource<'_>> = (connectors.iter())
        .map(|c| GroupSource { id: &c.id, asserts_groups: c.kind.asserts_groups() })
        .chain(saml_connectors.iter().map(|c| GroupSource { id: &c.id, asserts_groups: true }))
        .collect();
    let token_ids: Vec<&str> = tokens.iter().map(|t| t.id.as_str()).collect();
    parse_policies(raw, &sources, &token_ids).map_err(|e| ConfigError::top(e.field, e.reason))
}

/// Both steps, for tests of the rules.
#[cfg(test)]
pub(crate) fn read_policies(value: &Value, connectors: &[Connector]) -> Result<Vec<Policy>, ConfigError> {
    let raw = read_raw_policies(Some(value)).map_err(|mut e| e.remove(0))?;
    validate_policies(raw, connectors, &[], &[])
}
