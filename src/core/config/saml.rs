//! `kind: "saml"` connectors: a SAML 2.0 IdP (Entra enterprise apps, AD FS, Okta, Shibboleth...) that the
//! email domains in `domains` sign in with. Read here whatever the build; signing in needs the build with
//! SAML (cargo feature `saml`): without it, a SAML connector is refused when the configuration is loaded, with
//! the command that builds it.
//!
//! The IdP comes from its metadata (`idp_metadata_url`, fetched and cached like discovery documents) or inline
//! (`idp_entity_id` + `idp_sso_url` + `idp_certificates`), never from both.

#[cfg(feature = "saml")]
use serde_json::Value;

#[cfg(feature = "saml")]
use crate::core::config::connectors::check_connector_id;
#[cfg(feature = "saml")]
use crate::core::config::error::ConfigError;
#[cfg(feature = "saml")]
use crate::core::config::fields::Fields;
#[cfg(feature = "saml")]
use crate::core::config::urls::{check_endpoint_url, normalize_domain_list};

/// The fields of a `saml` connector.
#[cfg(feature = "saml")]
pub(crate) const SAML_CONNECTOR_FIELDS: &[&str] = &[
    "id",
    "kind",
    "display_name",
    "domains",
    "idp_metadata_url",
    "idp_entity_id",
    "idp_sso_url",
    "idp_certificates",
    "sp_entity_id",
    "email_attribute",
    "allow_sha1",
    "idp_initiated",
    "sp_encryption_certificate",
    "sp_decryption_key_binding",
];

/// The most signing certificates an IdP may list (rollover needs two; a few more are tolerated).
pub const MAX_IDP_CERTIFICATES: usize = 8;

/// Which protocol carries the connector's SAML assertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlProtocol {
    /// `kind: "saml"`: SAML 2.0 Web Browser SSO (an `AuthnRequest`, a `Response` posted to the ACS).
    Saml2,
    /// `kind: "wsfed"`: WS-Federation passive requestor (`wa=wsignin1.0`, a `wresult` posted to the reply URL),
    /// whose token is a SAML 1.1 or SAML 2.0 assertion.
    WsFederation,
}

/// A validated connector whose IdP answers with SAML assertions: `kind: "saml"` or `kind: "wsfed"`
/// ([`SamlConnector::protocol`]). Both share the IdP (inline or from metadata), the routing by domain, the
/// transaction cookie and the session; the fields that only one protocol has say so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlConnector {
    pub id: String,
    pub protocol: XmlProtocol,
    pub display_name: String,
    /// Normalised email domains this connector owns.
    pub domains: Vec<String>,
    pub idp: SamlIdp,
    /// This relying party's name at the IdP, the audience of its assertions: SAML `sp_entity_id` (`None` =
    /// `https://SITE/auth/saml/{id}/metadata`), WS-Federation `realm` (`None` = `https://SITE/auth/wsfed/{id}`).
    /// See [`SamlConnector::audience`].
    pub sp_entity_id: Option<String>,
    /// Where the email is when it is not found the usual way: SAML `email_attribute` (when the NameID is not an
    /// email address), WS-Federation `email_claim` (that claim and no other).
    pub email_attribute: Option<String>,
    /// `allow_sha1` (default `false`): accept this IdP's RSA-SHA1 signatures and SHA-1 digests. **Deprecated**:
    /// SHA-1 collisions are practical (SHAttered, 2017; chosen-prefix ones, 2020): a document made to collide
    /// with one the IdP signed carries its signature. Only for an IdP that cannot be configured to sign with
    /// RSA-SHA256; still never ECDSA-SHA1, DSA or HMAC. Other connectors, OpenID Connect and WS-Federation keep
    /// refusing SHA-1, and `edge-auth-check` warns about every connector that sets it.
    pub allow_sha1: bool,
    /// An IdP-initiated response (one no request of this browser asked for) starts an SP-initiated sign-in
    /// with the same IdP instead of being refused; it never creates a session by itself.
    pub idp_initiated: bool,
    /// Encrypted assertions: the SP's encryption certificate and the Worker secret holding its private key.
    pub encryption: Option<SpEncryption>,
}

