//! `AUTH_CONFIG`: raw serde shape -> validated [`Config`].
//!
//! Every error names the connector (by `id`, or by position when it has none), the field, and why.
//! Unknown fields are refused so that a typo (`domian`) is an error, not a silently ignored setting.

use std::collections::BTreeMap;

use serde::Deserialize;
use thiserror::Error;

use crate::core::routing::normalize_domain;

/// Default absolute session lifetime: 8 hours.
pub const DEFAULT_SESSION_LIFETIME_SECONDS: u64 = 8 * 3600;
/// Default clock leeway for time claims.
pub const DEFAULT_CLOCK_LEEWAY_SECONDS: u64 = 60;

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
    fn new(connector: Option<&str>, field: impl Into<String>, reason: impl Into<String>) -> Self {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    connectors: Vec<serde_json::Value>,
    #[serde(default)]
    session: Option<RawSession>,
    #[serde(default)]
    clock_leeway_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSession {
    #[serde(default)]
    lifetime_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnector {
    id: String,
    kind: String,
    #[serde(default)]
    display_name: Option<String>,
    issuer: String,
    client_id: String,
    client_secret_binding: String,
    domains: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectorKind {
    Oidc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenEndpointAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
}

impl TokenEndpointAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenEndpointAuthMethod::ClientSecretBasic => "client_secret_basic",
            TokenEndpointAuthMethod::ClientSecretPost => "client_secret_post",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            _ => None,
        }
    }
}

/// A validated connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connector {
    pub id: String,
    pub kind: ConnectorKind,
    pub display_name: String,
    /// The issuer exactly as the IdP must state it in discovery and in tokens.
    pub issuer: String,
    pub client_id: String,
    /// Name of the Worker secret holding the client secret.
    pub client_secret_binding: String,
    /// Normalised domains this connector owns.
    pub domains: Vec<String>,
    /// Extra scopes requested after `openid profile email`.
    pub extra_scopes: Vec<String>,
    /// Configured client authentication at the token endpoint; `None` = choose from discovery.
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
}

impl Connector {
    /// `issuer` + `/.well-known/openid-configuration` (OIDC Discovery §4: a trailing `/` is removed first).
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'))
    }

    pub fn owns_domain(&self, domain: &str) -> bool {
        self.domains.iter().any(|d| d == domain)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    pub lifetime_seconds: u64,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub connectors: Vec<Connector>,
    pub session: SessionSettings,
    pub clock_leeway_seconds: u64,
    domain_index: BTreeMap<String, usize>,
}

impl Config {
    /// Parse and validate `AUTH_CONFIG` text.
    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { "(document)".to_string() } else { path };
            ConfigError::top(field, e.inner().to_string())
        })?;
        Self::validate(raw)
    }

    pub fn connector(&self, id: &str) -> Option<&Connector> {
        self.connectors.iter().find(|c| c.id == id)
    }

    /// The connector owning a normalised domain.
    pub fn connector_for_domain(&self, domain: &str) -> Option<&Connector> {
        self.domain_index.get(domain).and_then(|&i| self.connectors.get(i))
    }

    fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
        if raw.connectors.is_empty() {
            return Err(ConfigError::top("connectors", "at least one connector is required"));
        }
        let mut connectors: Vec<Connector> = Vec::with_capacity(raw.connectors.len());
        let mut domain_index = BTreeMap::new();
        for (position, value) in raw.connectors.into_iter().enumerate() {
            let label = value
                .get("id")
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| format!("#{}", position + 1));
            let rc: RawConnector = serde_path_to_error::deserialize(value).map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." { "(connector)".to_string() } else { path };
                ConfigError::new(Some(&label), field, e.inner().to_string())
            })?;
            let connector = validate_connector(rc, &label)?;
            if connectors.iter().any(|c| c.id == connector.id) {
                return Err(ConfigError::new(Some(&label), "id", "another connector has the same id"));
            }
            for (i, domain) in connector.domains.iter().enumerate() {
                if let Some(&other) = domain_index.get(domain) {
                    let other_id = connectors.get(other).map(|c: &Connector| c.id.as_str()).unwrap_or("?");
                    return Err(ConfigError::new(
                        Some(&label),
                        format!("domains[{i}]"),
                        format!(
                            "{domain:?} is already owned by connector {other_id:?}; a domain has exactly one connector"
                        ),
                    ));
                }
                domain_index.insert(domain.clone(), connectors.len());
            }
            connectors.push(connector);
        }
        let lifetime = raw.session.and_then(|s| s.lifetime_seconds).unwrap_or(DEFAULT_SESSION_LIFETIME_SECONDS);
        if !(60..=30 * 24 * 3600).contains(&lifetime) {
            return Err(ConfigError::top("session.lifetime_seconds", "must be between 60 seconds and 30 days"));
        }
        let leeway = raw.clock_leeway_seconds.unwrap_or(DEFAULT_CLOCK_LEEWAY_SECONDS);
        if leeway > 300 {
            return Err(ConfigError::top("clock_leeway_seconds", "must be at most 300 seconds"));
        }
        Ok(Config {
            connectors,
            session: SessionSettings { lifetime_seconds: lifetime },
            clock_leeway_seconds: leeway,
            domain_index,
        })
    }
}

