//! SAML 2.0 responses (src/core/saml): documents signed by an independent signer (signxml,
//! tests/fixtures/xml/dsig/make.py), verified with ring. Valid shapes give their identity; each rule of the
//! profile and each wrapping attack (XSW) is refused with the rule's own error.
#![cfg(feature = "xml")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

#[path = "../testkit/resign.rs"]
mod resign;
#[path = "../testkit/mod.rs"]
mod testkit;

use edge_auth::core::oidc::jwks::{Alg, Jwk};
use edge_auth::core::ports::{CryptoError, KeyUnwrapper, OaepHash, SignatureVerifier, UnwrapError};
use edge_auth::core::saml::time::parse_datetime;
use edge_auth::core::saml::{verify_response, Attribute, Expected, SamlError, SamlIdentity};
use edge_auth::core::x509::parse_certificate;
use edge_auth::core::xml::dsig::{DsigError, Sha1};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/xml/dsig/");
const ACS: &str = "https://sp.example/auth/saml/acme/acs";
const SP: &str = "https://sp.example/auth/saml/acme/metadata";
const IDP: &str = "https://idp.example/";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}{name}")).unwrap()
}

struct Ring;

impl SignatureVerifier for Ring {
    async fn verify(&self, alg: Alg, key: &Jwk, input: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
        testkit::idp::ring_verify(alg, key, input, signature).map_err(|e| CryptoError(e.to_string()))
    }

    async fn verify_rsa_sha1(&self, key: &Jwk, input: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
        testkit::idp::ring_verify_rsa_sha1(key, input, signature).map_err(CryptoError)
    }
}

impl KeyUnwrapper for Ring {
    async fn rsa_oaep_decrypt(&self, key: &[u8], hash: OaepHash, encrypted: &[u8]) -> Result<Vec<u8>, UnwrapError> {
        testkit::idp::rsa_oaep_decrypt(key, hash, encrypted)
    }
}

fn keys(cert: &str) -> Vec<Jwk> {
    vec![parse_certificate(&fixture(cert)).unwrap().key]
}

fn now() -> u64 {
    parse_datetime("2026-12-02T10:00:30Z").unwrap()
}

fn expected(keys: &[Jwk]) -> Expected<'_> {
    Expected {
        idp_entity_id: IDP,
        sp_entity_id: SP,
        acs_url: ACS,
        request_id: "_req1",
        keys,
        now: now(),
        leeway: 60,
        decryption_key: None,
        sha1: Sha1::Refused,
    }
}

