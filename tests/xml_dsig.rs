//! The XML-Signature check (src/core/xml/dsig.rs) on documents signed by an independent signer (PyPI signxml:
//! tests/fixtures/xml/dsig/make.py), verified with ring (testkit) as the worker verifies with WebCrypto. Each
//! refusal is a rule of the module; each test breaks one signed document in one way.
#![cfg(feature = "xml")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

#[path = "../testkit/resign.rs"]
mod resign;
#[path = "../testkit/mod.rs"]
mod testkit;

use edge_auth::core::oidc::jwks::{Alg, Jwk};
use edge_auth::core::ports::{CryptoError, SignatureVerifier};
use edge_auth::core::x509::parse_certificate;
use edge_auth::core::xml::dsig::{check_enveloped, check_enveloped_with, DsigError, Sha1, VerifiedBytes, DSIG_NS};
use edge_auth::core::xml::{normalize_line_ends, parse};
use resign::{resign, RSA_SHA1, RSA_SHA256, SHA1, SHA256};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/xml/dsig/");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}{name}")).unwrap()
}

fn key(cert: &str) -> Jwk {
    parse_certificate(&fixture(cert)).unwrap().key
}

/// WebCrypto's part, played by ring.
struct Ring;

impl SignatureVerifier for Ring {
    async fn verify(&self, alg: Alg, key: &Jwk, input: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
        testkit::idp::ring_verify(alg, key, input, signature).map_err(|e| CryptoError(e.to_string()))
    }

    async fn verify_rsa_sha1(&self, key: &Jwk, input: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
        testkit::idp::ring_verify_rsa_sha1(key, input, signature).map_err(CryptoError)
    }
}

/// Check and verify the first `ds:Signature` of `xml` with the keys of these certificates.
fn verify(xml: &str, certs: &[&str]) -> Result<VerifiedBytes, DsigError> {
    verify_with(xml, certs, None)
}

/// [`verify`] through [`check_enveloped_with`] with this SHA-1 policy (`None`: [`check_enveloped`]).
fn verify_with(xml: &str, certs: &[&str], sha1: Option<Sha1>) -> Result<VerifiedBytes, DsigError> {
    let text = normalize_line_ends(xml);
    let document = parse(&text).map_err(DsigError::Xml)?;
    let signature = document.elements().find(|e| e.is(DSIG_NS, "Signature")).ok_or(DsigError::Structure("none"))?;
    let keys: Vec<Jwk> = certs.iter().map(|c| key(c)).collect();
    let signed = match sha1 {
        Some(sha1) => check_enveloped_with(&document, signature, sha1)?,
        None => check_enveloped(&document, signature)?,
    };
    pollster::block_on(signed.verify(&keys, &Ring))
}

fn name_id(verified: &VerifiedBytes) -> String {
    let document = parse(verified.as_str()).unwrap();
    let name_id = document.elements().find(|e| e.local_name() == "NameID").unwrap();
    name_id.text().unwrap()
}

#[test]
fn rsa_and_ecdsa_signatures_of_an_independent_signer_verify_and_give_the_signed_bytes() {
    for (doc, cert) in [
        ("assertion-rsa-sha256.xml", "rsa-cert.pem"),
        ("assertion-rsa-sha512.xml", "rsa-cert.pem"),
        ("assertion-ecdsa-sha256.xml", "ec-cert.pem"),
    ] {
        let verified = verify(&fixture(doc), &[cert]).unwrap_or_else(|e| panic!("{doc}: {e}"));
        assert_eq!(name_id(&verified), "alice@acme.example", "{doc}");
        assert!(!verified.as_str().contains("SignatureValue"), "{doc}: the signature is not part of what it signs");
        assert!(verified.as_str().starts_with("<saml:Assertion xmlns:saml="), "{doc}");
    }
    // Rollover: any of the configured certificates.
    verify(&fixture("assertion-ecdsa-sha256.xml"), &["rsa-cert.pem", "ec-cert.pem"]).unwrap();
}

