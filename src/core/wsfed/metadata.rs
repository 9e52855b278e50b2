//! The IdP's WS-Federation federation metadata (`metadata_url`; WS-Federation 1.2 §3.1, an extension of SAML
//! metadata): its issuer, its passive sign-in URL and its signing certificates, as an [`IdpDescriptor`] like the
//! SAML connectors' ([`crate::core::saml::metadata`], whose entity, URL and certificate rules this reuses).
//! Entra publishes it at `https://login.microsoftonline.com/{tenant}/federationmetadata/2007-06/federationmetadata.xml`,
//! AD FS at `https://{host}/FederationMetadata/2007-06/FederationMetadata.xml`.
//!
//! What is read, each rule refused with its own [`MetadataError`]:
//! - one `md:EntityDescriptor` (an aggregate is refused), its `entityID` — the issuer its tokens carry (Entra
//!   `https://sts.windows.net/{tenant}/`, AD FS `http://{host}/adfs/services/trust`) — and its `validUntil`
//!   (passed: [`MetadataError::Expired`]) and `cacheDuration`;
//! - exactly one `md:RoleDescriptor` child whose `xsi:type` names `fed:SecurityTokenServiceType` in the
//!   WS-Federation namespace. The type is a QName *value*: its prefix is resolved by the namespace declarations in
//!   scope, never compared as text, so `xmlns:fed="urn:other"` with `xsi:type="fed:SecurityTokenServiceType"` is
//!   not a security token service. Its `protocolSupportEnumeration` lists WS-Federation. The documents' other
//!   descriptors (the `ApplicationServiceType` role, Entra's and AD FS's `IDPSSODescriptor`, AD FS's
//!   `SPSSODescriptor`) are not read;
//! - its one `fed:PassiveRequestorEndpoint`, holding one WS-Addressing 1.0 `EndpointReference` with one `Address`:
//!   the sign-in URL, `https://` (`http://` only for loopback) without a fragment, as the SAML metadata's;
//! - its signing certificates: every `KeyDescriptor` whose `use` is `signing` or absent (rollover publishes two;
//!   an encryption key is not a signing key), at least one and at most eight, each with the key rules of
//!   [`crate::core::x509`] (RSA of 2048 bits or more, EC P-256 or P-384); one that breaks them is an error.
//!
//! As for SAML metadata, the document's own `ds:Signature` is not checked: the `https://` URL the operator
//! configured is the trust anchor.

use crate::core::saml::metadata::{check_sign_in_url, read_metadata, IdpDescriptor, MetadataError, METADATA_NS};
use crate::core::x509::IdpCertificate;
use crate::core::xml::Element;

/// WS-Federation 1.2 (OASIS, 2007/06): the `fed:` elements and types of federation metadata.
pub const FEDERATION_NS: &str = "http://docs.oasis-open.org/wsfed/federation/200706";
/// XML Schema instance: `xsi:type`.
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// WS-Addressing 1.0: `EndpointReference/Address`, as both Entra and AD FS publish it.
pub const ADDRESSING_NS: &str = "http://www.w3.org/2005/08/addressing";

/// Read an IdP's federation metadata document at time `now`.
pub fn parse_federation_metadata(text: &str, now: u64) -> Result<IdpDescriptor, MetadataError> {
    parse_federation_metadata_certificates(text, now).map(|(idp, _)| idp)
}