/// The SP's key pair for encrypted assertions (`sp_encryption_certificate` + `sp_decryption_key_binding`): the
/// IdP encrypts to the certificate (published in the SP metadata); the worker decrypts with the private key, read
/// from the Worker secret at request time (never from `AUTH_CONFIG`, never logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpEncryption {
    /// The certificate as base64 DER (no PEM armour, no whitespace): what the metadata publishes.
    pub certificate_base64: String,
    /// The name of the Worker secret holding the private key (PKCS #8 PEM, `-----BEGIN PRIVATE KEY-----`).
    pub key_binding: String,
}

/// Where the IdP's entity ID, SSO URL and signing certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SamlIdp {
    /// The IdP's metadata document (`EntityDescriptor` with an `IDPSSODescriptor`).
    Metadata { url: String },
    /// Written in `AUTH_CONFIG`.
    Inline {
        entity_id: String,
        sso_url: String,
        /// PEM or base64 DER, as written (checked when the configuration is loaded by the SAML build).
        certificates: Vec<String>,
    },
}

impl SamlConnector {
    pub fn owns_domain(&self, domain: &str) -> bool {
        self.domains.iter().any(|d| d == domain)
    }

    /// `/auth/saml/{id}/acs` on `origin`: where the IdP posts its response.
    pub fn acs_url(&self, origin: &str) -> String {
        format!("{origin}/auth/saml/{}/acs", self.id)
    }

    /// `/auth/saml/{id}/metadata` on `origin`: the SP's metadata (and its default entity ID).
    pub fn metadata_url(&self, origin: &str) -> String {
        format!("{origin}/auth/saml/{}/metadata", self.id)
    }

    /// The SP's entity ID: the configured one, else the metadata URL on `origin`.
    pub fn sp_entity_id(&self, origin: &str) -> String {
        self.sp_entity_id.clone().unwrap_or_else(|| self.metadata_url(origin))
    }

    /// `/auth/wsfed/{id}` on `origin`: where a WS-Federation IdP posts its `wresult` (the `wreply`).
    pub fn reply_url(&self, origin: &str) -> String {
        format!("{origin}/auth/wsfed/{}", self.id)
    }

    /// Where the IdP posts its answer: the ACS URL (SAML) or the reply URL (WS-Federation).
    pub fn return_url(&self, origin: &str) -> String {
        match self.protocol {
            XmlProtocol::Saml2 => self.acs_url(origin),
            XmlProtocol::WsFederation => self.reply_url(origin),
        }
    }

    /// The audience of the IdP's assertions: the SP's entity ID (SAML) or the realm, `wtrealm` (WS-Federation;
    /// by default the reply URL).
    pub fn audience(&self, origin: &str) -> String {
        match self.protocol {
            XmlProtocol::Saml2 => self.sp_entity_id(origin),
            XmlProtocol::WsFederation => self.sp_entity_id.clone().unwrap_or_else(|| self.reply_url(origin)),
        }
    }
}

/// Read and validate one `saml` connector (`label`: its id, or its position, for errors). Inline certificates
/// are read here: an unreadable or too weak one is a configuration error, not a refusal at the first sign-in.
#[cfg(feature = "saml")]
pub(crate) fn read_saml_connector(value: &Value, label: &str) -> Result<SamlConnector, ConfigError> {
    let f = Fields::of(value, "", Some(label), SAML_CONNECTOR_FIELDS)?;
    let (id, domains) = read_id_and_domains(&f, label)?;
    let idp = read_idp(&f, label, &SAML_IDP_FIELDS)?;
    let sp_entity_id = read_name(&f, label, "sp_entity_id", 1024, "must be a URI of 1-1024 characters")?;
    let email_attribute =
        read_name(&f, label, "email_attribute", 256, "must be an attribute Name of 1-256 characters")?;
    let allow_sha1 = f.bool("allow_sha1")?;
    let idp_initiated = f.bool("idp_initiated")?;
    let encryption = read_sp_encryption(&f, label)?;
    let display_name = f.opt_str("display_name")?.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    Ok(SamlConnector {
        display_name: display_name.unwrap_or_else(|| id.clone()),
        id,
        protocol: XmlProtocol::Saml2,
        domains,
        idp,
        sp_entity_id,
        email_attribute,
        allow_sha1,
        idp_initiated,
        encryption,
    })
}