#[test]
fn only_the_configured_keys_count_never_the_one_in_key_info() {
    // Signed by an attacker's key, whose certificate the signature carries in its KeyInfo.
    let forged = fixture("assertion-other-key.xml");
    assert_eq!(verify(&forged, &["rsa-cert.pem"]).unwrap_err(), DsigError::BadSignature);
    assert_eq!(verify(&fixture("assertion-rsa-sha256.xml"), &["other-cert.pem"]).unwrap_err(), DsigError::BadSignature);
    assert_eq!(verify(&fixture("assertion-rsa-sha256.xml"), &[]).unwrap_err(), DsigError::BadSignature);
    // A key of the wrong type is not tried with the signature's algorithm.
    assert_eq!(verify(&fixture("assertion-rsa-sha256.xml"), &["ec-cert.pem"]).unwrap_err(), DsigError::BadSignature);
}

#[test]
fn a_changed_signed_value_breaks_the_digest() {
    let signed = fixture("assertion-rsa-sha256.xml");
    for (from, to) in [
        ("alice@acme.example", "admin@acme.example"),
        (">admins<", ">admins2<"),
        ("IssueInstant=\"2026-12-02T10:00:00Z\"", "IssueInstant=\"2026-12-02T10:00:01Z\""),
        ("<saml:AttributeStatement>", "<saml:AttributeStatement xmlns:evil=\"urn:evil\" evil:x=\"1\">"),
    ] {
        let changed = signed.replacen(from, to, 1);
        assert_ne!(changed, signed);
        assert_eq!(verify(&changed, &["rsa-cert.pem"]).unwrap_err(), DsigError::DigestMismatch, "{from} -> {to}");
    }
    // A changed SignatureValue (or SignedInfo) fails the signature itself.
    let changed = signed.replacen("<ds:SignatureValue>P", "<ds:SignatureValue>Q", 1);
    assert_eq!(verify(&changed, &["rsa-cert.pem"]).unwrap_err(), DsigError::BadSignature);
}

#[test]
fn a_comment_cannot_cut_a_signed_value_short() {
    // Comments are outside the canonical form: the signature still verifies (as in every verifier), and the
    // value read from the signed bytes is the whole one, not the part before the comment.
    let signed =
        fixture("assertion-rsa-sha256.xml").replacen("alice@acme.example", "alice@acme.example<!---->.evil", 1);
    let verified = verify(&signed, &["rsa-cert.pem"]);
    assert_eq!(verified.unwrap_err(), DsigError::DigestMismatch, "the text after the comment is signed content");
    let signed =
        fixture("assertion-rsa-sha256.xml").replacen("alice@acme.example", "alice<!-- a comment -->@acme.example", 1);
    let verified = verify(&signed, &["rsa-cert.pem"]).unwrap();
    assert_eq!(name_id(&verified), "alice@acme.example");
    assert!(!verified.as_str().contains("<!--"));
}

#[test]
fn the_signature_must_reference_the_element_that_holds_it_and_ids_must_be_unique() {
    let signed = fixture("assertion-rsa-sha256.xml");
    for (from, to, error) in [
        ("URI=\"#_a1\"", "URI=\"#_other\"", DsigError::Reference),
        ("URI=\"#_a1\"", "URI=\"\"", DsigError::Reference),
        ("URI=\"#_a1\"", "URI=\"_a1\"", DsigError::Reference),
        // The ID carried by another element too (XSW: the reference would resolve to either).
        ("<saml:Issuer>", "<saml:Issuer ID=\"_a1\">", DsigError::DuplicateId),
        ("<saml:Issuer>", "<saml:Issuer AssertionID=\"_a1\">", DsigError::DuplicateId),
        // The ID in a namespace is not the ID.
        ("ID=\"_a1\" IssueInstant", "xsi:ID=\"_a1\" IssueInstant", DsigError::Reference),
    ] {
        let changed = signed.replacen(from, to, 1);
        assert_eq!(verify(&changed, &["rsa-cert.pem"]).unwrap_err(), error, "{from} -> {to}");
    }
    // The signed assertion moved inside a response: still the assertion that holds the signature.
    let response = fixture("response-signed-assertion.xml");
    let verified = verify(&response, &["rsa-cert.pem"]).unwrap();
    assert!(verified.as_str().starts_with("<saml:Assertion") && !verified.as_str().contains("samlp:Status"));
}

