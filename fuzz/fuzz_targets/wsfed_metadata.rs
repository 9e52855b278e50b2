//! Arbitrary bytes -> `wsfed::metadata::parse_federation_metadata_certificates` (WS-Federation federation
//! metadata: the XML parser with the metadata limits, the entity rules, the `xsi:type` QName resolution, the
//! passive endpoint, the sign-in URL rule, the certificate reader and its key rules) and, on the same bytes,
//! `saml::metadata::parse_idp_metadata_certificates`, which shares the entity, URL and certificate code. Never
//! panics. Oracles: what is accepted has an entity ID of 1-1024 characters, an `https://` (or loopback
//! `http://`) sign-in URL without a fragment, one to eight keys each with its certificate, and a `validUntil`,
//! when there is one, after now; the shorter functions agree with the `…_certificates` ones.
#![no_main]

use edge_auth::core::saml::metadata::{
    parse_idp_metadata, parse_idp_metadata_certificates, IdpDescriptor, MAX_METADATA_CERTIFICATES,
};
use edge_auth::core::wsfed::metadata::{parse_federation_metadata, parse_federation_metadata_certificates};
use edge_auth::core::x509::IdpCertificate;
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_796_205_630; // 2026-12-02T10:00:30Z

fn check(idp: &IdpDescriptor, certificates: &[IdpCertificate]) {
    assert!(!idp.entity_id.is_empty() && idp.entity_id.len() <= 1024);
    let url = url::Url::parse(&idp.sso_url).expect("the sign-in URL parses");
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    assert!(url.scheme() == "https" || (url.scheme() == "http" && loopback), "{}", idp.sso_url);
    assert!(url.fragment().is_none() && !idp.sso_url.contains('#'));
    assert!(!idp.keys.is_empty() && idp.keys.len() <= MAX_METADATA_CERTIFICATES);
    assert_eq!(idp.keys.len(), certificates.len());
    for (key, certificate) in idp.keys.iter().zip(certificates) {
        assert_eq!(key, &certificate.key);
    }
    assert!(idp.valid_until.is_none_or(|end| NOW < end));
}

fuzz_target!(init: edge_auth_fuzz::known::install(), |data: &[u8]| {
    edge_auth_fuzz::known::guard(|| {
        let Ok(text) = std::str::from_utf8(data) else { return };
        let wsfed = parse_federation_metadata_certificates(text, NOW);
        if let Ok((idp, certificates)) = &wsfed {
            check(idp, certificates);
        }
        assert_eq!(parse_federation_metadata(text, NOW), wsfed.map(|(idp, _)| idp));
        let saml = parse_idp_metadata_certificates(text, NOW);
        if let Ok((idp, certificates)) = &saml {
            check(idp, certificates);
        }
        assert_eq!(parse_idp_metadata(text, NOW), saml.map(|(idp, _)| idp));
    });
});
