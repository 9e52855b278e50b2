//! `AUTH_CONFIG`: JSON text -> validated [`Config`].
//!
//! Read with one field reader ([`fields`]) so that every error names the connector (by `id`, or by position
//! when it has none), the field, and why; unknown fields are refused so that a typo (`domian`) is an error,
//! not a silently ignored setting. By concern: [`connector`] (the validated connector and its kinds),
//! [`connectors`] (reading and validating one connector, one function per kind), [`session`] (session and
//! origin settings), [`policies`] (access rules), [`urls`] (issuer and endpoint URLs, domain lists), [`error`].

pub mod connector;
pub mod connectors;
pub mod cors;
pub mod error;
pub mod fields;
pub mod pages;
pub mod policies;
pub mod saml;
/// The JSON Schema of `AUTH_CONFIG` and its validator: host-only, for `edge-auth-check`.
#[cfg(feature = "cli")]
pub mod schema;
pub mod service_tokens;
pub mod session;
pub mod urls;
#[cfg(feature = "saml")]
pub mod wsfed;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::Value;

pub use self::connector::{
    ClaimMapping, Connector, ConnectorKind, EntraSettings, EntraTenancy, Prompt, Protocol, ResponseMode,
    TokenEndpointAuthMethod, ENTRA_CONSUMERS_TENANT_ID, ENTRA_DEFAULT_AUTHORITY, FACEBOOK_AUTHORIZATION_ENDPOINT,
    FACEBOOK_GRAPH_ME_ENDPOINT, FACEBOOK_ISSUER, FACEBOOK_TOKEN_ENDPOINT, GOOGLE_ISSUER,
};
pub use self::error::{ConfigError, ConfigErrors};
pub use self::saml::{SamlConnector, SamlIdp, XmlProtocol};
pub use self::session::{OriginSettings, SessionSettings, DEFAULT_SESSION_LIFETIME_SECONDS};
pub use self::urls::{check_endpoint_url, is_guid};
use crate::core::config::connectors::{read_connector, validate_connector};
use crate::core::config::fields::{kind, Fields};
use crate::core::config::policies::{read_raw_policies, validate_policies};
use crate::core::config::session::{check_origin, check_session, read_origin, read_session};
use crate::core::cors::CorsRule;
use crate::core::policy::Policy;
use crate::core::service_token::ServiceToken;
pub use crate::core::url::is_loopback_host;

/// Default clock leeway for time claims.
pub const DEFAULT_CLOCK_LEEWAY_SECONDS: u64 = 60;

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The OAuth 2.0 / OpenID Connect connectors (kinds `oidc`, `entra`, `google`, `facebook`).
    pub connectors: Vec<Connector>,
    /// The connectors whose IdPs answer with SAML assertions: SAML 2.0 (kind `saml`) and WS-Federation (kind
    /// `wsfed`), told apart by [`SamlConnector::protocol`].
    pub saml_connectors: Vec<SamlConnector>,
    pub session: SessionSettings,
    pub clock_leeway_seconds: u64,
    pub origin: Option<OriginSettings>,
    pub policies: Vec<Policy>,
    /// Machine clients' tokens (`service_tokens`), see [`crate::core::service_token`].
    pub service_tokens: Vec<ServiceToken>,
    /// CORS for API paths (`cors`), see [`crate::core::cors`].
    pub cors: Vec<CorsRule>,
    /// `"pages"`: the visitor pages' language and branding.
    pub pages: crate::core::pages::PageSettings,
    domain_index: BTreeMap<String, ConnectorIndex>,
}

/// Which connector owns a domain: its protocol family and its position in that family's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnectorIndex {
    OAuth(usize),
    Saml(usize),
}