#[test]
fn anything_beyond_the_one_accepted_shape_is_refused() {
    let signed = fixture("assertion-rsa-sha256.xml");
    let enveloped = "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>";
    let exclusive = "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>";
    let reference_start = signed.find("<ds:Reference").unwrap();
    let reference_end = signed.find("</ds:Reference>").unwrap() + "</ds:Reference>".len();
    let reference = &signed[reference_start..reference_end];
    for (from, to, error) in [
        // A second Reference (to anything).
        (reference.to_string(), format!("{reference}{reference}"), DsigError::Structure("SignedInfo")),
        // An Object (where XSW hides the original).
        (
            "</ds:Signature>".into(),
            "<ds:Object><x/></ds:Object></ds:Signature>".into(),
            DsigError::Structure("Signature"),
        ),
        // KeyInfo before SignatureValue.
        ("<ds:SignatureValue>".into(), "<ds:KeyInfo/><ds:SignatureValue>".into(), DsigError::Structure("Signature")),
        // Transforms: reversed, one missing, one more, another one.
        (format!("{enveloped}{exclusive}"), format!("{exclusive}{enveloped}"), DsigError::Transforms),
        (format!("{enveloped}{exclusive}"), exclusive.to_string(), DsigError::Transforms),
        (format!("{enveloped}{exclusive}"), format!("{enveloped}{exclusive}{exclusive}"), DsigError::Transforms),
        (
            exclusive.to_string(),
            "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"/>".into(),
            DsigError::Transforms,
        ),
        // Algorithms: SHA-1, inclusive c14n, c14n with comments, HMAC.
        (
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256".into(),
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1".into(),
            DsigError::Algorithm("signature"),
        ),
        (
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256".into(),
            "http://www.w3.org/2000/09/xmldsig#hmac-sha1".into(),
            DsigError::Algorithm("signature"),
        ),
        (
            "http://www.w3.org/2001/04/xmlenc#sha256".into(),
            "http://www.w3.org/2000/09/xmldsig#sha1".into(),
            DsigError::Algorithm("digest"),
        ),
        (
            "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>".into(),
            "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/>".into(),
            DsigError::Algorithm("canonicalization"),
        ),
        (
            "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>".into(),
            "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#WithComments\"/>".into(),
            DsigError::Algorithm("canonicalization"),
        ),
    ] {
        let changed = signed.replacen(&from, &to, 1);
        assert_ne!(changed, signed, "{from}");
        assert_eq!(verify(&changed, &["rsa-cert.pem"]).unwrap_err(), error, "{from} -> {to}");
    }
}

/// SHA-1 (deprecated) only under `Sha1::Allowed` — a SAML connector's `allow_sha1` —, in each combination: an
/// RSA-SHA1 signature with a SHA-1 digest, SHA-1 in only one of the two. The documents are the independent
/// signer's, signed again with those algorithms by the same key (testkit/resign.rs); the control (SHA-256 for
/// both, signed again the same way) verifies under every policy.
#[test]
fn sha1_signatures_and_digests_verify_only_when_allowed() {
    let original = fixture("assertion-rsa-sha256.xml");
    let control = resign(&original, RSA_SHA256, SHA256);
    // RSA PKCS #1 v1.5 is deterministic: signed again as it was, the independent signer's document comes back
    // byte for byte (the re-signer is right, so the SHA-1 documents below are as an IdP would sign them).
    assert_eq!(control, original);
    for policy in [None, Some(Sha1::Refused), Some(Sha1::Allowed)] {
        assert_eq!(name_id(&verify_with(&control, &["rsa-cert.pem"], policy).unwrap()), "alice@acme.example");
    }
    for (signature_method, digest_method, refusal) in [
        (RSA_SHA1, SHA1, DsigError::Algorithm("signature")),
        (RSA_SHA1, SHA256, DsigError::Algorithm("signature")),
        (RSA_SHA256, SHA1, DsigError::Algorithm("digest")),
    ] {
        let signed = resign(&original, signature_method, digest_method);
        let what = format!("{signature_method} + {digest_method}");
        let verified = verify_with(&signed, &["rsa-cert.pem"], Some(Sha1::Allowed));
        let verified = verified.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(name_id(&verified), "alice@acme.example", "{what}");
        assert!(!verified.as_str().contains("SignatureValue"), "{what}");
        // Without the option (WS-Federation, every other caller, a connector without allow_sha1): refused, by
        // the algorithm, before any key is tried.
        assert_eq!(verify(&signed, &["rsa-cert.pem"]).unwrap_err(), refusal, "{what}");
        assert_eq!(verify_with(&signed, &["rsa-cert.pem"], Some(Sha1::Refused)).unwrap_err(), refusal, "{what}");
        assert_eq!(Sha1::allowed_if(false), Sha1::Refused);
        assert_eq!(Sha1::default(), Sha1::Refused);
    }
}