/// [`parse_federation_metadata`], and the signing certificates its keys come from, in the same order (for
/// `edge-auth-check`, which shows each one's subject and validity).
pub fn parse_federation_metadata_certificates(
    text: &str,
    now: u64,
) -> Result<(IdpDescriptor, Vec<IdpCertificate>), MetadataError> {
    read_metadata(text, now, |entity| {
        let mut services = entity.children_named(METADATA_NS, "RoleDescriptor").filter(is_security_token_service);
        let sts = services.next().ok_or(MetadataError::Invalid(
            "a RoleDescriptor of xsi:type fed:SecurityTokenServiceType (WS-Federation)",
        ))?;
        if services.next().is_some() {
            return Err(MetadataError::Invalid("one RoleDescriptor of xsi:type fed:SecurityTokenServiceType"));
        }
        let protocols = sts.attribute(None, "protocolSupportEnumeration").unwrap_or_default();
        if !protocols.split_ascii_whitespace().any(|p| p == FEDERATION_NS) {
            return Err(MetadataError::Invalid(
                "the security token service's protocolSupportEnumeration lists WS-Federation",
            ));
        }
        let endpoint = only(
            sts.children_named(FEDERATION_NS, "PassiveRequestorEndpoint"),
            "one fed:PassiveRequestorEndpoint in the security token service",
        )?;
        let reference = only(
            endpoint.children_named(ADDRESSING_NS, "EndpointReference"),
            "the PassiveRequestorEndpoint holds one wsa:EndpointReference (WS-Addressing 1.0)",
        )?;
        let address = only(
            reference.children_named(ADDRESSING_NS, "Address"),
            "the passive requestor's EndpointReference holds one wsa:Address",
        )?
        .text()?;
        let sso_url = check_sign_in_url(
            address.trim(),
            "the PassiveRequestorEndpoint Address is https:// (http:// only for loopback)",
            "the PassiveRequestorEndpoint Address has no #fragment",
        )?;
        Ok((sts, sso_url))
    })
}

/// Whether a `RoleDescriptor`'s `xsi:type` is `{WS-Federation}SecurityTokenServiceType`, its prefix resolved
/// in the descriptor's scope.
fn is_security_token_service(descriptor: &Element<'_, '_>) -> bool {
    descriptor
        .attribute(Some(XSI_NS), "type")
        .and_then(|value| descriptor.resolve_qname(value))
        .is_some_and(|name| name == (Some(FEDERATION_NS), "SecurityTokenServiceType"))
}

/// The only element of `elements`; none or several break `rule`.
fn only<'a, 'input>(
    elements: impl Iterator<Item = Element<'a, 'input>>,
    rule: &'static str,
) -> Result<Element<'a, 'input>, MetadataError> {
    let mut elements = elements.take(2);
    match (elements.next(), elements.next()) {
        (Some(element), None) => Ok(element),
        _ => Err(MetadataError::Invalid(rule)),
    }
}

#[cfg(test)]
mod tests {
    //! Each test proves one rule with the Entra- and AD FS-shaped documents of
    //! tests/fixtures/xml/wsfed-metadata/ (see its make.py), edited; removing the rule makes it fail.
    use super::*;
    use crate::core::x509::parse_certificate;

    const ENTRA: &str = include_str!("../../../tests/fixtures/xml/wsfed-metadata/entra.xml");
    const ADFS: &str = include_str!("../../../tests/fixtures/xml/wsfed-metadata/adfs.xml");
    const CURRENT: &str = include_str!("../../../tests/fixtures/xml/dsig/rsa-cert.pem");
    const NEXT: &str = include_str!("../../../tests/fixtures/xml/wsfed-metadata/entra-next-cert.pem");
    const ENCRYPTION: &str = include_str!("../../../tests/fixtures/x509/rsa2048.pem");
    const WEAK: &str = include_str!("../../../tests/fixtures/x509/rsa1024.pem");
    const EC: &str = include_str!("../../../tests/fixtures/x509/ec-p256.pem");
    const TENANT: &str = "0b5c4e36-7a0e-4d1b-9f1e-3c2d4b6a8e90";
    /// 2026-12-02T10:00:30Z.
    const NOW: u64 = 1_796_205_630;

    const STS_OPEN: &str = r#"<RoleDescriptor xsi:type="fed:SecurityTokenServiceType""#;
    const ENTRA_PASSIVE: &str = "<fed:PassiveRequestorEndpoint><wsa:EndpointReference xmlns:wsa=\"http://www.w3.org/2005/08/addressing\"><wsa:Address>https://login.microsoftonline.com/0b5c4e36-7a0e-4d1b-9f1e-3c2d4b6a8e90/wsfed</wsa:Address></wsa:EndpointReference></fed:PassiveRequestorEndpoint></RoleDescriptor><RoleDescriptor xsi:type=\"fed:ApplicationServiceType\"";