fn validate_connector(rc: RawConnector, label: &str) -> Result<Connector, ConfigError> {
    let err = |field: &str, reason: String| ConfigError::new(Some(label), field, reason);
    if rc.id.is_empty()
        || rc.id.len() > 64
        || !rc.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(err("id", "must be 1-64 characters of a-z, 0-9, - and _".into()));
    }
    let kind = match rc.kind.as_str() {
        "oidc" => ConnectorKind::Oidc,
        other => return Err(err("kind", format!("unknown kind {other:?}; supported: \"oidc\""))),
    };
    let issuer = rc.issuer.trim().to_string();
    let issuer = issuer.strip_suffix("/.well-known/openid-configuration").map(str::to_string).unwrap_or(issuer);
    check_endpoint_url(&issuer).map_err(|reason| err("issuer", reason))?;
    if let Ok(u) = url::Url::parse(&issuer) {
        if u.query().is_some() || u.fragment().is_some() {
            return Err(err("issuer", "must not have a query or fragment".into()));
        }
    }
    if rc.client_id.trim().is_empty() {
        return Err(err("client_id", "must not be empty".into()));
    }
    if rc.client_secret_binding.is_empty()
        || !rc.client_secret_binding.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(err(
            "client_secret_binding",
            "must be the name of a Worker secret (letters, digits and _), not the secret itself".into(),
        ));
    }
    if rc.domains.is_empty() {
        return Err(err("domains", "at least one email domain is required".into()));
    }
    let mut domains = Vec::with_capacity(rc.domains.len());
    for (i, d) in rc.domains.iter().enumerate() {
        let n = normalize_domain(d)
            .ok_or_else(|| err(&format!("domains[{i}]"), format!("{d:?} is not a valid domain name")))?;
        if domains.contains(&n) {
            return Err(err(&format!("domains[{i}]"), format!("{d:?} is listed twice")));
        }
        domains.push(n);
    }
    let mut extra_scopes = Vec::new();
    for (i, s) in rc.scopes.iter().enumerate() {
        if s.is_empty() || !s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\') {
            return Err(err(&format!("scopes[{i}]"), format!("{s:?} is not a valid scope token")));
        }
        if !["openid", "profile", "email"].contains(&s.as_str()) && !extra_scopes.contains(s) {
            extra_scopes.push(s.clone());
        }
    }
    let token_endpoint_auth_method = match rc.token_endpoint_auth_method.as_deref() {
        None => None,
        Some(m) => Some(TokenEndpointAuthMethod::parse(m).ok_or_else(|| {
            err(
                "token_endpoint_auth_method",
                format!("{m:?} is not supported; use \"client_secret_basic\" or \"client_secret_post\""),
            )
        })?),
    };
    let display_name =
        rc.display_name.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).unwrap_or_else(|| rc.id.clone());
    Ok(Connector {
        id: rc.id,
        kind,
        display_name,
        issuer,
        client_id: rc.client_id,
        client_secret_binding: rc.client_secret_binding,
        domains,
        extra_scopes,
        token_endpoint_auth_method,
    })
}

