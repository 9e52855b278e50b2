//! The IdP's SAML metadata (`idp_metadata_url`): its entity ID, its HTTP-Redirect single sign-on URL and its
//! signing certificates, from one `md:EntityDescriptor` (SAML Metadata §2.3.2) with an `IDPSSODescriptor` for
//! SAML 2.0.
//!
//! The document is trusted as the discovery documents of OpenID Connect are: fetched over `https://` from the
//! URL the operator configured (an aggregate of many entities, as federations publish, is refused: configure
//! the IdP's own metadata URL). Its own `ds:Signature`, when present, is not checked (the operator did not
//! configure a key for it; the URL is the trust anchor). Certificates: every `KeyDescriptor` whose `use` is
//! `signing` or absent (rollover publishes two), each read with the same key rules as the inline ones.

use crate::core::oidc::jwks::Jwk;
use crate::core::saml::time::parse_datetime;
use crate::core::saml::PROTOCOL_NS;
use crate::core::x509::{parse_certificate, IdpCertificate};
use crate::core::xml::dsig::DSIG_NS;
use crate::core::xml::{normalize_line_ends, parse_metadata, Element, XmlError};

pub const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
/// At most this many signing certificates are read from a metadata document.
pub const MAX_METADATA_CERTIFICATES: usize = 8;

/// What edge-auth needs of an IdP, from metadata or from the connector's inline fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpDescriptor {
    pub entity_id: String,
    /// Where sign-in requests go: SAML, the HTTP-Redirect binding's `SingleSignOnService` location;
    /// WS-Federation, the security token service's `PassiveRequestorEndpoint` address.
    pub sso_url: String,
    /// The signing keys, from its certificates (rollover: several).
    pub keys: Vec<Jwk>,
    /// `validUntil` of the document (seconds since the epoch), if it states one: not used after that.
    pub valid_until: Option<u64>,
    /// `cacheDuration`, in seconds, if it states one.
    pub cache_duration: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataError {
    Xml(XmlError),
    /// A rule the document breaks, named.
    Invalid(&'static str),
    /// A signing certificate that cannot be used (its position among them, and why).
    Certificate(usize, String),
    /// `validUntil` has passed.
    Expired,
}

impl std::fmt::Display for MetadataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetadataError::Xml(e) => write!(f, "the SAML metadata is not XML edge-auth reads: {e}"),
            MetadataError::Invalid(rule) => write!(f, "the SAML metadata breaks a rule: {rule}"),
            MetadataError::Certificate(i, why) => {
                write!(f, "the SAML metadata's signing certificate #{}: {why}", i + 1)
            }
            MetadataError::Expired => write!(f, "the SAML metadata has expired (its validUntil has passed)"),
        }
    }
}

impl std::error::Error for MetadataError {}

impl From<XmlError> for MetadataError {
    fn from(e: XmlError) -> Self {
        MetadataError::Xml(e)
    }
}

/// Read an IdP's metadata document at time `now`.
pub fn parse_idp_metadata(text: &str, now: u64) -> Result<IdpDescriptor, MetadataError> {
    parse_idp_metadata_certificates(text, now).map(|(idp, _)| idp)
}

/// [`parse_idp_metadata`], and the signing certificates its keys come from, in the same order (for
/// `edge-auth-check`, which shows each one's subject and validity).
pub fn parse_idp_metadata_certificates(
    text: &str,
    now: u64,
) -> Result<(IdpDescriptor, Vec<IdpCertificate>), MetadataError> {
    read_metadata(text, now, |entity| {
        let mut idps = entity.children_named(METADATA_NS, "IDPSSODescriptor").filter(|d| {
            d.attribute(None, "protocolSupportEnumeration")
                .is_some_and(|p| p.split_ascii_whitespace().any(|p| p == PROTOCOL_NS))
        });
        let idp = idps.next().ok_or(MetadataError::Invalid("an IDPSSODescriptor for SAML 2.0"))?;
        if idps.next().is_some() {
            return Err(MetadataError::Invalid("one IDPSSODescriptor for SAML 2.0"));
        }
        let sso_url = idp
            .children_named(METADATA_NS, "SingleSignOnService")
            .find(|s| s.attribute(None, "Binding") == Some(REDIRECT_BINDING))
            .and_then(|s| s.attribute(None, "Location"))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .ok_or(MetadataError::Invalid("a SingleSignOnService with the HTTP-Redirect binding and a Location"))?;
        let sso_url = check_sign_in_url(
            sso_url,
            "the SingleSignOnService Location is https:// (http:// only for loopback)",
            "the SingleSignOnService Location has no #fragment",
        )?;
        Ok((idp, sso_url))
    })
}