    fn body(pem: &str) -> String {
        pem.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    fn key(pem: &str) -> crate::core::oidc::jwks::Jwk {
        parse_certificate(pem).unwrap().key
    }

    /// `text` with `from` (which must occur exactly `count` times) replaced by `to`.
    fn edit(text: &str, from: &str, to: &str, count: usize) -> String {
        assert_eq!(text.matches(from).count(), count, "{from}");
        text.replace(from, to)
    }

    /// The Entra document with its security token service's text (up to the ApplicationServiceType role) edited.
    fn entra_sts(from: &str, to: &str) -> String {
        let start = ENTRA.find(STS_OPEN).unwrap();
        let end = ENTRA.find("<RoleDescriptor xsi:type=\"fed:ApplicationServiceType\"").unwrap();
        let sts = ENTRA.get(start..end).unwrap();
        assert_eq!(sts.matches(from).count(), 1, "{from}");
        format!("{}{}{}", ENTRA.get(..start).unwrap(), sts.replacen(from, to, 1), ENTRA.get(end..).unwrap())
    }

    fn invalid(text: &str) -> &'static str {
        match parse_federation_metadata(text, NOW) {
            Err(MetadataError::Invalid(rule)) => rule,
            other => panic!("expected a broken rule, got {other:?}"),
        }
    }

    #[test]
    fn the_entra_document_gives_the_issuer_the_passive_url_and_both_signing_keys() {
        let (idp, certificates) = parse_federation_metadata_certificates(ENTRA, NOW).unwrap();
        assert_eq!(idp.entity_id, format!("https://sts.windows.net/{TENANT}/"));
        assert_eq!(idp.sso_url, format!("https://login.microsoftonline.com/{TENANT}/wsfed"));
        assert_eq!(idp.keys, vec![key(CURRENT), key(NEXT)], "rollover: both, in document order");
        assert_eq!(certificates.len(), 2);
        assert_eq!(certificates.get(1).unwrap().subject, "CN=edge-auth TEST-ONLY Entra next signing key");
        assert_eq!((idp.valid_until, idp.cache_duration), (None, None));
        assert_eq!(parse_federation_metadata(ENTRA, NOW).unwrap(), idp);
    }

    #[test]
    fn the_adfs_document_gives_its_trust_issuer_and_the_ls_endpoint() {
        // About 220 namespace declarations (one per claim type and SAML attribute): more than a posted message may
        // have, within the metadata limit.
        assert!(ADFS.matches("xmlns").count() > crate::core::xml::MAX_NAMESPACE_DECLARATIONS);
        let idp = parse_federation_metadata(ADFS, NOW).unwrap();
        assert_eq!(idp.entity_id, "http://adfs.contoso.example/adfs/services/trust");
        assert_eq!(idp.sso_url, "https://adfs.contoso.example/adfs/ls/");
        // Only the security token service's signing key: not the application service's encryption key.
        assert_eq!(idp.keys, vec![key(CURRENT)]);
    }

    #[test]
    fn validity_and_cache_duration_are_read_and_an_expired_document_refused() {
        let open = format!("entityID=\"https://sts.windows.net/{TENANT}/\"");
        let dated =
            edit(ENTRA, &open, &format!("{open} validUntil=\"2026-12-03T00:00:00Z\" cacheDuration=\"PT1H\""), 1);
        let idp = parse_federation_metadata(&dated, NOW).unwrap();
        assert_eq!((idp.valid_until, idp.cache_duration), (Some(1_796_256_000), Some(3600)));
        assert_eq!(parse_federation_metadata(&dated, 1_796_256_000), Err(MetadataError::Expired));
    }

    #[test]
    fn the_type_is_resolved_by_namespace_not_by_its_prefix_text() {
        // The right prefix text bound to another namespace: not a security token service.
        let foreign = entra_sts(
            "xmlns:fed=\"http://docs.oasis-open.org/wsfed/federation/200706\">",
            "xmlns:fed=\"urn:not-ws-federation\">",
        );
        // (The fed: elements inside are then in that namespace too; the descriptor is refused before them.)
        assert!(invalid(&foreign).starts_with("a RoleDescriptor of xsi:type"));
        // Another prefix bound to the WS-Federation namespace: one.
        let renamed = entra_sts(
            "xsi:type=\"fed:SecurityTokenServiceType\"",
            "xsi:type=\"w:SecurityTokenServiceType\" xmlns:w=\"http://docs.oasis-open.org/wsfed/federation/200706\"",
        );
        assert_eq!(
            parse_federation_metadata(&renamed, NOW).unwrap().sso_url,
            parse_federation_metadata(ENTRA, NOW).unwrap().sso_url
        );
        // `type` in another namespace than XML Schema instance's is not xsi:type.
        let not_xsi = entra_sts(
            "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"",
            "xmlns:xsi=\"urn:not-xml-schema-instance\"",
        );
        assert!(invalid(&not_xsi).starts_with("a RoleDescriptor of xsi:type"));
        // The application service alone is not a security token service.
        let app_only = edit(ENTRA, "fed:SecurityTokenServiceType", "fed:ApplicationServiceType", 1);
        assert!(invalid(&app_only).starts_with("a RoleDescriptor of xsi:type"));
    }