/// An issuer or endpoint URL must be `https://`, or `http://` on a loopback host (development only).
pub fn check_endpoint_url(text: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(text).map_err(|e| format!("{text:?} is not a valid URL ({e})"))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err("must not contain credentials".into());
    }
    match u.scheme() {
        "https" => Ok(u),
        "http" if is_loopback_host(u.host()) => Ok(u),
        "http" => Err(format!("{text:?} must use https:// (http:// is accepted only for loopback hosts)")),
        other => Err(format!("{text:?} has scheme {other:?}; https:// is required")),
    }
}

/// `localhost`, `127.0.0.0/8`, `[::1]`.
pub fn is_loopback_host(host: Option<url::Host<&str>>) -> bool {
    match host {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{
      "connectors": [
        { "id": "acme", "kind": "oidc", "issuer": "https://idp.acme.example",
          "client_id": "edge", "client_secret_binding": "ACME_CLIENT_SECRET",
          "domains": ["acme.example", "acme.co.example"] }
      ]
    }"#;

    fn with_connector(patch: &str) -> String {
        format!(
            r#"{{"connectors":[{{"id":"acme","kind":"oidc","issuer":"https://idp.acme.example","client_id":"edge","client_secret_binding":"ACME_SECRET","domains":["acme.example"]{patch}}}]}}"#
        )
    }

    #[test]
    fn the_minimal_spec_shape_is_accepted_with_defaults() {
        let c = Config::from_json(MINIMAL).unwrap();
        assert_eq!(c.connectors.len(), 1);
        let acme = &c.connectors[0];
        assert_eq!(acme.display_name, "acme");
        assert_eq!(acme.domains, vec!["acme.example", "acme.co.example"]);
        assert_eq!(acme.discovery_url(), "https://idp.acme.example/.well-known/openid-configuration");
        assert_eq!(c.session.lifetime_seconds, DEFAULT_SESSION_LIFETIME_SECONDS);
        assert_eq!(c.clock_leeway_seconds, 60);
        assert_eq!(c.connector_for_domain("acme.co.example").unwrap().id, "acme");
        assert!(c.connector_for_domain("other.example").is_none());
    }

    #[test]
    fn domains_are_normalised() {
        let c = Config::from_json(&with_connector("").replace("\"acme.example\"", "\"ACME.Example.\"")).unwrap();
        assert_eq!(c.connectors[0].domains, vec!["acme.example"]);
    }

    #[test]
    fn discovery_suffix_and_trailing_slash() {
        let c =
            Config::from_json(&with_connector("").replace(
                "https://idp.acme.example",
                "https://idp.acme.example/t/v2.0/.well-known/openid-configuration",
            ))
            .unwrap();
        assert_eq!(c.connectors[0].issuer, "https://idp.acme.example/t/v2.0");
        let c = Config::from_json(&with_connector("").replace("https://idp.acme.example", "https://idp.acme.example/"))
            .unwrap();
        assert_eq!(c.connectors[0].issuer, "https://idp.acme.example/", "issuer kept exactly");
        assert_eq!(c.connectors[0].discovery_url(), "https://idp.acme.example/.well-known/openid-configuration");
    }

    fn error_of(json: &str) -> ConfigError {
        Config::from_json(json).unwrap_err()
    }

    #[test]
    fn errors_name_connector_field_and_reason() {
        let e = error_of(&with_connector("").replace("https://idp.acme.example", "http://idp.acme.example"));
        assert_eq!(e.connector.as_deref(), Some("acme"));
        assert_eq!(e.field, "issuer");
        assert!(e.reason.contains("https"), "{e}");
        assert!(e.to_string().contains("connector \"acme\", field `issuer`"), "{e}");

        let e = error_of(&with_connector(r#","domian":["x.example"]"#));
        assert_eq!(e.connector.as_deref(), Some("acme"));
        assert!(e.reason.contains("unknown field `domian`"), "{e}");

        let e = error_of(r#"{"connectors":[{"kind":"oidc"}]}"#);
        assert_eq!(e.connector.as_deref(), Some("#1"));
        assert!(e.reason.contains("missing field `id`"), "{e}");

        let e =
            error_of(&with_connector("").replace(r#""domains":["acme.example"]"#, r#""domains":["acme.example", 7]"#));
        assert_eq!(e.field, "domains[1]");

        let e = error_of(&with_connector("").replace("\"acme.example\"", "\"not a domain\""));
        assert_eq!(e.field, "domains[0]");

        let e = error_of(&with_connector(r#","token_endpoint_auth_method":"private_key_jwt""#));
        assert_eq!(e.field, "token_endpoint_auth_method");

        let e = error_of(&with_connector("").replace("\"kind\":\"oidc\"", "\"kind\":\"saml\""));
        assert_eq!(e.field, "kind");

        let e = error_of(&with_connector("").replace("ACME_SECRET", "s3cr3t value!"));
        assert_eq!(e.field, "client_secret_binding");
        assert!(!e.to_string().contains("s3cr3t"), "the supposed secret is not echoed");
    }

    #[test]
    fn http_issuer_only_on_loopback() {
        for ok in ["http://localhost:9000", "http://127.0.0.1:9000", "http://127.9.9.9", "http://[::1]:8080"] {
            assert!(Config::from_json(&with_connector("").replace("https://idp.acme.example", ok)).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1",
            "http://localhost.evil.example",
            "http://[::2]",
            "ftp://idp.example",
            "idp.example",
            "https://u:p@idp.example",
        ] {
            let e = error_of(&with_connector("").replace("https://idp.acme.example", bad));
            assert_eq!(e.field, "issuer", "{bad}");
        }
    }

    #[test]
    fn a_domain_belongs_to_one_connector() {
        let json = r#"{"connectors":[
          {"id":"a","kind":"oidc","issuer":"https://a.example","client_id":"x","client_secret_binding":"A","domains":["shared.example"]},
          {"id":"b","kind":"oidc","issuer":"https://b.example","client_id":"x","client_secret_binding":"B","domains":["Shared.Example"]}]}"#;
        let e = error_of(json);
        assert_eq!(e.connector.as_deref(), Some("b"));
        assert_eq!(e.field, "domains[0]");
        assert!(e.reason.contains("\"a\""), "{e}");
    }

    #[test]
    fn duplicate_ids_and_empty_lists_are_refused() {
        let json = r#"{"connectors":[
          {"id":"a","kind":"oidc","issuer":"https://a.example","client_id":"x","client_secret_binding":"A","domains":["a.example"]},
          {"id":"a","kind":"oidc","issuer":"https://b.example","client_id":"x","client_secret_binding":"B","domains":["b.example"]}]}"#;
        assert_eq!(error_of(json).field, "id");
        assert_eq!(error_of(r#"{"connectors":[]}"#).field, "connectors");
        assert_eq!(error_of(&with_connector("").replace(r#"["acme.example"]"#, "[]")).field, "domains");
        assert_eq!(error_of(&with_connector("").replace("\"id\":\"acme\"", "\"id\":\"Acme Corp\"")).field, "id");
    }

    #[test]
    fn session_and_leeway_bounds() {
        let base = with_connector("");
        let with = |extra: &str| format!("{},{extra}}}", base.trim_end_matches('}'));
        assert_eq!(
            Config::from_json(&with(r#""session":{"lifetime_seconds":3600}"#)).unwrap().session.lifetime_seconds,
            3600
        );
        assert_eq!(error_of(&with(r#""session":{"lifetime_seconds":5}"#)).field, "session.lifetime_seconds");
        assert_eq!(error_of(&with(r#""clock_leeway_seconds":3600"#)).field, "clock_leeway_seconds");
        assert_eq!(error_of(&with(r#""sesion":{}"#)).field, "sesion");
    }

    #[test]
    fn not_json_is_a_clear_error() {
        let e = error_of("{not json");
        assert!(e.to_string().starts_with("AUTH_CONFIG"), "{e}");
        let e = error_of("");
        assert!(e.to_string().starts_with("AUTH_CONFIG"), "{e}");
    }

    #[test]
    fn extra_scopes_deduplicated_and_validated() {
        let c =
            Config::from_json(&with_connector(r#","scopes":["openid","groups","groups","offline_access"]"#)).unwrap();
        assert_eq!(c.connectors[0].extra_scopes, vec!["groups", "offline_access"]);
        assert_eq!(error_of(&with_connector(r#","scopes":["a b"]"#)).field, "scopes[0]");
    }
}
