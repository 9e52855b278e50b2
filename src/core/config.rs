//! `AUTH_CONFIG`: raw serde shape -> validated [`Config`].
//!
//! Every error names the connector (by `id`, or by position when it has none), the field, and why.
//! Unknown fields are refused so that a typo (`domian`) is an error, not a silently ignored setting.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::core::routing::normalize_domain;
pub use crate::core::url::is_loopback_host;

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

#[derive(Debug, Default)]
struct RawConfig {
    connectors: Vec<serde_json::Value>,
    session: Option<RawSession>,
    clock_leeway_seconds: Option<u64>,
    origin: Option<RawOrigin>,
    policies: Vec<crate::core::policy::RawPolicy>,
}

#[derive(Debug, Default)]
struct RawSession {
    lifetime_seconds: Option<u64>,
    idle_timeout_seconds: Option<u64>,
    encrypt: bool,
}

#[derive(Debug, Default)]
struct RawOrigin {
    url: String,
    assertion_ttl_seconds: Option<u64>,
}

/// One connector as written. Fields are optional here; which ones a kind requires or accepts is decided in
/// [`validate_connector`], so that a misplaced field gets an error naming the kind it belongs to.
#[derive(Debug, Default)]
struct RawConnector {
    id: String,
    kind: String,
    display_name: Option<String>,
    client_id: String,
    client_secret_binding: String,
    domains: Vec<String>,
    scopes: Vec<String>,
    token_endpoint_auth_method: Option<String>,
    prompt: Option<String>,
    max_age: Option<u64>,
    response_mode: Option<String>,
    claims: Option<RawClaimMapping>,
    issuer: Option<String>,
    tenant: Option<String>,
    allowed_tenants: Option<Vec<String>>,
    authority: Option<String>,
    hosted_domains: Option<Vec<String>>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    graph_me_endpoint: Option<String>,
}

#[derive(Debug, Default)]
struct RawClaimMapping {
    email: Option<String>,
    name: Option<String>,
}

/// Microsoft Entra ID's public cloud authority.
pub const ENTRA_DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The tenant id of personal Microsoft accounts (`consumers`).
pub const ENTRA_CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
pub const FACEBOOK_AUTHORIZATION_ENDPOINT: &str = "https://www.facebook.com/v21.0/dialog/oauth";
pub const FACEBOOK_TOKEN_ENDPOINT: &str = "https://graph.facebook.com/v21.0/oauth/access_token";
pub const FACEBOOK_GRAPH_ME_ENDPOINT: &str = "https://graph.facebook.com/v21.0/me";
/// What sessions from Facebook record as their issuer.
pub const FACEBOOK_ISSUER: &str = "https://www.facebook.com";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectorKind {
    /// Any OpenID Connect provider, by discovery.
    Oidc,
    /// Microsoft Entra ID (v2.0 endpoints), single- or multi-tenant.
    Entra,
    /// Google accounts and Google Workspace.
    Google,
    /// Facebook Login (OAuth 2.0 + Graph API; no ID token).
    Facebook,
}

impl ConnectorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorKind::Oidc => "oidc",
            ConnectorKind::Entra => "entra",
            ConnectorKind::Google => "google",
            ConnectorKind::Facebook => "facebook",
        }
    }
}

/// `prompt` values of OIDC Core §3.1.2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    Login,
    None,
    Consent,
    SelectAccount,
}

impl Prompt {
    pub fn as_str(self) -> &'static str {
        match self {
            Prompt::Login => "login",
            Prompt::None => "none",
            Prompt::Consent => "consent",
            Prompt::SelectAccount => "select_account",
        }
    }
}

/// How the IdP returns the authorization response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// Redirect with the result in the query string (GET /auth/callback).
    Query,
    /// Auto-submitted form (POST /auth/callback), recommended for web apps.
    FormPost,
}

/// Which claims carry the session's email and name (`oidc` connectors may rename them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    pub email: String,
    pub name: String,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        ClaimMapping { email: "email".into(), name: "name".into() }
    }
}

