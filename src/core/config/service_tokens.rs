//! `service_tokens` of `AUTH_CONFIG`: the machine clients' tokens ([`crate::core::service_token`]). Each error
//! names the token (its position and its id) and the field.

use serde_json::Value;

use crate::core::config::error::ConfigError;
use crate::core::config::fields::{kind, Fields};
use crate::core::service_token::{is_valid_id, parse_sha256, parse_utc, ServiceToken, SUBJECT_PREFIX};

/// The fields of one entry of `service_tokens`.
pub(crate) const SERVICE_TOKEN_FIELDS: &[&str] = &["id", "secret_sha256", "expires"];
/// Read and validate the `service_tokens` list (absent: none).
pub(crate) fn read_service_tokens(value: Option<&Value>) -> Result<Vec<ServiceToken>, ConfigError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ConfigError::top(
                "service_tokens",
                format!("invalid type: {}, expected a list of tokens", kind(other)),
            ))
        }
    };
    let mut out: Vec<ServiceToken> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("service_tokens[{i}].");
        if item.get("secret").is_some() {
            return Err(ConfigError::top(
                format!("{prefix}secret"),
                "never write a token's secret in AUTH_CONFIG: write its SHA-256 as `secret_sha256` \
                 (node scripts/service-token.mjs ID prints both)",
            ));
        }
        let f = Fields::of(item, &prefix, None, SERVICE_TOKEN_FIELDS)?;
        let id = f.str("id")?;
        if !is_valid_id(&id) {
            return Err(f.err("id", "a token id is 1 to 64 characters a-z 0-9 - _"));
        }
        let named =
            |field: &str, why: &str| ConfigError::top(format!("{prefix}{field}"), format!("token {id:?}: {why}"));
        if out.iter().any(|t| t.id == id) {
            return Err(named("id", "another token has the same id"));
        }
        let secret_sha256 = parse_sha256(&f.str("secret_sha256")?).ok_or_else(|| {
            named("secret_sha256", "must be the SHA-256 of the secret: 64 hex digits or 43 base64url characters")
        })?;
        let expires = match f.opt_str("expires")? {
            None => None,
            Some(text) => Some(parse_utc(&text).ok_or_else(|| {
                named("expires", "must be a UTC time written YYYY-MM-DDTHH:MM:SSZ, e.g. 2027-06-30T00:00:00Z")
            })?),
        };
        out.push(ServiceToken { id, secret_sha256, expires });
    }
    Ok(out)
}

/// While service tokens are configured no connector may be called `service-token`: its users' ids
/// (`service-token:<sub>`) would read as a token's.
pub(crate) fn check_connector_ids<'a>(
    tokens: &[ServiceToken],
    mut connector_ids: impl Iterator<Item = &'a str>,
) -> Result<(), ConfigError> {
    if !tokens.is_empty() && connector_ids.any(|id| id == SUBJECT_PREFIX) {
        return Err(ConfigError::new(
            Some(SUBJECT_PREFIX),
            "id",
            "the connector id \"service-token\" is reserved while service_tokens are configured (origins see a \
             token as the user \"service-token:<id>\")",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn read(json: &str) -> Result<Vec<ServiceToken>, ConfigError> {
        read_service_tokens(Some(&serde_json::from_str(json).unwrap()))
    }

    #[test]
    fn tokens_are_read_with_their_hash_and_expiry() {
        let t = read(&format!(
            r#"[{{"id":"ci-deploy","secret_sha256":"{HASH}","expires":"2027-06-30T00:00:00Z"}},{{"id":"cron","secret_sha256":"LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ"}}]"#
        ))
        .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].id.as_str(), t[0].expires), ("ci-deploy", Some(1_814_313_600)));
        assert_eq!(t[0].secret_sha256, t[1].secret_sha256, "hex and base64url of the same hash");
        assert_eq!(t[1].expires, None);
        assert!(read("[]").unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_token_and_the_field() {
        for (json, field, why) in [
            (
                format!(r#"[{{"id":"a","secret_sha256":"{}"}}]"#, &HASH[..60]),
                "service_tokens[0].secret_sha256",
                "token \"a\"",
            ),
            (
                format!(r#"[{{"id":"a","secret_sha256":"{HASH}"}},{{"id":"a","secret_sha256":"{HASH}"}}]"#),
                "service_tokens[1].id",
                "same id",
            ),
            (
                format!(r#"[{{"id":"a","secret_sha256":"{HASH}","expires":"2027-06-30"}}]"#),
                "service_tokens[0].expires",
                "token \"a\"",
            ),
            (format!(r#"[{{"id":"A b","secret_sha256":"{HASH}"}}]"#), "service_tokens[0].id", "a-z"),
            (r#"[{"id":"a"}]"#.to_string(), "service_tokens[0].secret_sha256", "missing"),
            (r#"[{"id":"a","secret":"hunter2hunter2"}]"#.to_string(), "service_tokens[0].secret", "never write"),
            (
                format!(r#"[{{"id":"a","secret_sha256":"{HASH}","scope":"x"}}]"#),
                "service_tokens[0].scope",
                "unknown field",
            ),
            (r#"{"id":"a"}"#.to_string(), "service_tokens", "a list"),
        ] {
            let e = read(&json).unwrap_err();
            assert_eq!(e.field, field, "{json}");
            assert!(e.reason.contains(why), "{json}: {e}");
            assert!(!e.to_string().contains("hunter2"), "the secret is never echoed");
        }
    }

    #[test]
    fn the_token_subject_prefix_is_not_a_connector_id() {
        let tokens = read(&format!(r#"[{{"id":"a","secret_sha256":"{HASH}"}}]"#)).unwrap();
        assert!(check_connector_ids(&tokens, ["acme", "service-token"].into_iter()).is_err());
        assert!(check_connector_ids(&tokens, ["acme"].into_iter()).is_ok());
        assert!(check_connector_ids(&[], ["service-token"].into_iter()).is_ok(), "no tokens, no ambiguity");
    }
}