fn check_with(xml: &str, change: impl FnOnce(&mut Expected<'_>)) -> Result<SamlIdentity, SamlError> {
    let keys = keys("rsa-cert.pem");
    let mut expected = expected(&keys);
    change(&mut expected);
    pollster::block_on(verify_response(xml, &expected, &Ring))
}

fn check(xml: &str) -> Result<SamlIdentity, SamlError> {
    check_with(xml, |_| {})
}

const SIGNED_SHAPES: [&str; 3] =
    ["saml-response-signed-assertion.xml", "saml-response-signed-response.xml", "saml-response-signed-both.xml"];

#[test]
fn a_signed_assertion_a_signed_response_or_both_give_the_identity() {
    for name in SIGNED_SHAPES {
        let identity = check(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(identity.assertion_id, "_assert1", "{name}");
        assert_eq!(identity.name_id, "alice@acme.example");
        assert_eq!(identity.name_id_format.as_deref(), Some(edge_auth::core::saml::EMAIL_ADDRESS_FORMAT));
        assert_eq!(identity.session_index.as_deref(), Some("_session1"));
        assert_eq!(identity.session_not_on_or_after, parse_datetime("2026-12-02T18:00:00Z"));
        assert_eq!(identity.valid_until, parse_datetime("2026-12-02T10:06:00Z").unwrap(), "the earlier end + leeway");
        assert_eq!(
            identity.attributes[1],
            Attribute { name: "groups".into(), values: vec!["admins".into(), "staff".into()] }
        );
    }
}

#[test]
fn an_unsigned_response_or_one_signed_by_another_key_is_refused() {
    assert_eq!(
        check(&fixture("saml-response-unsigned.xml")).unwrap_err(),
        SamlError::Invalid("the Response or the Assertion is signed")
    );
    for name in SIGNED_SHAPES {
        let keys = keys("other-cert.pem");
        let refused = pollster::block_on(verify_response(&fixture(name), &expected(&keys), &Ring));
        assert_eq!(refused.unwrap_err(), SamlError::Signature(DsigError::BadSignature), "{name}");
    }
}

#[test]
fn the_response_must_answer_this_browsers_request_at_this_acs_from_this_idp() {
    let xml = fixture("saml-response-signed-assertion.xml");
    type Case = (&'static str, fn(&mut Expected<'_>), SamlError);
    let cases: [Case; 4] = [
        ("request", |e| e.request_id = "_another", SamlError::Invalid("InResponseTo is this browser's request")),
        ("acs", |e| e.acs_url = "https://sp.example/other", SamlError::Invalid("Destination is the ACS URL")),
        (
            "idp",
            |e| e.idp_entity_id = "https://other-idp.example/",
            SamlError::Invalid("the Response's Issuer is the IdP"),
        ),
        (
            "audience",
            |e| e.sp_entity_id = "https://other-sp.example/",
            SamlError::Invalid("every AudienceRestriction names this SP"),
        ),
    ];
    for (what, change, error) in cases {
        assert_eq!(check_with(&xml, change).unwrap_err(), error, "{what}");
    }
    // The Response's own (unsigned) fields are no way around the assertion's signed ones.
    let moved = xml
        .replace(r#"Destination="https://sp.example/auth/saml/acme/acs""#, r#"Destination="https://sp.example/other""#);
    let refused = check_with(&moved, |e| e.acs_url = "https://sp.example/other").unwrap_err();
    assert_eq!(refused, SamlError::Invalid("Recipient is the ACS URL"));
    let no_issuer = xml.replacen("<saml:Issuer>https://idp.example/</saml:Issuer>", "", 1);
    let refused = check_with(&no_issuer, |e| e.idp_entity_id = "https://other-idp.example/").unwrap_err();
    assert_eq!(refused, SamlError::Invalid("the Assertion's Issuer is the IdP"));
    let replayed = xml.replace(r#"InResponseTo="_req1" IssueInstant"#, r#"InResponseTo="_req2" IssueInstant"#);
    let refused = check_with(&replayed, |e| e.request_id = "_req2").unwrap_err();
    assert_eq!(refused, SamlError::Invalid("the confirmation's InResponseTo is this browser's request"));
}

#[test]
fn the_time_windows_hold_with_the_leeway() {
    let xml = fixture("saml-response-signed-assertion.xml");
    let at = |t: &str| parse_datetime(t).unwrap();
    assert!(check_with(&xml, |e| e.now = at("2026-12-02T10:05:59Z")).is_ok(), "within the leeway after the end");
    assert_eq!(
        check_with(&xml, |e| e.now = at("2026-12-02T10:06:00Z")).unwrap_err(),
        SamlError::Expired("SubjectConfirmationData NotOnOrAfter")
    );
    assert!(check_with(&xml, |e| e.now = at("2026-12-02T09:58:30Z")).is_ok(), "within the leeway before NotBefore");
    assert_eq!(
        check_with(&xml, |e| e.now = at("2026-12-02T09:58:29Z")).unwrap_err(),
        SamlError::NotYetValid("Conditions NotBefore")
    );
    assert_eq!(
        check_with(&xml, |e| {
            e.now = at("2026-12-02T10:06:00Z");
            e.leeway = 0;
        })
        .unwrap_err(),
        SamlError::Expired("SubjectConfirmationData NotOnOrAfter")
    );
}

#[test]
fn a_failed_status_is_reported_with_the_idps_codes() {
    let xml = fixture("saml-response-signed-assertion.xml").replace(
        r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>"#,
        r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/></samlp:StatusCode>"#,
    );
    assert_eq!(
        check(&xml).unwrap_err(),
        SamlError::Status {
            code: "urn:oasis:names:tc:SAML:2.0:status:Responder".into(),
            subcode: Some("urn:oasis:names:tc:SAML:2.0:status:AuthnFailed".into())
        }
    );
}

/// The signed `<saml:Assertion …>…</saml:Assertion>` of a fixture, and the evil (unsigned, another user's) one.
fn split(xml: &str) -> (String, String) {
    let start = xml.find("<saml:Assertion").unwrap();
    let end = xml.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let evil = fixture("saml-assertion-evil.xml");
    (xml[start..end].to_string(), evil.trim().to_string())
}

#[test]
fn signature_wrapping_is_refused() {
    let one_assertion = SamlError::Invalid("exactly one Assertion or EncryptedAssertion");
    for name in SIGNED_SHAPES {
        let xml = fixture(name);
        let (signed, evil) = split(&xml);
        // The evil assertion next to the signed one, before or after it.
        for wrapped in
            [xml.replacen(&signed, &format!("{evil}{signed}"), 1), xml.replacen(&signed, &format!("{signed}{evil}"), 1)]
        {
            assert_eq!(check(&wrapped).unwrap_err(), one_assertion, "{name}");
        }
        // The signed one hidden in Extensions (or any wrapper), the evil one in its place (XSW1–4 shapes).
        let hidden = xml.replacen(&signed, &format!("<samlp:Extensions>{signed}</samlp:Extensions>{evil}"), 1);
        assert_eq!(check(&hidden).unwrap_err(), one_assertion, "{name}");
        // The evil one inside the signed one's Subject or Advice (XSW5–8 shapes).
        let inside = xml.replacen("<saml:Conditions", &format!("<saml:Advice>{evil}</saml:Advice><saml:Conditions"), 1);
        assert_eq!(check(&inside).unwrap_err(), one_assertion, "{name}");
        // Only the evil one: unsigned, or its digest does not match the response's signature.
        let swapped = check(&xml.replacen(&signed, &evil, 1)).unwrap_err();
        assert!(
            matches!(swapped, SamlError::Invalid(_) | SamlError::Signature(DsigError::DigestMismatch)),
            "{name}: {swapped:?}"
        );
    }
    // A signature anywhere else than on the Response or the Assertion.
    let xml = fixture("saml-response-signed-assertion.xml");
    let (signed, _) = split(&xml);
    let sig_start = signed.find("<ds:Signature").unwrap();
    let sig_end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let signature = &signed[sig_start..sig_end];
    let misplaced = xml.replacen(signature, "", 1).replacen("<saml:NameID", &format!("{signature}<saml:NameID"), 1);
    assert_eq!(
        check(&misplaced).unwrap_err(),
        SamlError::Invalid("ds:Signature only on the Response or the Assertion")
    );
    // An EncryptedAssertion beside the signed assertion counts as a second assertion: refused, never skipped
    // (tests/saml_encrypted.rs has the encrypted shapes).
    let encrypted = xml.replacen("<samlp:Status>", "<saml:EncryptedAssertion/><samlp:Status>", 1);
    assert_eq!(check(&encrypted).unwrap_err(), one_assertion);
}

#[test]
fn what_is_read_comes_from_the_signed_bytes_only() {
    // A comment inside the signed NameID keeps the signature valid (comments are not signed) and cannot cut the
    // value short; an attribute the attacker adds to the unsigned Response is never read.
    let xml = fixture("saml-response-signed-assertion.xml").replacen(
        ">alice@acme.example</saml:NameID>",
        ">alice<!--.evil.example-->@acme.example</saml:NameID>",
        1,
    );
    assert_eq!(check(&xml).unwrap().name_id, "alice@acme.example");
}

/// SAML Core §2.5.1: an assertion with a condition the SP does not evaluate is Indeterminate and must not be
/// accepted (an IdP-signed `saml:Condition` of its own type restricts where the assertion may be used; ignoring
/// it accepts the assertion outside that restriction). The conditions SAML itself defines that need nothing
/// from this SP (OneTimeUse: IDs are single-use anyway; ProxyRestriction: it never proxies) still pass, so the
/// refusal is about the unknown condition, not about any extra child.
#[test]
fn a_condition_edge_auth_does_not_evaluate_is_refused() {
    let refused = check(&fixture("saml-response-unknown-condition.xml")).unwrap_err();
    assert_eq!(refused, SamlError::Invalid("no condition edge-auth does not evaluate"));
    let identity = check(&fixture("saml-response-known-conditions.xml")).unwrap();
    assert_eq!(identity.name_id, "alice@acme.example");
}

/// `Expected::sha1` reaches every signature the response path checks: a signed assertion, a signed response, and
/// both (the response's signature re-signed with SHA-1, the assertion's left SHA-256). Allowed: the identity;
/// refused (the default of a connector): the algorithm is the refusal.
#[test]
fn sha1_signed_responses_follow_the_connectors_option() {
    use resign::{resign, RSA_SHA1, RSA_SHA256, SHA1, SHA256};
    for name in
        ["saml-response-signed-assertion.xml", "saml-response-signed-response.xml", "saml-response-signed-both.xml"]
    {
        for (signature_method, digest_method, what) in
            [(RSA_SHA1, SHA1, "signature"), (RSA_SHA1, SHA256, "signature"), (RSA_SHA256, SHA1, "digest")]
        {
            let signed = resign(&fixture(name), signature_method, digest_method);
            let case = format!("{name}: {signature_method} + {digest_method}");
            let identity = check_with(&signed, |e| e.sha1 = Sha1::Allowed).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(identity.name_id, "alice@acme.example", "{case}");
            assert_eq!(check(&signed).unwrap_err(), SamlError::Signature(DsigError::Algorithm(what)), "{case}");
        }
    }
}

/// tests/fixtures/xml/dsig/saml-response-rsa-sha1.xml, which the wasm test (tests/webcrypto.rs) verifies through
/// WebCrypto, is saml-response-signed-assertion.xml signed again with RSA-SHA1 and a SHA-1 digest (the wasm test
/// cannot sign: it reads this file). Regenerate with `EDGE_AUTH_WRITE_FIXTURES=1 cargo test --features saml
/// --test saml_response sha1_fixture`.
#[test]
fn the_rsa_sha1_fixture_is_the_signed_assertion_signed_again() {
    use resign::{resign, RSA_SHA1, SHA1};
    let signed = resign(&fixture("saml-response-signed-assertion.xml"), RSA_SHA1, SHA1);
    if std::env::var_os("EDGE_AUTH_WRITE_FIXTURES").is_some() {
        std::fs::write(format!("{FIXTURES}saml-response-rsa-sha1.xml"), &signed).unwrap();
    }
    assert_eq!(fixture("saml-response-rsa-sha1.xml"), signed);
    let identity = check_with(&signed, |e| e.sha1 = Sha1::Allowed).unwrap();
    assert_eq!(identity.name_id, "alice@acme.example");
}