/// With SHA-1 allowed, the rest holds as before: the SHA-1 digest is compared (a changed value is refused), the
/// RSA-SHA1 signature is verified with the configured keys only (another key, a changed signature, an EC key
/// are refused), and SHA-1 opens nothing else — no ECDSA-SHA1, DSA-SHA1 or HMAC-SHA1.
#[test]
fn allowing_sha1_relaxes_nothing_else() {
    let allowed = Some(Sha1::Allowed);
    let signed = resign(&fixture("assertion-rsa-sha256.xml"), RSA_SHA1, SHA1);
    let changed = signed.replacen("alice@acme.example", "admin@acme.example", 1);
    assert_eq!(verify_with(&changed, &["rsa-cert.pem"], allowed).unwrap_err(), DsigError::DigestMismatch);
    let digest_start = signed.find("DigestValue>").unwrap() + "DigestValue>".len();
    let mut wrong_digest = signed.clone();
    wrong_digest.replace_range(digest_start..digest_start + 4, "AAAA");
    assert_ne!(wrong_digest, signed);
    assert_eq!(verify_with(&wrong_digest, &["rsa-cert.pem"], allowed).unwrap_err(), DsigError::DigestMismatch);
    for certs in [&["other-cert.pem"][..], &["ec-cert.pem"], &[]] {
        assert_eq!(verify_with(&signed, certs, allowed).unwrap_err(), DsigError::BadSignature, "{certs:?}");
    }
    let value_start = signed.find("SignatureValue>").unwrap() + "SignatureValue>".len();
    let mut wrong_value = signed.clone();
    let flipped = if &signed[value_start..value_start + 1] == "A" { "B" } else { "A" };
    wrong_value.replace_range(value_start..value_start + 1, flipped);
    assert_eq!(verify_with(&wrong_value, &["rsa-cert.pem"], allowed).unwrap_err(), DsigError::BadSignature);
    // Rollover still works: the right key among others.
    verify_with(&signed, &["other-cert.pem", "ec-cert.pem", "rsa-cert.pem"], allowed).unwrap();
    // A key that names its own algorithm (a JWK's `alg`; certificates never do) is not used for RSA-SHA1.
    let mut named = key("rsa-cert.pem");
    named.alg = Some("RS256".into());
    let text = normalize_line_ends(&signed);
    let document = parse(&text).unwrap();
    let signature = document.elements().find(|e| e.is(DSIG_NS, "Signature")).unwrap();
    let checked = check_enveloped_with(&document, signature, Sha1::Allowed).unwrap();
    let refused = pollster::block_on(checked.clone().verify(std::slice::from_ref(&named), &Ring));
    assert_eq!(refused.unwrap_err(), DsigError::BadSignature);
    named.alg = None;
    pollster::block_on(checked.verify(&[named], &Ring)).unwrap();
    for other in [
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
        "http://www.w3.org/2000/09/xmldsig#dsa-sha1",
        "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-md5",
    ] {
        let changed = signed.replacen(RSA_SHA1, other, 1);
        assert_ne!(changed, signed);
        assert_eq!(
            verify_with(&changed, &["rsa-cert.pem"], allowed).unwrap_err(),
            DsigError::Algorithm("signature"),
            "{other}"
        );
    }
    let md5 = signed.replacen(SHA1, "http://www.w3.org/2001/04/xmldsig-more#md5", 1);
    assert_ne!(md5, signed);
    assert_eq!(verify_with(&md5, &["rsa-cert.pem"], allowed).unwrap_err(), DsigError::Algorithm("digest"));
}