    #[test]
    fn exactly_one_security_token_service() {
        let start = ENTRA.find(STS_OPEN).unwrap();
        let end = ENTRA.find("<RoleDescriptor xsi:type=\"fed:ApplicationServiceType\"").unwrap();
        let sts = ENTRA.get(start..end).unwrap();
        let other = sts.replace("/wsfed</wsa:Address>", "/other</wsa:Address>");
        let two = format!("{}{other}{}", ENTRA.get(..end).unwrap(), ENTRA.get(end..).unwrap());
        assert_eq!(invalid(&two), "one RoleDescriptor of xsi:type fed:SecurityTokenServiceType");
    }

    #[test]
    fn the_security_token_service_lists_ws_federation() {
        let other = entra_sts(
            "protocolSupportEnumeration=\"http://docs.oasis-open.org/wsfed/federation/200706\"",
            "protocolSupportEnumeration=\"http://docs.oasis-open.org/ws-sx/ws-trust/200512\"",
        );
        assert!(invalid(&other).contains("protocolSupportEnumeration"));
    }

    #[test]
    fn the_passive_requestor_endpoint_is_one_ws_addressing_1_0_address() {
        let none =
            edit(ENTRA, ENTRA_PASSIVE, "</RoleDescriptor><RoleDescriptor xsi:type=\"fed:ApplicationServiceType\"", 1);
        assert_eq!(invalid(&none), "one fed:PassiveRequestorEndpoint in the security token service");
        // The application service's passive endpoint is never taken for the security token service's.
        assert!(none.contains("PassiveRequestorEndpoint"));
        let passive = ENTRA_PASSIVE
            .strip_suffix("</RoleDescriptor><RoleDescriptor xsi:type=\"fed:ApplicationServiceType\"")
            .unwrap();
        let two = entra_sts(passive, &format!("{passive}{passive}"));
        assert_eq!(invalid(&two), "one fed:PassiveRequestorEndpoint in the security token service");
        // WS-Addressing 2004/08 is not read.
        let old = entra_sts(
            "<fed:PassiveRequestorEndpoint><wsa:EndpointReference xmlns:wsa=\"http://www.w3.org/2005/08/addressing\">",
            "<fed:PassiveRequestorEndpoint><wsa:EndpointReference xmlns:wsa=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\">",
        );
        assert!(invalid(&old).contains("WS-Addressing 1.0"));
        let two_addresses = entra_sts(
            "/wsfed</wsa:Address></wsa:EndpointReference></fed:PassiveRequestorEndpoint>",
            "/wsfed</wsa:Address><wsa:Address>https://evil.example/</wsa:Address></wsa:EndpointReference></fed:PassiveRequestorEndpoint>",
        );
        assert_eq!(invalid(&two_addresses), "the passive requestor's EndpointReference holds one wsa:Address");
        // The URL is trimmed and normalised, as the SAML metadata's is.
        let spaced = entra_sts(
            "<wsa:Address>https://login.microsoftonline.com/0b5c4e36-7a0e-4d1b-9f1e-3c2d4b6a8e90/wsfed</wsa:Address></wsa:EndpointReference></fed:PassiveRequestorEndpoint>",
            "<wsa:Address>\n  HTTPS://Login.Example/wsfed\n</wsa:Address></wsa:EndpointReference></fed:PassiveRequestorEndpoint>",
        );
        assert_eq!(parse_federation_metadata(&spaced, NOW).unwrap().sso_url, "https://login.example/wsfed");
    }