/// Read a metadata document at `now`, for the SAML reader here and the WS-Federation one
/// ([`crate::core::wsfed::metadata`]): its document element must be one `md:EntityDescriptor` (not an aggregate)
/// with an `entityID`, and its `validUntil`, when given, must not have passed; `role` picks the role descriptor
/// this reader trusts from that entity and reads its sign-in URL (with [`check_sign_in_url`]); the signing keys
/// are that descriptor's ([`signing_keys`]).
pub(crate) fn read_metadata(
    text: &str,
    now: u64,
    role: impl for<'a, 'input> FnOnce(Element<'a, 'input>) -> Result<(Element<'a, 'input>, String), MetadataError>,
) -> Result<(IdpDescriptor, Vec<IdpCertificate>), MetadataError> {
    let text = normalize_line_ends(text);
    let document = parse_metadata(&text)?;
    let entity = document.root_element();
    if entity.is(METADATA_NS, "EntitiesDescriptor") {
        return Err(MetadataError::Invalid(
            "one EntityDescriptor (an aggregate of several entities is not read: use the IdP's own metadata URL)",
        ));
    }
    if !entity.is(METADATA_NS, "EntityDescriptor") {
        return Err(MetadataError::Invalid("the document is an md:EntityDescriptor"));
    }
    let entity_id = entity
        .attribute(None, "entityID")
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 1024)
        .ok_or(MetadataError::Invalid("the EntityDescriptor has an entityID of 1-1024 characters"))?
        .to_string();
    let valid_until = match entity.attribute(None, "validUntil") {
        None => None,
        Some(v) => Some(parse_datetime(v).ok_or(MetadataError::Invalid("validUntil is a dateTime"))?),
    };
    if valid_until.is_some_and(|end| now >= end) {
        return Err(MetadataError::Expired);
    }
    let cache_duration = entity.attribute(None, "cacheDuration").and_then(parse_duration_seconds);
    let (descriptor, sso_url) = role(entity)?;
    let (keys, certificates) = signing_keys(descriptor)?;
    Ok((IdpDescriptor { entity_id, sso_url, keys, valid_until, cache_duration }, certificates))
}

/// The IdP's sign-in URL (trimmed by the caller): `https://`, or `http://` for a loopback host, and no fragment
/// (the request is appended as a query: after a fragment it would never reach the IdP). Returned as checked —
/// the parser drops tabs and line breaks a raw value may carry — never as the raw text. `https_rule` and
/// `fragment_rule` name the two rules for the error.
pub(crate) fn check_sign_in_url(
    url: &str,
    https_rule: &'static str,
    fragment_rule: &'static str,
) -> Result<String, MetadataError> {
    let checked = crate::core::config::check_endpoint_url(url).map_err(|_| MetadataError::Invalid(https_rule))?;
    if checked.fragment().is_some() {
        return Err(MetadataError::Invalid(fragment_rule));
    }
    Ok(checked.to_string())
}