/// Which Entra tenants a connector accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntraTenancy {
    /// `common` or `organizations`: the issuer is a `{tenantid}` template; only `allowed_tenants` (tenant
    /// ids) may sign in.
    Multi { allowed_tenants: Vec<String> },
    /// `consumers`: personal Microsoft accounts only (tenant id `9188040d-…`).
    Consumers,
    /// One tenant, by id or by domain (`contoso.onmicrosoft.com`); `allowed_tenants`, if given, must contain
    /// the id the discovery document reveals.
    Single { tenant: String, allowed_tenants: Vec<String> },
}

/// How a connector talks to its IdP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// OpenID Connect with discovery (kinds `oidc`, `entra`, `google`).
    OpenIdConnect {
        claims: ClaimMapping,
        /// Google Workspace domains (`hd`), enforced on the ID token.
        hosted_domains: Vec<String>,
        /// Set for `entra` connectors.
        entra: Option<EntraSettings>,
    },
    /// OAuth 2.0 + Graph API (kind `facebook`).
    Facebook { authorization_endpoint: String, token_endpoint: String, graph_me_endpoint: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraSettings {
    /// `https://login.microsoftonline.com` (or a national cloud / test authority).
    pub authority: String,
    pub tenancy: EntraTenancy,
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
    /// The issuer: for `oidc` and `google` exactly as the IdP states it in discovery and tokens; for `entra`
    /// the authority URL (`https://login.microsoftonline.com/{tenant}/v2.0`) whose discovery document is
    /// used; for `facebook` `https://www.facebook.com`.
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
    pub prompt: Option<Prompt>,
    /// OIDC `max_age` (seconds): the IdP must re-authenticate older sessions; `auth_time` is then checked.
    pub max_age: Option<u64>,
    pub response_mode: ResponseMode,
    pub protocol: Protocol,
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
    /// Absolute lifetime from sign-in.
    pub lifetime_seconds: u64,
    /// Sign out after this long without a request; renewed (cookie rewritten) at most every half of it.
    pub idle_timeout_seconds: Option<u64>,
    /// Encrypt session cookies (AES-256-GCM) so the email is not readable in the browser.
    pub encrypt: bool,
}

/// Origin mode: authenticated requests are proxied to `url` with identity headers and a signed assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginSettings {
    pub url: url::Url,
    pub assertion_ttl_seconds: u64,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub connectors: Vec<Connector>,
    pub session: SessionSettings,
    pub clock_leeway_seconds: u64,
    pub origin: Option<OriginSettings>,
    pub policies: Vec<crate::core::policy::Policy>,
    domain_index: BTreeMap<String, usize>,
}

impl Config {
    /// Parse and validate `AUTH_CONFIG` text.
    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        if !text.trim_start().starts_with('{') {
            return Err(ConfigError::top("(document)", "must be a JSON object with a \"connectors\" array"));
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| ConfigError::top("(document)", format!("not valid JSON: {e}")))?;
        Self::validate(read_config(&value)?)
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
            let rc = read_connector(&value, &label)?;
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
        let raw_session = raw.session.unwrap_or_default();
        let lifetime = raw_session.lifetime_seconds.unwrap_or(DEFAULT_SESSION_LIFETIME_SECONDS);
        if !(60..=30 * 24 * 3600).contains(&lifetime) {
            return Err(ConfigError::top("session.lifetime_seconds", "must be between 60 seconds and 30 days"));
        }
        if let Some(idle) = raw_session.idle_timeout_seconds {
            if !(120..=lifetime).contains(&idle) {
                return Err(ConfigError::top(
                    "session.idle_timeout_seconds",
                    "must be between 120 seconds and session.lifetime_seconds",
                ));
            }
        }
        let origin = match raw.origin {
            None => None,
            Some(o) => {
                let url = check_endpoint_url(o.url.trim()).map_err(|r| ConfigError::top("origin.url", r))?;
                if url.query().is_some() || url.fragment().is_some() {
                    return Err(ConfigError::top("origin.url", "must not have a query or fragment"));
                }
                let ttl = o.assertion_ttl_seconds.unwrap_or(60);
                if !(10..=3600).contains(&ttl) {
                    return Err(ConfigError::top("origin.assertion_ttl_seconds", "must be between 10 and 3600"));
                }
                Some(OriginSettings { url, assertion_ttl_seconds: ttl })
            }
        };
        let policies = crate::core::policy::parse_policies(raw.policies, &connectors)?;
        let leeway = raw.clock_leeway_seconds.unwrap_or(DEFAULT_CLOCK_LEEWAY_SECONDS);
        if leeway > 300 {
            return Err(ConfigError::top("clock_leeway_seconds", "must be at most 300 seconds"));
        }
        Ok(Config {
            connectors,
            session: SessionSettings {
                lifetime_seconds: lifetime,
                idle_timeout_seconds: raw_session.idle_timeout_seconds,
                encrypt: raw_session.encrypt,
            },
            clock_leeway_seconds: leeway,
            origin,
            policies,
            domain_index,
        })
    }
}