/// A connector of either protocol family, as routing finds it (by email domain or by id).
#[derive(Debug, Clone, Copy)]
pub enum AnyConnector<'a> {
    OAuth(&'a Connector),
    /// SAML 2.0 or WS-Federation ([`SamlConnector::protocol`]).
    Saml(&'a SamlConnector),
}

impl Config {
    /// Parse and validate `AUTH_CONFIG` text: the first error found (see [`Config::from_json_all`] for all).
    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        Config::from_json_all(text).map_err(|e| e.first().clone())
    }

    /// Parse and validate `AUTH_CONFIG` text, with every error found: each connector and each top-level section
    /// is read on its own, and the cross-checks (unique ids and domains) run over the connectors that could be
    /// read; inside one connector (or one section, or one rule of `policies`), reading stops at its first error.
    pub fn from_json_all(text: &str) -> Result<Config, ConfigErrors> {
        if !text.trim_start().starts_with('{') {
            return Err(ConfigError::top("(document)", "must be a JSON object with a \"connectors\" array").into());
        }
        // The one strict reader (core::json): a member given twice (two `connectors`, a key written twice in one
        // connector) is refused, never read as its last value.
        let value: Value = crate::core::json::parse(text.as_bytes())
            .map_err(|e| ConfigError::top("(document)", format!("not valid JSON: {e}")))?;
        let mut errors = Vec::new();
        let config = read_config(&value, &mut errors);
        // A section is missing only with its error.
        match config {
            Some(config) if errors.is_empty() => Ok(config),
            _ => Err(ConfigErrors::new(errors)),
        }
    }

    /// The OAuth / OpenID Connect connector with this id.
    pub fn connector(&self, id: &str) -> Option<&Connector> {
        self.connectors.iter().find(|c| c.id == id)
    }

    /// The SAML 2.0 connector (kind `saml`) with this id — never a WS-Federation one: each protocol's routes
    /// answer for its own connectors only.
    pub fn saml_connector(&self, id: &str) -> Option<&SamlConnector> {
        self.xml_connector(id).filter(|c| c.protocol == XmlProtocol::Saml2)
    }

    /// The WS-Federation connector (kind `wsfed`) with this id.
    pub fn wsfed_connector(&self, id: &str) -> Option<&SamlConnector> {
        self.xml_connector(id).filter(|c| c.protocol == XmlProtocol::WsFederation)
    }

    /// The SAML or WS-Federation connector with this id.
    pub fn xml_connector(&self, id: &str) -> Option<&SamlConnector> {
        self.saml_connectors.iter().find(|c| c.id == id)
    }

    /// The connector of either family with this id (ids are unique across both).
    pub fn any_connector(&self, id: &str) -> Option<AnyConnector<'_>> {
        self.connector(id).map(AnyConnector::OAuth).or_else(|| self.xml_connector(id).map(AnyConnector::Saml))
    }

    /// The OAuth / OpenID Connect connector owning a normalised domain (`None` also when a SAML one owns it).
    pub fn connector_for_domain(&self, domain: &str) -> Option<&Connector> {
        match self.connector_owning(domain)? {
            AnyConnector::OAuth(c) => Some(c),
            AnyConnector::Saml(_) => None,
        }
    }

    /// The connector, of either family, owning a normalised domain.
    pub fn connector_owning(&self, domain: &str) -> Option<AnyConnector<'_>> {
        match *self.domain_index.get(domain)? {
            ConnectorIndex::OAuth(i) => self.connectors.get(i).map(AnyConnector::OAuth),
            ConnectorIndex::Saml(i) => self.saml_connectors.get(i).map(AnyConnector::Saml),
        }
    }
}

impl AnyConnector<'_> {
    pub fn id(&self) -> &str {
        match self {
            AnyConnector::OAuth(c) => &c.id,
            AnyConnector::Saml(c) => &c.id,
        }
    }

    pub fn domains(&self) -> &[String] {
        match self {
            AnyConnector::OAuth(c) => &c.domains,
            AnyConnector::Saml(c) => &c.domains,
        }
    }
}

/// A `saml` or `wsfed` connector, read by its kind's reader.
#[cfg(feature = "saml")]
fn read_xml_connector(kind: &str, value: &Value, label: &str) -> Result<SamlConnector, ConfigError> {
    match kind {
        "wsfed" => self::wsfed::read_wsfed_connector(value, label),
        _ => self::saml::read_saml_connector(value, label),
    }
}

/// The build without the XML protocols: a `saml` or `wsfed` connector is refused, with the build that reads it
/// (and none of the reading code ships in the OIDC-only worker).
#[cfg(not(feature = "saml"))]
fn read_xml_connector(kind: &str, _value: &Value, label: &str) -> Result<SamlConnector, ConfigError> {
    Err(ConfigError::new(
        Some(label),
        "kind",
        format!(
            "{kind:?} needs the build of edge-auth with SAML and WS-Federation: build with \
             `EDGE_AUTH_FEATURES=saml bash scripts/build.sh` (wrangler.toml's [build] command)"
        ),
    ))
}

/// The top-level fields of `AUTH_CONFIG`.
pub(crate) const TOP_FIELDS: &[&str] =
    &["connectors", "session", "clock_leeway_seconds", "origin", "policies", "service_tokens", "cors", "pages"];