/// The signing certificates of a role descriptor, and their keys in the same order: every `KeyDescriptor` child
/// whose `use` is `signing` or absent (rollover publishes two), each certificate read with the key rules of
/// [`parse_certificate`] and refused by position when it breaks one (never skipped: the operator must know); at
/// least one, at most [`MAX_METADATA_CERTIFICATES`].
fn signing_keys(descriptor: Element<'_, '_>) -> Result<(Vec<Jwk>, Vec<IdpCertificate>), MetadataError> {
    let mut keys = Vec::new();
    let mut certificates = Vec::new();
    for key_descriptor in descriptor.children_named(METADATA_NS, "KeyDescriptor") {
        if !matches!(key_descriptor.attribute(None, "use"), None | Some("signing")) {
            continue;
        }
        for certificate in certificates_of(key_descriptor) {
            if keys.len() == MAX_METADATA_CERTIFICATES {
                return Err(MetadataError::Invalid("at most 8 signing certificates"));
            }
            let text = certificate.text()?;
            let parsed = parse_certificate(&text).map_err(|e| MetadataError::Certificate(keys.len(), e.to_string()))?;
            keys.push(parsed.key.clone());
            certificates.push(parsed);
        }
    }
    if keys.is_empty() {
        return Err(MetadataError::Invalid("a signing certificate (KeyDescriptor/KeyInfo/X509Data/X509Certificate)"));
    }
    Ok((keys, certificates))
}

/// The `ds:X509Certificate`s of a `KeyDescriptor` (`ds:KeyInfo/ds:X509Data/ds:X509Certificate`).
fn certificates_of<'a, 'input>(descriptor: Element<'a, 'input>) -> impl Iterator<Item = Element<'a, 'input>> + 'a {
    descriptor
        .children_named(DSIG_NS, "KeyInfo")
        .flat_map(|info| info.children_named(DSIG_NS, "X509Data"))
        .flat_map(|data| data.children_named(DSIG_NS, "X509Certificate"))
}

