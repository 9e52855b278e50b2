//! `kind: "wsfed"` connectors: a WS-Federation passive requestor IdP (AD FS, Microsoft Entra ID) that the email
//! domains in `domains` sign in with. A WS-Fed connector is a [`SamlConnector`] with the protocol
//! [`XmlProtocol::WsFederation`] (its tokens are SAML 1.1 or SAML 2.0 assertions, read by the same XML core).
//! Signing in needs the build with the XML protocols (cargo feature `saml`): without it, a WS-Fed connector is
//! refused when the configuration is loaded, with the command that builds it.
//!
//! The IdP comes from its federation metadata (`metadata_url`, fetched and cached like discovery documents) or
//! inline (`issuer` + `sso_url` + `certificates`), never from both. `realm` is the `wtrealm` (default
//! `https://SITE/auth/wsfed/{id}`), the audience of the tokens; `email_claim` names the claim that holds the
//! email (then that claim only).

use serde_json::Value;

use crate::core::config::error::ConfigError;
use crate::core::config::fields::Fields;
use crate::core::config::saml::SamlConnector;
use crate::core::config::saml::{read_id_and_domains, read_idp, read_name, IdpFields, XmlProtocol};

/// The fields of a `wsfed` connector.
pub(crate) const WSFED_CONNECTOR_FIELDS: &[&str] = &[
    "id",
    "kind",
    "display_name",
    "domains",
    "metadata_url",
    "issuer",
    "sso_url",
    "certificates",
    "realm",
    "email_claim",
];

const WSFED_IDP_FIELDS: IdpFields = IdpFields {
    metadata_url: "metadata_url",
    entity_id: "issuer",
    sso_url: "sso_url",
    certificates: "certificates",
    entity_id_meaning: "the IdP's issuer, as its tokens name it",
    sso_url_meaning: "the IdP's passive requestor endpoint, e.g. https://adfs.example/adfs/ls/",
};

/// Read and validate one `wsfed` connector (`label`: its id, or its position, for errors).
pub(crate) fn read_wsfed_connector(value: &Value, label: &str) -> Result<SamlConnector, ConfigError> {
    let f = Fields::of(value, "", Some(label), WSFED_CONNECTOR_FIELDS)?;
    let (id, domains) = read_id_and_domains(&f, label)?;
    let idp = read_idp(&f, label, &WSFED_IDP_FIELDS)?;
    let realm = read_name(&f, label, "realm", 1024, "must be a URI of 1-1024 characters (the wtrealm)")?;
    let email_claim = read_name(&f, label, "email_claim", 256, "must be a claim name of 1-256 characters")?;
    let display_name = f.opt_str("display_name")?.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    Ok(SamlConnector {
        display_name: display_name.unwrap_or_else(|| id.clone()),
        id,
        protocol: XmlProtocol::WsFederation,
        domains,
        idp,
        sp_entity_id: realm,
        email_attribute: email_claim,
        // WS-Federation has no such option: SHA-1 stays refused.
        allow_sha1: false,
        idp_initiated: false,
        encryption: None,
    })
}