/// Each section read and validated on its own, so that an error in one does not hide another's (in the order
/// in which the reader of the first error only met them: every type error, then every rule); `None` when any
/// error was found.
fn read_config(value: &Value, errors: &mut Vec<ConfigError>) -> Option<Config> {
    // An unknown top-level field (the first) is reported, and the sections are still read.
    let f = match Fields::of(value, "", None, TOP_FIELDS) {
        Ok(f) => f,
        Err(e) => {
            errors.push(e);
            Fields::unchecked(value)?
        }
    };
    let connectors = match f.get("connectors") {
        Some(Value::Array(items)) => Some(items),
        Some(other) => {
            errors.push(f.err("connectors", format!("invalid type: {}, expected a list of connectors", kind(other))));
            None
        }
        None => {
            errors.push(f.err("connectors", "missing field `connectors`"));
            None
        }
    };
    let session = read_session(f.get("session")).map_err(|e| errors.push(e)).ok();
    let origin = read_origin(f.get("origin")).map_err(|e| errors.push(e)).ok().flatten();
    let policies = read_raw_policies(f.get("policies")).map_err(|e| errors.extend(e)).ok();
    let leeway = f.opt_u64("clock_leeway_seconds").map_err(|e| errors.push(e)).ok().flatten();
    let service_tokens =
        self::service_tokens::read_service_tokens(f.get("service_tokens")).map_err(|e| errors.push(e)).ok();
    let cors = self::cors::read_cors(f.get("cors")).map_err(|e| errors.push(e)).ok();
    let pages = self::pages::read_pages(f.get("pages")).map_err(|e| errors.push(e)).ok();
    let read = connectors.map(|values| read_connectors(values, errors));
    if let Some(Err(e)) = session.as_ref().map(check_session) {
        errors.push(e);
    }
    let origin = check_origin(origin).map_err(|e| errors.push(e)).ok().flatten();
    // Group grants name connectors: checked only against a complete list (a connector in error would make
    // its grants errors too).
    // Service tokens must not take a connector's id, and rules may name tokens: both checked only against
    // complete lists too.
    let policies = match (&read, policies, &service_tokens) {
        (Some(c), Some(policies), Some(tokens)) if c.complete => {
            let ids = c.connectors.iter().map(|c| c.id.as_str()).chain(c.saml_connectors.iter().map(|c| c.id.as_str()));
            match self::service_tokens::check_connector_ids(tokens, ids) {
                Ok(()) => validate_policies(policies, &c.connectors, &c.saml_connectors, tokens)
                    .map_err(|e| errors.push(e))
                    .ok(),
                Err(e) => {
                    errors.push(e);
                    None
                }
            }
        }
        _ => None,
    };
    let leeway = leeway.unwrap_or(DEFAULT_CLOCK_LEEWAY_SECONDS);
    if leeway > 300 {
        errors.push(ConfigError::top("clock_leeway_seconds", "must be at most 300 seconds"));
    }
    let (Some(read), Some(session), Some(policies), Some(service_tokens), Some(cors), Some(pages), true) =
        (read, session, policies, service_tokens, cors, pages, errors.is_empty())
    else {
        return None;
    };
    Some(Config {
        connectors: read.connectors,
        saml_connectors: read.saml_connectors,
        session,
        clock_leeway_seconds: leeway,
        origin,
        policies,
        service_tokens,
        cors,
        pages,
        domain_index: read.domain_index,
    })
}

/// The connectors (each read on its own) and the rules across them: unique ids and domains.
struct Connectors {
    connectors: Vec<Connector>,
    saml_connectors: Vec<SamlConnector>,
    domain_index: BTreeMap<String, ConnectorIndex>,
    /// Whether every connector was read (the policies are checked against them only then).
    complete: bool,
}

fn read_connectors(values: &[Value], errors: &mut Vec<ConfigError>) -> Connectors {
    if values.is_empty() {
        errors.push(ConfigError::top("connectors", "at least one connector is required"));
    }
    let mut connectors: Vec<Connector> = Vec::with_capacity(values.len());
    let mut saml_connectors: Vec<SamlConnector> = Vec::new();
    let mut domain_index = BTreeMap::new();
    let mut complete = true;
    for (position, value) in values.iter().enumerate() {
        let label = value
            .get("id")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("#{}", position + 1));
        let read = if let Some(kind @ ("saml" | "wsfed")) = value.get("kind").and_then(Value::as_str) {
            read_xml_connector(kind, value, &label).map(|c| {
                saml_connectors.push(c);
                ConnectorIndex::Saml(saml_connectors.len() - 1)
            })
        } else {
            read_connector(value, &label).and_then(|raw| validate_connector(raw, &label)).map(|c| {
                connectors.push(c);
                ConnectorIndex::OAuth(connectors.len() - 1)
            })
        };
        let index = match read {
            Ok(index) => index,
            Err(e) => {
                errors.push(e);
                complete = false;
                continue;
            }
        };
        // Ids and domains are unique across both families.
        let id_of = |index: ConnectorIndex| match index {
            ConnectorIndex::OAuth(i) => connectors.get(i).map(|c| c.id.as_str()),
            ConnectorIndex::Saml(i) => saml_connectors.get(i).map(|c| c.id.as_str()),
        };
        let id = id_of(index).unwrap_or_default();
        let same_id =
            connectors.iter().filter(|c| c.id == id).count() + saml_connectors.iter().filter(|c| c.id == id).count();
        if same_id > 1 {
            errors.push(ConfigError::new(Some(&label), "id", "another connector has the same id"));
            complete = false;
            continue;
        }
        let domains = match index {
            ConnectorIndex::OAuth(i) => connectors.get(i).map(|c| c.domains.as_slice()),
            ConnectorIndex::Saml(i) => saml_connectors.get(i).map(|c| c.domains.as_slice()),
        };
        for (i, domain) in domains.unwrap_or_default().iter().enumerate() {
            if let Some(&other) = domain_index.get(domain) {
                let other_id = id_of(other).unwrap_or("?");
                errors.push(ConfigError::new(
                    Some(&label),
                    format!("domains[{i}]"),
                    format!(
                        "{domain:?} is already owned by connector {other_id:?}; a domain has exactly one connector"
                    ),
                ));
                complete = false;
                continue;
            }
            domain_index.insert(domain.clone(), index);
        }
    }
    Connectors { connectors, saml_connectors, domain_index, complete }
}