/// An `xs:duration` of days, hours, minutes and seconds (`PT1H`, `P1D`, `PT5M30S`); years and months (of no
/// fixed length) and fractions are not read (`None`: the cache's own lifetime applies).
fn parse_duration_seconds(text: &str) -> Option<u64> {
    let rest = text.trim().strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut total: u64 = 0;
    let mut read = |part: &str, units: &[(char, u64)]| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
            } else {
                let &(_, scale) = units.iter().find(|(u, _)| *u == c)?;
                let n: u64 = number.parse().ok()?;
                total = total.checked_add(n.checked_mul(scale)?)?;
                number.clear();
            }
        }
        number.is_empty().then_some(())
    };
    read(date, &[('D', 86_400)])?;
    if let Some(time) = time {
        if time.is_empty() {
            return None;
        }
        read(time, &[('H', 3600), ('M', 60), ('S', 1)])?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_seconds("PT1H"), Some(3600));
        assert_eq!(parse_duration_seconds("P1DT30M"), Some(86_400 + 1800));
        assert_eq!(parse_duration_seconds("PT5M30S"), Some(330));
        assert_eq!(parse_duration_seconds("P1M"), None);
        assert_eq!(parse_duration_seconds("PT"), None);
        assert_eq!(parse_duration_seconds("PT1.5S"), None);
        assert_eq!(parse_duration_seconds("1H"), None);
    }

    fn certificate_body(pem: &str) -> String {
        pem.lines().filter(|l| !l.starts_with("-----")).collect::<Vec<_>>().join("\n")
    }

    /// Shaped like Entra's app federation metadata: a document signature (not checked), WS-Federation role
    /// descriptors first, then the IDPSSODescriptor with two signing certificates (rollover) and both bindings.
    fn entra_shaped(idp_extra: &str) -> String {
        let rsa = certificate_body(include_str!("../../../tests/fixtures/xml/dsig/rsa-cert.pem"));
        let ec = certificate_body(include_str!("../../../tests/fixtures/xml/dsig/ec-cert.pem"));
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<EntityDescriptor ID="_e1" entityID="https://sts.windows.net/0b3f1c2d/" cacheDuration="PT1H" xmlns="{METADATA_NS}">
  <Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/></Signature>
  <RoleDescriptor xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706" xsi:type="fed:SecurityTokenServiceType" protocolSupportEnumeration="http://docs.oasis-open.org/wsfed/federation/200706"/>
  <IDPSSODescriptor protocolSupportEnumeration="{PROTOCOL_NS}">
    <KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>{rsa}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>
    <KeyDescriptor><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>{ec}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>
    <KeyDescriptor use="encryption"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>not read</X509Certificate></X509Data></KeyInfo></KeyDescriptor>
    <SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://login.microsoftonline.com/0b3f1c2d/saml2"/>
    <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://login.microsoftonline.com/0b3f1c2d/saml2/post"/>
    <SingleSignOnService Binding="{REDIRECT_BINDING}" Location="https://login.microsoftonline.com/0b3f1c2d/saml2"/>
    {idp_extra}
  </IDPSSODescriptor>
</EntityDescriptor>"#
        )
    }

    #[test]
    fn an_entra_shaped_document_gives_the_entity_the_redirect_url_and_both_signing_keys() {
        let idp = parse_idp_metadata(&entra_shaped(""), 0).unwrap();
        assert_eq!(idp.entity_id, "https://sts.windows.net/0b3f1c2d/");
        assert_eq!(idp.sso_url, "https://login.microsoftonline.com/0b3f1c2d/saml2", "the HTTP-Redirect one");
        assert_eq!(idp.keys.len(), 2, "signing and unspecified use; the encryption key is not a signing key");
        assert_eq!(idp.cache_duration, Some(3600));
        assert_eq!(idp.valid_until, None);
        // A bad signing certificate is an error, by position (never skipped: the operator must know).
        let broken = entra_shaped("").replacen("<X509Certificate>MII", "<X509Certificate>MIX", 1);
        assert!(matches!(parse_idp_metadata(&broken, 0), Err(MetadataError::Certificate(0, _))));
    }

    #[test]
    fn an_adfs_federation_metadata_document_is_read_with_its_220_namespace_declarations() {
        // AD FS publishes one document for SAML and WS-Federation; it declares more namespaces than a posted
        // message may (tests/fixtures/xml/wsfed-metadata/make.py).
        let adfs = include_str!("../../../tests/fixtures/xml/wsfed-metadata/adfs.xml");
        assert!(adfs.matches("xmlns").count() > crate::core::xml::MAX_NAMESPACE_DECLARATIONS);
        let idp = parse_idp_metadata(adfs, 0).unwrap();
        assert_eq!(idp.entity_id, "http://adfs.contoso.example/adfs/services/trust");
        assert_eq!(idp.sso_url, "https://adfs.contoso.example/adfs/ls/");
        assert_eq!(idp.keys.len(), 1, "the signing key, not the encryption key");
    }

    #[test]
    fn a_plain_http_sso_url_is_refused_unless_loopback() {
        let http = entra_shaped("").replace(
            &format!("Binding=\"{REDIRECT_BINDING}\" Location=\"https://login.microsoftonline.com/0b3f1c2d/saml2\""),
            &format!("Binding=\"{REDIRECT_BINDING}\" Location=\"http://idp.example/sso\""),
        );
        assert!(matches!(parse_idp_metadata(&http, 0), Err(MetadataError::Invalid(r)) if r.contains("https")));
        let loopback = http.replace("http://idp.example/sso", "http://127.0.0.1:9000/sso");
        assert_eq!(parse_idp_metadata(&loopback, 0).unwrap().sso_url, "http://127.0.0.1:9000/sso");
    }

    #[test]
    fn aggregates_and_other_documents_are_refused() {
        let aggregate = format!("<md:EntitiesDescriptor xmlns:md=\"{METADATA_NS}\"/>");
        assert!(matches!(parse_idp_metadata(&aggregate, 0), Err(MetadataError::Invalid(r)) if r.contains("aggregate")));
        assert!(matches!(parse_idp_metadata("<a/>", 0), Err(MetadataError::Invalid(_))));
        let no_idp = format!("<md:EntityDescriptor xmlns:md=\"{METADATA_NS}\" entityID=\"https://idp\"/>");
        assert_eq!(parse_idp_metadata(&no_idp, 0), Err(MetadataError::Invalid("an IDPSSODescriptor for SAML 2.0")));
        let expired = format!(
            "<md:EntityDescriptor xmlns:md=\"{METADATA_NS}\" entityID=\"https://idp\" validUntil=\"2020-01-01T00:00:00Z\"/>"
        );
        assert_eq!(parse_idp_metadata(&expired, 1_800_000_000), Err(MetadataError::Expired));
    }
}
