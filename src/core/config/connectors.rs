//! One connector of `AUTH_CONFIG`: read field by field ([`read_connector`]), then validated — the fields
//! every kind shares in [`validate_connector`], then one function per kind ([`oidc`], [`google`], [`entra`],
//! [`facebook`]) for its issuer and protocol settings.

use serde_json::Value;

use crate::core::config::connector::{
    ClaimMapping, Connector, ConnectorKind, EntraSettings, EntraTenancy, Prompt, Protocol, ResponseMode,
    TokenEndpointAuthMethod, ENTRA_DEFAULT_AUTHORITY, FACEBOOK_AUTHORIZATION_ENDPOINT, FACEBOOK_GRAPH_ME_ENDPOINT,
    FACEBOOK_ISSUER, FACEBOOK_TOKEN_ENDPOINT, GOOGLE_ISSUER,
};
use crate::core::config::error::ConfigError;
use crate::core::config::fields::Fields;
use crate::core::config::urls::{check_endpoint_url, is_guid, normalize_domain_list, normalize_issuer};
use crate::core::routing::normalize_domain;

/// One connector as written. Fields are optional here; which ones a kind requires or accepts is decided in
/// [`validate_connector`] and the per-kind functions, so that a misplaced field gets an error naming the kind it belongs to.
#[derive(Debug, Default)]
pub(crate) struct RawConnector {
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
pub(crate) struct RawClaimMapping {
    email: Option<String>,
    name: Option<String>,
}

impl RawConnector {
    /// Whether a kind-specific field (see [`ConnectorKind::KIND_SPECIFIC_FIELDS`]) was written.
    fn has(&self, field: &str) -> bool {
        match field {
            "issuer" => self.issuer.is_some(),
            "claims" => self.claims.is_some(),
            "tenant" => self.tenant.is_some(),
            "allowed_tenants" => self.allowed_tenants.is_some(),
            "authority" => self.authority.is_some(),
            "hosted_domains" => self.hosted_domains.is_some(),
            "authorization_endpoint" => self.authorization_endpoint.is_some(),
            "token_endpoint" => self.token_endpoint.is_some(),
            "graph_me_endpoint" => self.graph_me_endpoint.is_some(),
            "prompt" => self.prompt.is_some(),
            "response_mode" => self.response_mode.is_some(),
            _ => false,
        }
    }
}

/// The fields of an OAuth / OpenID Connect connector (which ones each kind takes: [`ConnectorKind::KIND_SPECIFIC_FIELDS`]).
pub(crate) const CONNECTOR_FIELDS: &[&str] = &[
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

/// The fields of an `oidc` connector's `claims`.
pub(crate) const CLAIMS_FIELDS: &[&str] = &["email", "name"];

pub(crate) fn read_connector(value: &Value, label: &str) -> Result<RawConnector, ConfigError> {
    let f = Fields::of(value, "", Some(label), CONNECTOR_FIELDS)?;
    let claims = match f.get("claims") {
        None => None,
        Some(v) => {
            let c = Fields::of(v, "claims.", Some(label), CLAIMS_FIELDS)?;
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

/// The fields every kind shares, then the kind's own ([`oidc`], [`google`], [`entra`], [`facebook`]).
pub(crate) fn validate_connector(rc: RawConnector, label: &str) -> Result<Connector, ConfigError> {
    let err = |field: &str, reason: String| ConfigError::new(Some(label), field, reason);
    check_connector_id(&rc.id, label)?;
    let kind = ConnectorKind::parse(&rc.kind).ok_or_else(|| {
        let names: Vec<String> = ConnectorKind::ALL.iter().map(|k| format!("{:?}", k.as_str())).collect();
        err("kind", format!("unknown kind {:?}; supported: {}, \"saml\", \"wsfed\"", rc.kind, names.join(", ")))
    })?;
    // Fields that belong to other kinds are errors, not silently ignored settings.
    for (field, kinds) in ConnectorKind::KIND_SPECIFIC_FIELDS {
        if rc.has(field) && !kinds.contains(&kind) {
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
        ConnectorKind::Oidc => oidc(&rc, label)?,
        ConnectorKind::Google => google(&rc, label)?,
        ConnectorKind::Entra => entra(&rc, label)?,
        ConnectorKind::Facebook => facebook(&rc, label)?,
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

/// A connector id is part of URLs (`/auth/saml/{id}/acs`) and cookies: 1-64 characters of a-z, 0-9, - and _.
pub(crate) fn check_connector_id(id: &str, label: &str) -> Result<(), ConfigError> {
    if id.is_empty()
        || id.len() > 64
        || !id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(ConfigError::new(Some(label), "id", "must be 1-64 characters of a-z, 0-9, - and _"));
    }
    Ok(())
}

/// `oidc`: any OpenID Connect provider, by its issuer's discovery document; claims may be renamed.
fn oidc(rc: &RawConnector, label: &str) -> Result<(String, Protocol), ConfigError> {
    let err = |field: &str, reason: String| ConfigError::new(Some(label), field, reason);
    let issuer = rc.issuer.as_deref().ok_or_else(|| err("issuer", "is required for kind \"oidc\"".into()))?;
    let claims = match &rc.claims {
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
                email: check("claims.email", m.email.clone(), "email")?,
                name: check("claims.name", m.name.clone(), "name")?,
            }
        }
    };
    Ok((
        normalize_issuer(issuer).map_err(|r| err("issuer", r))?,
        Protocol::OpenIdConnect { claims, hosted_domains: vec![], entra: None },
    ))
}

/// `google`: Google accounts; `hosted_domains` pins Workspace domains (`hd`).
fn google(rc: &RawConnector, label: &str) -> Result<(String, Protocol), ConfigError> {
    let err = |field: &str, reason: String| ConfigError::new(Some(label), field, reason);
    let issuer = normalize_issuer(rc.issuer.as_deref().unwrap_or(GOOGLE_ISSUER)).map_err(|r| err("issuer", r))?;
    let hosted_domains =
        normalize_domain_list(rc.hosted_domains.as_deref().unwrap_or_default(), "hosted_domains", label)?;
    Ok((issuer, Protocol::OpenIdConnect { claims: ClaimMapping::default(), hosted_domains, entra: None }))
}

/// `entra`: Microsoft Entra ID v2.0, one tenant or several (`allowed_tenants`), or personal accounts.
fn entra(rc: &RawConnector, label: &str) -> Result<(String, Protocol), ConfigError> {
    let err = |field: &str, reason: String| ConfigError::new(Some(label), field, reason);
    let authority = rc.authority.as_deref().unwrap_or(ENTRA_DEFAULT_AUTHORITY).trim().trim_end_matches('/').to_string();
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
    Ok((
        issuer,
        Protocol::OpenIdConnect {
            claims: ClaimMapping::default(),
            hosted_domains: vec![],
            entra: Some(EntraSettings { authority, tenancy }),
        },
    ))
}

/// `facebook`: Facebook Login (OAuth 2.0 and the Graph API; no ID token).
fn facebook(rc: &RawConnector, label: &str) -> Result<(String, Protocol), ConfigError> {
    let err = |field: &str, reason: String| ConfigError::new(Some(label), field, reason);
    let endpoint = |field: &str, v: &Option<String>, default: &str| -> Result<String, ConfigError> {
        let u = v.as_deref().unwrap_or(default).trim().to_string();
        check_endpoint_url(&u).map_err(|r| err(field, r))?;
        Ok(u)
    };
    Ok((
        FACEBOOK_ISSUER.to_string(),
        Protocol::Facebook {
            authorization_endpoint: endpoint(
                "authorization_endpoint",
                &rc.authorization_endpoint,
                FACEBOOK_AUTHORIZATION_ENDPOINT,
            )?,
            token_endpoint: endpoint("token_endpoint", &rc.token_endpoint, FACEBOOK_TOKEN_ENDPOINT)?,
            graph_me_endpoint: endpoint("graph_me_endpoint", &rc.graph_me_endpoint, FACEBOOK_GRAPH_ME_ENDPOINT)?,
        },
    ))
}