/// The names of the fields that give the IdP, per connector kind.
#[cfg(feature = "saml")]
pub(crate) struct IdpFields {
    pub metadata_url: &'static str,
    pub entity_id: &'static str,
    pub sso_url: &'static str,
    pub certificates: &'static str,
    /// What the entity ID is called in the errors ("the IdP's entity ID", "the IdP's issuer").
    pub entity_id_meaning: &'static str,
    /// What the SSO URL is, for the errors.
    pub sso_url_meaning: &'static str,
}

#[cfg(feature = "saml")]
const SAML_IDP_FIELDS: IdpFields = IdpFields {
    metadata_url: "idp_metadata_url",
    entity_id: "idp_entity_id",
    sso_url: "idp_sso_url",
    certificates: "idp_certificates",
    entity_id_meaning: "the IdP's entity ID",
    sso_url_meaning: "the IdP's HTTP-Redirect SSO URL",
};

/// `id` and `domains` (at least one) of a SAML or WS-Federation connector.
#[cfg(feature = "saml")]
pub(crate) fn read_id_and_domains(f: &Fields<'_>, label: &str) -> Result<(String, Vec<String>), ConfigError> {
    let id = f.str("id")?;
    check_connector_id(&id, label)?;
    let domains = f.opt_str_list("domains")?.ok_or_else(|| f.err("domains", "missing field `domains`"))?;
    let domains = normalize_domain_list(&domains, "domains", label)?;
    if domains.is_empty() {
        return Err(ConfigError::new(Some(label), "domains", "at least one email domain is required"));
    }
    Ok((id, domains))
}

/// An optional name (a URI, an attribute or claim name): trimmed, 1 to `max` characters, no control characters.
#[cfg(feature = "saml")]
pub(crate) fn read_name(
    f: &Fields<'_>,
    label: &str,
    field: &str,
    max: usize,
    rule: &str,
) -> Result<Option<String>, ConfigError> {
    match f.opt_str(field)? {
        None => Ok(None),
        Some(s) if s.trim().is_empty() || s.len() > max || s.chars().any(char::is_control) => {
            Err(ConfigError::new(Some(label), field, rule))
        }
        Some(s) => Ok(Some(s.trim().to_string())),
    }
}