/// A JSON object read field by field, so that every error names the connector and the field path
/// (`domains[1]`, `session.lifetime_seconds`) and unknown fields are refused (a typo is never ignored).
struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
    connector: Option<&'a str>,
}

impl<'a> Fields<'a> {
    fn of(
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

    fn err(&self, name: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::new(self.connector, format!("{}{name}", self.prefix), reason)
    }

    /// The field, absent when missing or `null`.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn opt_str(&self, name: &str) -> Result<Option<String>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.err(name, format!("invalid type: {}, expected a string", kind(other)))),
        }
    }

    fn str(&self, name: &str) -> Result<String, ConfigError> {
        self.opt_str(name)?.ok_or_else(|| self.err(name, format!("missing field `{name}`")))
    }

    fn opt_u64(&self, name: &str) -> Result<Option<u64>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                self.err(name, format!("invalid type: {}, expected a whole number of seconds", kind(v)))
            }),
        }
    }

    fn bool(&self, name: &str) -> Result<bool, ConfigError> {
        match self.get(name) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.err(name, format!("invalid type: {}, expected true or false", kind(other)))),
        }
    }

    fn opt_str_list(&self, name: &str) -> Result<Option<Vec<String>>, ConfigError> {
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

    fn str_list(&self, name: &str) -> Result<Vec<String>, ConfigError> {
        Ok(self.opt_str_list(name)?.unwrap_or_default())
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn read_config(value: &Value) -> Result<RawConfig, ConfigError> {
    let f = Fields::of(value, "", None, &["connectors", "session", "clock_leeway_seconds", "origin", "policies"])?;
    let connectors = match f.get("connectors") {
        Some(Value::Array(items)) => items.clone(),
        Some(other) => {
            return Err(f.err("connectors", format!("invalid type: {}, expected a list of connectors", kind(other))))
        }
        None => return Err(f.err("connectors", "missing field `connectors`")),
    };
    let session = match f.get("session") {
        None => None,
        Some(v) => {
            let s = Fields::of(v, "session.", None, &["lifetime_seconds", "idle_timeout_seconds", "encrypt"])?;
            Some(RawSession {
                lifetime_seconds: s.opt_u64("lifetime_seconds")?,
                idle_timeout_seconds: s.opt_u64("idle_timeout_seconds")?,
                encrypt: s.bool("encrypt")?,
            })
        }
    };
    let origin = match f.get("origin") {
        None => None,
        Some(v) => {
            let o = Fields::of(v, "origin.", None, &["url", "assertion_ttl_seconds"])?;
            Some(RawOrigin { url: o.str("url")?, assertion_ttl_seconds: o.opt_u64("assertion_ttl_seconds")? })
        }
    };
    let policies = match f.get("policies") {
        None => Vec::new(),
        Some(v) => crate::core::policy::read_policies(v)?,
    };
    Ok(RawConfig { connectors, session, clock_leeway_seconds: f.opt_u64("clock_leeway_seconds")?, origin, policies })
}

const CONNECTOR_FIELDS: &[&str] = &[
    "id",
    "kind",
    "display_name",
    "client_id",
    "client_secret_binding",
    "domains",
    "scopes",
    "token_endpoint_auth_method",
    "prompt",
    "max_age",
    "response_mode",
    "claims",
    "issuer",
    "tenant",
    "allowed_tenants",
    "authority",
    "hosted_domains",
    "authorization_endpoint",
    "token_endpoint",
    "graph_me_endpoint",
];

fn read_connector(value: &Value, label: &str) -> Result<RawConnector, ConfigError> {
    let f = Fields::of(value, "", Some(label), CONNECTOR_FIELDS)?;
    let claims = match f.get("claims") {
        None => None,
        Some(v) => {
            let c = Fields::of(v, "claims.", Some(label), &["email", "name"])?;
            Some(RawClaimMapping { email: c.opt_str("email")?, name: c.opt_str("name")? })
        }
    };
    Ok(RawConnector {
        id: f.str("id")?,
        kind: f.str("kind")?,
        display_name: f.opt_str("display_name")?,
        client_id: f.str("client_id")?,
        client_secret_binding: f.str("client_secret_binding")?,
        domains: f.opt_str_list("domains")?.ok_or_else(|| f.err("domains", "missing field `domains`"))?,
        scopes: f.str_list("scopes")?,
        token_endpoint_auth_method: f.opt_str("token_endpoint_auth_method")?,
        prompt: f.opt_str("prompt")?,
        max_age: f.opt_u64("max_age")?,
        response_mode: f.opt_str("response_mode")?,
        claims,
        issuer: f.opt_str("issuer")?,
        tenant: f.opt_str("tenant")?,
        allowed_tenants: f.opt_str_list("allowed_tenants")?,
        authority: f.opt_str("authority")?,
        hosted_domains: f.opt_str_list("hosted_domains")?,
        authorization_endpoint: f.opt_str("authorization_endpoint")?,
        token_endpoint: f.opt_str("token_endpoint")?,
        graph_me_endpoint: f.opt_str("graph_me_endpoint")?,
    })
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
        "entra" => ConnectorKind::Entra,
        "google" => ConnectorKind::Google,
        "facebook" => ConnectorKind::Facebook,
        other => {
            return Err(err(
                "kind",
                format!("unknown kind {other:?}; supported: \"oidc\", \"entra\", \"google\", \"facebook\""),
            ))
        }
    };
    // Fields that belong to other kinds are errors, not silently ignored settings.
    let present: [(&str, bool, &[ConnectorKind]); 11] = {
        use ConnectorKind::*;
        [
            ("issuer", rc.issuer.is_some(), &[Oidc, Google]),
            ("claims", rc.claims.is_some(), &[Oidc]),
            ("tenant", rc.tenant.is_some(), &[Entra]),
            ("allowed_tenants", rc.allowed_tenants.is_some(), &[Entra]),
            ("authority", rc.authority.is_some(), &[Entra]),
            ("hosted_domains", rc.hosted_domains.is_some(), &[Google]),
            ("authorization_endpoint", rc.authorization_endpoint.is_some(), &[Facebook]),
            ("token_endpoint", rc.token_endpoint.is_some(), &[Facebook]),
            ("graph_me_endpoint", rc.graph_me_endpoint.is_some(), &[Facebook]),
            ("prompt", rc.prompt.is_some(), &[Oidc, Entra, Google]),
            ("response_mode", rc.response_mode.is_some(), &[Oidc, Entra, Google]),
        ]
    };
    for (field, is_present, kinds) in present {
        if is_present && !kinds.contains(&kind) {
            let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            return Err(err(field, format!("applies only to kind {}, not {:?}", names.join(" / "), kind.as_str())));
        }
    }
    if kind == ConnectorKind::Facebook {
        if rc.max_age.is_some() {
            return Err(err("max_age", "applies only to OpenID Connect kinds (oidc / entra / google)".into()));
        }
        if rc.token_endpoint_auth_method.is_some() {
            return Err(err("token_endpoint_auth_method", "Facebook takes the app secret in the request".into()));
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
    let domains = normalize_domain_list(&rc.domains, "domains", label)?;
    if domains.is_empty() {
        return Err(err("domains", "at least one email domain is required".into()));
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
    let prompt = match rc.prompt.as_deref() {
        None => None,
        Some("login") => Some(Prompt::Login),
        Some("none") => Some(Prompt::None),
        Some("consent") => Some(Prompt::Consent),
        Some("select_account") => Some(Prompt::SelectAccount),
        Some(other) => {
            return Err(err(
                "prompt",
                format!("{other:?} is not one of \"login\", \"none\", \"consent\", \"select_account\""),
            ))
        }
    };
    let response_mode = match rc.response_mode.as_deref() {
        None | Some("query") => ResponseMode::Query,
        Some("form_post") => ResponseMode::FormPost,
        Some(other) => {
            return Err(err("response_mode", format!("{other:?} is not supported; use \"query\" or \"form_post\"")))
        }
    };
    let (issuer, protocol) = match kind {
        ConnectorKind::Oidc => {
            let issuer = rc.issuer.as_deref().ok_or_else(|| err("issuer", "is required for kind \"oidc\"".into()))?;
            let claims = match rc.claims {
                None => ClaimMapping::default(),
                Some(m) => {
                    let check = |field: &str, v: Option<String>, default: &str| -> Result<String, ConfigError> {
                        match v {
                            None => Ok(default.to_string()),
                            Some(name) if !name.is_empty() && name.len() <= 128 => Ok(name),
                            Some(_) => Err(err(field, "must be a claim name of 1-128 characters".into())),
                        }
                    };
                    ClaimMapping {
                        email: check("claims.email", m.email, "email")?,
                        name: check("claims.name", m.name, "name")?,
                    }
                }
            };
            (
                normalize_issuer(issuer).map_err(|r| err("issuer", r))?,
                Protocol::OpenIdConnect { claims, hosted_domains: vec![], entra: None },
            )
        }
        ConnectorKind::Google => {
            let issuer =
                normalize_issuer(rc.issuer.as_deref().unwrap_or(GOOGLE_ISSUER)).map_err(|r| err("issuer", r))?;
            let hosted_domains =
                normalize_domain_list(rc.hosted_domains.as_deref().unwrap_or_default(), "hosted_domains", label)?;
            (issuer, Protocol::OpenIdConnect { claims: ClaimMapping::default(), hosted_domains, entra: None })
        }
        ConnectorKind::Entra => {
            let authority =
                rc.authority.as_deref().unwrap_or(ENTRA_DEFAULT_AUTHORITY).trim().trim_end_matches('/').to_string();
            check_endpoint_url(&authority).map_err(|r| err("authority", r))?;
            let tenant = rc.tenant.as_deref().map(str::trim).unwrap_or_default().to_ascii_lowercase();
            if tenant.is_empty() {
                return Err(err("tenant", "is required: a tenant id, a domain such as contoso.onmicrosoft.com, \"organizations\", \"common\" or \"consumers\"".into()));
            }
            let mut allowed_tenants = Vec::new();
            for (i, t) in rc.allowed_tenants.as_deref().unwrap_or_default().iter().enumerate() {
                let t = t.trim().to_ascii_lowercase();
                if !is_guid(&t) {
                    return Err(err(&format!("allowed_tenants[{i}]"), format!("{t:?} is not a tenant id (a GUID)")));
                }
                if !allowed_tenants.contains(&t) {
                    allowed_tenants.push(t);
                }
            }
            let tenancy = match tenant.as_str() {
                "common" | "organizations" => {
                    if allowed_tenants.is_empty() {
                        return Err(err(
                            "allowed_tenants",
                            format!("is required with tenant {tenant:?}: list the tenant ids that may sign in (otherwise any Entra tenant could)"),
                        ));
                    }
                    EntraTenancy::Multi { allowed_tenants }
                }
                "consumers" => {
                    if !allowed_tenants.is_empty() {
                        return Err(err("allowed_tenants", "does not apply to tenant \"consumers\"".into()));
                    }
                    EntraTenancy::Consumers
                }
                t if is_guid(t) || normalize_domain(t).is_some() => {
                    EntraTenancy::Single { tenant: t.to_string(), allowed_tenants }
                }
                _ => {
                    return Err(err(
                        "tenant",
                        format!("{tenant:?} is neither a tenant id, a domain, nor organizations/common/consumers"),
                    ))
                }
            };
            let issuer = format!("{authority}/{tenant}/v2.0");
            (
                issuer,
                Protocol::OpenIdConnect {
                    claims: ClaimMapping::default(),
                    hosted_domains: vec![],
                    entra: Some(EntraSettings { authority, tenancy }),
                },
            )
        }
        ConnectorKind::Facebook => {
            let endpoint = |field: &str, v: &Option<String>, default: &str| -> Result<String, ConfigError> {
                let u = v.as_deref().unwrap_or(default).trim().to_string();
                check_endpoint_url(&u).map_err(|r| err(field, r))?;
                Ok(u)
            };
            (
                FACEBOOK_ISSUER.to_string(),
                Protocol::Facebook {
                    authorization_endpoint: endpoint(
                        "authorization_endpoint",
                        &rc.authorization_endpoint,
                        FACEBOOK_AUTHORIZATION_ENDPOINT,
                    )?,
                    token_endpoint: endpoint("token_endpoint", &rc.token_endpoint, FACEBOOK_TOKEN_ENDPOINT)?,
                    graph_me_endpoint: endpoint(
                        "graph_me_endpoint",
                        &rc.graph_me_endpoint,
                        FACEBOOK_GRAPH_ME_ENDPOINT,
                    )?,
                },
            )
        }
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
        prompt,
        max_age: rc.max_age,
        response_mode,
        protocol,
    })
}

/// Trim, drop a `/.well-known/openid-configuration` suffix, require https (or loopback http), no query.
fn normalize_issuer(text: &str) -> Result<String, String> {
    let issuer = text.trim();
    let issuer = issuer.strip_suffix("/.well-known/openid-configuration").unwrap_or(issuer).to_string();
    let u = check_endpoint_url(&issuer)?;
    if u.query().is_some() || u.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    Ok(issuer)
}

fn normalize_domain_list(list: &[String], field: &str, label: &str) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::with_capacity(list.len());
    for (i, d) in list.iter().enumerate() {
        let n = normalize_domain(d).ok_or_else(|| {
            ConfigError::new(Some(label), format!("{field}[{i}]"), format!("{d:?} is not a valid domain name"))
        })?;
        if out.contains(&n) {
            return Err(ConfigError::new(Some(label), format!("{field}[{i}]"), format!("{d:?} is listed twice")));
        }
        out.push(n);
    }
    Ok(out)
}

/// A GUID in its canonical lowercase 8-4-4-4-12 form.
pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// An issuer or endpoint URL must be `https://`, or `http://` on a loopback host (development only).
pub fn check_endpoint_url(text: &str) -> Result<url::Url, String> {
    // ASCII only (internationalised hosts in their xn-- form): the URL parser's IDNA step is ASCII-only here
    // and must never see anything else (fuzzing found a debug assertion in it for `https://Aé.example/`).
    // Nothing risky reaches the URL parser: its IDNA step is ASCII-only here and has a debug assertion that
    // fuzzing reached four ways (non-ASCII, a percent-encoded host, `https:/host`, `http:////HOST`). So: ASCII,
    // an exact `https://` or `http://` prefix followed by a non-empty authority without `%` or `\`, and the
    // authority lowercased.
    if !text.is_ascii() || text.contains('\\') {
        return Err(format!("{text:?} must be ASCII (write internationalised host names in their xn-- form)"));
    }
    let lower = text.to_ascii_lowercase();
    let scheme_len = if lower.starts_with("https://") {
        8
    } else if lower.starts_with("http://") {
        7
    } else {
        return Err(format!("{text:?} must start with https://"));
    };
    let rest = text.get(scheme_len..).unwrap_or_default();
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_len).unwrap_or_default();
    if authority.contains('%') {
        return Err(format!("{text:?} has a percent-encoded host"));
    }
    // `https:///host`: the URL parser skips the extra slashes and would take the rest, unchecked, as the host.
    if authority.is_empty() {
        return Err(format!("{text:?} has no host after the scheme's //"));
    }
    let normalised = format!(
        "{}{}{}",
        lower.get(..scheme_len).unwrap_or_default(),
        authority.to_ascii_lowercase(),
        rest.get(authority_len..).unwrap_or_default()
    );
    let text = normalised.as_str();
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
    fn non_ascii_urls_are_refused_before_parsing() {
        // Fuzzing regression (fuzz/regressions/config/idna-adapter-*): upper-case ASCII next to non-ASCII in
        // a host reached a debug assertion inside the IDNA adapter.
        for url in [
            "https://Aé.example/",
            "https://idp.exämple",
            "https://idp.example/é",
            "https://R%A9ample/",
            "https://u@R%c3%A9.example/",
            "http:////NNNNNHHHHHHHH4HHH%F8%ers",
            "https:///IDP.example/",
            "https://",
        ] {
            assert!(check_endpoint_url(url).is_err(), "{url}");
        }
        assert!(check_endpoint_url("https://xn--idp-exmple-c5a.example/").is_ok());
        assert_eq!(check_endpoint_url("HTTPS://IDP.Example/Path").unwrap().as_str(), "https://idp.example/Path");
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
        // Every spelling that normalises to the same domain is the same domain.
        for variant in ["shared.example.", "SHARED.EXAMPLE.", " shared.example "] {
            let e = error_of(&json.replace("Shared.Example", variant));
            assert_eq!((e.connector.as_deref(), e.field.as_str()), (Some("b"), "domains[0]"), "{variant:?}");
        }
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
    fn arrays_are_not_read_as_objects() {
        assert_eq!(error_of(r#"[[{"id":"a"}]]"#).field, "(document)");
        let e = error_of(r#"{"connectors":[["acme","oidc","edge","S",["a.example"]]]}"#);
        assert_eq!((e.connector.as_deref(), e.field.as_str()), (Some("#1"), "(connector)"));
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

    fn one(connector: &str) -> Result<Config, ConfigError> {
        Config::from_json(&format!(r#"{{"connectors":[{connector}]}}"#))
    }

    const BASE: &str = r#""id":"x","client_id":"c","client_secret_binding":"S","domains":["x.example"]"#;

    #[test]
    fn entra_tenancies() {
        let guid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let c = one(&format!(
            r#"{{{BASE},"kind":"entra","tenant":"organizations","allowed_tenants":["{}"]}}"#,
            guid.to_uppercase()
        ))
        .unwrap();
        let x = &c.connectors[0];
        assert_eq!(x.issuer, "https://login.microsoftonline.com/organizations/v2.0");
        assert_eq!(
            x.discovery_url(),
            "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration"
        );
        match &x.protocol {
            Protocol::OpenIdConnect { entra: Some(e), .. } => {
                assert_eq!(e.tenancy, EntraTenancy::Multi { allowed_tenants: vec![guid.to_string()] })
            }
            other => panic!("{other:?}"),
        }
        // Multi-tenant authorities need an allow-list: otherwise any tenant in the world could sign in.
        for t in ["common", "organizations"] {
            let e = one(&format!(r#"{{{BASE},"kind":"entra","tenant":"{t}"}}"#)).unwrap_err();
            assert_eq!(e.field, "allowed_tenants", "{t}");
        }
        assert!(one(&format!(r#"{{{BASE},"kind":"entra","tenant":"consumers"}}"#)).is_ok());
        assert!(one(&format!(r#"{{{BASE},"kind":"entra","tenant":"{guid}"}}"#)).is_ok());
        assert!(one(&format!(r#"{{{BASE},"kind":"entra","tenant":"contoso.onmicrosoft.com"}}"#)).is_ok());
        assert_eq!(one(&format!(r#"{{{BASE},"kind":"entra"}}"#)).unwrap_err().field, "tenant");
        assert_eq!(
            one(&format!(r#"{{{BASE},"kind":"entra","tenant":"no such thing!"}}"#)).unwrap_err().field,
            "tenant"
        );
        assert_eq!(
            one(&format!(r#"{{{BASE},"kind":"entra","tenant":"common","allowed_tenants":["not-a-guid"]}}"#))
                .unwrap_err()
                .field,
            "allowed_tenants[0]"
        );
        let national = one(&format!(
            r#"{{{BASE},"kind":"entra","tenant":"{guid}","authority":"https://login.microsoftonline.us/"}}"#
        ))
        .unwrap();
        assert_eq!(national.connectors[0].issuer, format!("https://login.microsoftonline.us/{guid}/v2.0"));
    }

    #[test]
    fn google_and_facebook_defaults() {
        let g = one(&format!(r#"{{{BASE},"kind":"google","hosted_domains":["X.example"]}}"#)).unwrap();
        assert_eq!(g.connectors[0].issuer, GOOGLE_ISSUER);
        assert!(
            matches!(&g.connectors[0].protocol, Protocol::OpenIdConnect { hosted_domains, .. } if hosted_domains == &["x.example"])
        );
        let f = one(&format!(r#"{{{BASE},"kind":"facebook"}}"#)).unwrap();
        assert_eq!(f.connectors[0].issuer, FACEBOOK_ISSUER);
        assert!(
            matches!(&f.connectors[0].protocol, Protocol::Facebook { graph_me_endpoint, .. } if graph_me_endpoint == FACEBOOK_GRAPH_ME_ENDPOINT)
        );
    }

    #[test]
    fn fields_of_other_kinds_are_refused_by_name() {
        let e =
            one(&format!(r#"{{{BASE},"kind":"oidc","issuer":"https://i.example","tenant":"common"}}"#)).unwrap_err();
        assert_eq!(e.field, "tenant");
        assert!(e.reason.contains("entra"), "{e}");
        assert_eq!(
            one(&format!(r#"{{{BASE},"kind":"google","claims":{{"email":"mail"}}}}"#)).unwrap_err().field,
            "claims"
        );
        assert_eq!(one(&format!(r#"{{{BASE},"kind":"facebook","prompt":"login"}}"#)).unwrap_err().field, "prompt");
        assert_eq!(one(&format!(r#"{{{BASE},"kind":"facebook","max_age":5}}"#)).unwrap_err().field, "max_age");
        assert_eq!(one(&format!(r#"{{{BASE},"kind":"oidc"}}"#)).unwrap_err().field, "issuer");
    }

    #[test]
    fn oidc_options() {
        let c = one(&format!(
            r#"{{{BASE},"kind":"oidc","issuer":"https://i.example","prompt":"select_account","max_age":300,"response_mode":"form_post","claims":{{"email":"mail","name":"display_name"}}}}"#
        ))
        .unwrap();
        let x = &c.connectors[0];
        assert_eq!(x.prompt, Some(Prompt::SelectAccount));
        assert_eq!(x.max_age, Some(300));
        assert_eq!(x.response_mode, ResponseMode::FormPost);
        assert!(
            matches!(&x.protocol, Protocol::OpenIdConnect { claims, .. } if claims.email == "mail" && claims.name == "display_name")
        );
        assert_eq!(
            one(&format!(r#"{{{BASE},"kind":"oidc","issuer":"https://i.example","prompt":"always"}}"#))
                .unwrap_err()
                .field,
            "prompt"
        );
        assert_eq!(
            one(&format!(r#"{{{BASE},"kind":"oidc","issuer":"https://i.example","response_mode":"fragment"}}"#))
                .unwrap_err()
                .field,
            "response_mode"
        );
        assert_eq!(
            one(&format!(r#"{{{BASE},"kind":"oidc","issuer":"https://i.example","claims":{{"email":""}}}}"#))
                .unwrap_err()
                .field,
            "claims.email"
        );
    }
}