    #[test]
    fn the_sign_in_url_is_https_or_loopback_http_without_a_fragment() {
        let with = |url: &str| {
            edit(ADFS, "<Address>https://adfs.contoso.example/adfs/ls/</Address></EndpointReference></fed:PassiveRequestorEndpoint></RoleDescriptor><SPSSODescriptor", &format!("<Address>{url}</Address></EndpointReference></fed:PassiveRequestorEndpoint></RoleDescriptor><SPSSODescriptor"), 1)
        };
        assert!(invalid(&with("http://adfs.contoso.example/adfs/ls/")).contains("https://"));
        assert_eq!(
            parse_federation_metadata(&with("http://127.0.0.1:8081/adfs/ls/"), NOW).unwrap().sso_url,
            "http://127.0.0.1:8081/adfs/ls/"
        );
        assert!(invalid(&with("https://adfs.contoso.example/adfs/ls/#x")).contains("fragment"));
        assert!(invalid(&with("javascript:alert(1)")).contains("https://"));
    }

    #[test]
    fn aggregates_and_other_documents_are_refused() {
        let aggregate = format!(
            "<EntitiesDescriptor xmlns=\"{METADATA_NS}\">{}</EntitiesDescriptor>",
            ENTRA.trim_start_matches("<?xml version=\"1.0\" encoding=\"utf-8\"?>")
        );
        assert!(invalid(&aggregate).contains("aggregate"));
        assert_eq!(invalid("<EntityDescriptor entityID=\"x\"/>"), "the document is an md:EntityDescriptor");
        assert!(matches!(parse_federation_metadata("<a", NOW), Err(MetadataError::Xml(_))));
    }

    #[test]
    fn only_signing_or_unspecified_keys_are_read() {
        let current = body(CURRENT);
        let next = body(NEXT);
        let signing = |b: &str| {
            format!("<KeyDescriptor use=\"signing\"><KeyInfo xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><X509Data><X509Certificate>{b}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>")
        };
        let both = format!("{}{}", signing(&current), signing(&next));
        // Encryption-only keys are ignored; an unspecified use is a signing key.
        let encryption = signing(&body(ENCRYPTION)).replace("use=\"signing\"", "use=\"encryption\"");
        let unspecified = signing(&next).replace(" use=\"signing\"", "");
        let mixed = entra_sts(&both, &format!("{encryption}{}{unspecified}", signing(&current)));
        assert_eq!(parse_federation_metadata(&mixed, NOW).unwrap().keys, vec![key(CURRENT), key(NEXT)]);
        let encryption_only = entra_sts(&both, &encryption);
        assert!(invalid(&encryption_only).starts_with("a signing certificate"));
        // EC keys are accepted as in inline certificates.
        let ec = entra_sts(&both, &signing(&body(EC)));
        assert_eq!(parse_federation_metadata(&ec, NOW).unwrap().keys, vec![key(EC)]);
    }

    #[test]
    fn a_weak_or_broken_signing_certificate_is_an_error_by_position() {
        let next = body(NEXT);
        let weak = entra_sts(&next, &body(WEAK));
        match parse_federation_metadata(&weak, NOW) {
            Err(MetadataError::Certificate(1, why)) => assert!(why.contains("1024"), "{why}"),
            other => panic!("{other:?}"),
        }
        let broken = entra_sts(&next, "not a certificate");
        assert!(matches!(parse_federation_metadata(&broken, NOW), Err(MetadataError::Certificate(1, _))));
    }

    #[test]
    fn at_most_eight_signing_certificates() {
        let current = body(CURRENT);
        let descriptor = format!("<KeyDescriptor use=\"signing\"><KeyInfo xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><X509Data><X509Certificate>{current}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>");
        let eight = entra_sts(&descriptor, &descriptor.repeat(7));
        assert_eq!(parse_federation_metadata(&eight, NOW).unwrap().keys.len(), 8);
        let nine = entra_sts(&descriptor, &descriptor.repeat(8));
        assert_eq!(invalid(&nine), "at most 8 signing certificates");
    }

    #[test]
    fn the_other_descriptors_are_not_read() {
        // A weak key in the application service and the IDPSSODescriptor (after the security token service) is
        // not read: those are not the security token service's keys.
        let sts_end = ENTRA.find("<RoleDescriptor xsi:type=\"fed:ApplicationServiceType\"").unwrap();
        let (sts, rest) = ENTRA.split_at(sts_end);
        assert_eq!(rest.matches(&body(NEXT)).count(), 2);
        let text = format!("{sts}{}", rest.replace(&body(NEXT), &body(WEAK)));
        assert_eq!(parse_federation_metadata(&text, NOW).unwrap().keys, vec![key(CURRENT), key(NEXT)]);
    }
}