/// The IdP: its metadata URL, or its entity ID (issuer), SSO URL and signing certificates (each read here: an
/// unreadable or too weak one is a configuration error, not a refusal at the first sign-in) — never both.
#[cfg(feature = "saml")]
pub(crate) fn read_idp(f: &Fields<'_>, label: &str, names: &IdpFields) -> Result<SamlIdp, ConfigError> {
    let err = |field: &str, reason: &str| ConfigError::new(Some(label), field, reason);
    let metadata_url = f.opt_str(names.metadata_url)?;
    let entity_id = f.opt_str(names.entity_id)?;
    let sso_url = f.opt_str(names.sso_url)?;
    let certificates = f.opt_str_list(names.certificates)?;
    let idp = match (metadata_url, entity_id, sso_url, certificates) {
        (Some(url), None, None, None) => {
            let url = check_endpoint_url(url.trim()).map_err(|r| err(names.metadata_url, &r))?;
            SamlIdp::Metadata { url: url.to_string() }
        }
        (Some(_), ..) => {
            let reason = format!(
                "give either {} or {} + {} + {}, not both",
                names.metadata_url, names.entity_id, names.sso_url, names.certificates
            );
            return Err(err(names.metadata_url, &reason));
        }
        (None, entity_id, sso_url, certificates) => {
            let unless = format!("unless {} is given", names.metadata_url);
            let entity_id = entity_id
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| err(names.entity_id, &format!("is required ({}), {unless}", names.entity_id_meaning)))?;
            if entity_id.len() > 1024 {
                return Err(err(names.entity_id, "must be at most 1024 characters (SAML Core §8.3.6)"));
            }
            let sso_url = sso_url
                .ok_or_else(|| err(names.sso_url, &format!("is required ({}), {unless}", names.sso_url_meaning)))?;
            let sso_url = check_endpoint_url(sso_url.trim()).map_err(|r| err(names.sso_url, &r))?;
            // The request is appended as a query: after a fragment it would never reach the IdP.
            if sso_url.fragment().is_some() {
                return Err(err(names.sso_url, "must not have a #fragment (the request is added as a query)"));
            }
            let certificates = certificates.unwrap_or_default();
            if certificates.is_empty() {
                return Err(err(
                    names.certificates,
                    "at least one signing certificate of the IdP is required (PEM or base64 DER)",
                ));
            }
            if certificates.len() > MAX_IDP_CERTIFICATES {
                return Err(err(names.certificates, "at most 8 certificates"));
            }
            for (i, text) in certificates.iter().enumerate() {
                crate::core::x509::parse_certificate(text).map_err(|e| {
                    ConfigError::new(Some(label), format!("{}[{i}]", names.certificates), e.to_string())
                })?;
            }
            SamlIdp::Inline { entity_id, sso_url: sso_url.to_string(), certificates }
        }
    };
    Ok(idp)
}

/// `sp_encryption_certificate` and `sp_decryption_key_binding`, both or neither. The certificate must be an
/// RSA one of at least 2048 bits (RSA-OAEP key transport is the only one edge-auth decrypts).
#[cfg(feature = "saml")]
fn read_sp_encryption(f: &Fields<'_>, label: &str) -> Result<Option<SpEncryption>, ConfigError> {
    let err = |field: &str, reason: &str| ConfigError::new(Some(label), field, reason);
    let certificate = f.opt_str("sp_encryption_certificate")?;
    let binding = f.opt_str("sp_decryption_key_binding")?;
    let (certificate, binding) = match (certificate, binding) {
        (None, None) => return Ok(None),
        (Some(certificate), Some(binding)) => (certificate, binding),
        (Some(_), None) => {
            return Err(err(
                "sp_decryption_key_binding",
                "is required with sp_encryption_certificate (the Worker secret holding the matching private key)",
            ))
        }
        (None, Some(_)) => {
            return Err(err(
                "sp_encryption_certificate",
                "is required with sp_decryption_key_binding (the SP certificate the IdP encrypts to)",
            ))
        }
    };
    let binding = binding.trim().to_string();
    if binding.is_empty() || binding.len() > 256 || !binding.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(err("sp_decryption_key_binding", "must be the name of a Worker secret (letters, digits, _)"));
    }
    let parsed = crate::core::x509::parse_certificate(&certificate)
        .map_err(|e| err("sp_encryption_certificate", &e.to_string()))?;
    if !matches!(parsed.key.material, crate::core::oidc::jwks::KeyMaterial::Rsa { .. }) {
        return Err(err("sp_encryption_certificate", "must hold an RSA key (RSA-OAEP key transport)"));
    }
    let trimmed = certificate.trim();
    let body = trimmed
        .strip_prefix("-----BEGIN CERTIFICATE-----")
        .and_then(|rest| rest.trim_end().strip_suffix("-----END CERTIFICATE-----"))
        .unwrap_or(trimmed);
    let certificate_base64 = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    Ok(Some(SpEncryption { certificate_base64, key_binding: binding }))
}
