//! WS-Federation `wresult` verification (src/core/wsfed): AD FS- and Entra-shaped responses (SAML 1.1 and SAML
//! 2.0 tokens, WS-Trust 2005/02 and 1.3 envelopes) signed by an independent signer (signxml,
//! tests/fixtures/xml/wsfed/make.py), verified with ring. Valid shapes give their identity; each rule of the
//! envelope and of the token, and each wrapping attack, is refused with the rule's own error.
#![cfg(feature = "xml")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

#[path = "../testkit/resign.rs"]
mod resign;
#[path = "../testkit/mod.rs"]
mod testkit;

use edge_auth::core::oidc::jwks::{Alg, Jwk};
use edge_auth::core::ports::{CryptoError, SignatureVerifier};
use edge_auth::core::saml::time::parse_datetime;
use edge_auth::core::wsfed::identity::{email_of, groups_of, stable_subject};
use edge_auth::core::wsfed::{verify_wresult, Claim, Expected, TokenKind, WsFedError, WsFedIdentity};
use edge_auth::core::x509::parse_certificate;
use edge_auth::core::xml::dsig::DsigError;
use edge_auth::core::xml::XmlError;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/xml/wsfed/");
const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/xml/dsig/");
const ADFS_ISSUER: &str = "http://adfs.contoso.example/adfs/services/trust";
const ADFS_REALM: &str = "https://app.example/auth/wsfed/adfs";
const ENTRA_ISSUER: &str = "https://sts.windows.net/0b5c4e36-7a0e-4d1b-9f1e-3c2d4b6a8e90/";
const ENTRA_REALM: &str = "https://app.example/auth/wsfed/entra";
const EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}{name}")).unwrap()
}

struct Ring;

impl SignatureVerifier for Ring {
    async fn verify(&self, alg: Alg, key: &Jwk, input: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
        testkit::idp::ring_verify(alg, key, input, signature).map_err(|e| CryptoError(e.to_string()))
    }

    /// Able to verify RSA-SHA1: a refusal below is WS-Federation's rule, not a verifier that cannot.
    async fn verify_rsa_sha1(&self, key: &Jwk, input: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
        testkit::idp::ring_verify_rsa_sha1(key, input, signature).map_err(CryptoError)
    }
}

fn keys(cert: &str) -> Vec<Jwk> {
    vec![parse_certificate(&std::fs::read_to_string(format!("{KEYS}{cert}")).unwrap()).unwrap().key]
}

fn at(time: &str) -> u64 {
    parse_datetime(time).unwrap()
}

/// What the fixture's IdP (AD FS for `adfs-*`, Entra otherwise) and relying party expect, at 10:00:30Z.
fn expected<'a>(name: &str, keys: &'a [Jwk]) -> Expected<'a> {
    let (issuer, realm) =
        if name.starts_with("adfs") { (ADFS_ISSUER, ADFS_REALM) } else { (ENTRA_ISSUER, ENTRA_REALM) };
    Expected { issuer, realm, reply_url: realm, keys, now: at("2026-12-02T10:00:30Z"), leeway: 60 }
}

/// Verify `xml` as the fixture `name`'s relying party would, after `change` to what it expects.
fn check_as(name: &str, xml: &str, change: impl FnOnce(&mut Expected<'_>)) -> Result<WsFedIdentity, WsFedError> {
    let keys = keys("rsa-cert.pem");
    let mut expected = expected(name, &keys);
    change(&mut expected);
    pollster::block_on(verify_wresult(xml, &expected, &Ring))
}

fn check(name: &str) -> Result<WsFedIdentity, WsFedError> {
    check_as(name, &fixture(name), |_| {})
}

fn invalid(rule: &'static str) -> WsFedError {
    WsFedError::Invalid(rule)
}

fn claim<'a>(identity: &'a WsFedIdentity, name: &str) -> &'a [String] {
    &identity.claims.iter().find(|c| c.name == name).unwrap().values
}

#[test]
fn an_adfs_saml11_response_gives_the_identity() {
    let identity = check("adfs-saml11.xml").unwrap();
    assert_eq!(identity.token, TokenKind::Saml11);
    assert_eq!(identity.assertion_id, "_d71a3a8e-9fcc-4c9e-9d2b-8a1c2e3f4a5b");
    assert_eq!(identity.issuer, ADFS_ISSUER);
    assert_eq!(identity.name_identifier, "alice@acme.example");
    assert_eq!(
        identity.name_identifier_format.as_deref(),
        Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
    );
    // SAML 1.1 claim names are AttributeNamespace + "/" + AttributeName.
    assert_eq!(
        identity.claims[3],
        Claim {
            name: "http://schemas.microsoft.com/ws/2008/06/identity/claims/role".into(),
            values: vec!["Domain Users".into(), "Finance".into()]
        }
    );
    assert_eq!(claim(&identity, EMAIL), ["alice@acme.example"]);
    assert_eq!(identity.valid_until, at("2026-12-02T11:01:00Z"), "Conditions NotOnOrAfter + leeway");
    assert_eq!(identity.session_not_on_or_after, None);
    assert_eq!(email_of(&identity, None).unwrap().address(), "alice@acme.example");
    assert_eq!(stable_subject(&identity), Ok("hT9xN2fXkUaUeH0bq8Q1mA=="), "the ImmutableID claim");
    assert_eq!(groups_of(&identity).unwrap(), ["Domain Users", "Finance"]);
}

#[test]
fn an_entra_saml11_response_gives_the_identity() {
    let identity = check("entra-saml11.xml").unwrap();
    assert_eq!((identity.token, identity.issuer.as_str()), (TokenKind::Saml11, ENTRA_ISSUER));
    assert_eq!(identity.name_identifier, "Kq3xYbWm1nR7sPz0dLhA9vT2cUeF4gJ6oI8kM5wN_jQ");
    // No emailaddress claim: the UPN in the name claim is the address.
    assert_eq!(email_of(&identity, None).unwrap().address(), "bob@acme.example");
    assert_eq!(stable_subject(&identity), Ok("5e8f1c2a-3b4d-4e6f-8a9b-0c1d2e3f4a5b"), "the object ID");
}

#[test]
fn entra_saml2_tokens_in_a_2005_response_or_a_ws_trust_13_collection_give_the_identity() {
    for name in ["entra-saml2.xml", "wstrust13-saml2.xml"] {
        let identity = check(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(identity.token, TokenKind::Saml2, "{name}");
        assert_eq!(identity.assertion_id, "_8c2d4e6f-1a3b-4c5d-9e7f-2b4d6f8a0c1e");
        assert_eq!(identity.name_identifier, "Kq3xYbWm1nR7sPz0dLhA9vT2cUeF4gJ6oI8kM5wN_jQ");
        assert_eq!(identity.valid_until, at("2026-12-02T10:06:00Z"), "the confirmation's end + leeway");
        assert_eq!(email_of(&identity, None).unwrap().address(), "carol@acme.example");
        assert_eq!(groups_of(&identity).unwrap(), ["7f0e1d2c-3b4a-5968-7a8b-9c0d1e2f3a4b"]);
    }
}

/// The signed `<saml:Assertion …>…</saml:Assertion>` of a SAML 1.1 fixture, its `ds:Signature`, and an evil
/// assertion: the same one unsigned, for another user, under another AssertionID (so that the ID index is not
/// what refuses the wrapping).
fn parts(xml: &str) -> (String, String, String) {
    let start = xml.find("<saml:Assertion").unwrap();
    let end = xml.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let signed = xml[start..end].to_string();
    let sig_start = signed.find("<ds:Signature").unwrap();
    let sig_end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let signature = signed[sig_start..sig_end].to_string();
    let evil = signed
        .replace(&signature, "")
        .replace("</saml:NameIdentifier>", ".mallory</saml:NameIdentifier>")
        .replace(r#"AssertionID="_"#, r#"AssertionID="_evil"#);
    assert!(evil.contains("_evil") && evil.contains(".mallory") && !evil.contains("<ds:"));
    (signed, signature, evil)
}

#[test]
fn an_unsigned_token_or_one_signed_by_another_key_is_refused() {
    let xml = fixture("adfs-saml11.xml");
    let (_, signature, _) = parts(&xml);
    assert_eq!(check_as("adfs", &xml.replace(&signature, ""), |_| {}).unwrap_err(), invalid("the Assertion is signed"));
    let foreign = check("adfs-saml11-other-key.xml").unwrap_err();
    assert_eq!(foreign, WsFedError::Signature(DsigError::BadSignature), "signed, but not by the configured key");
    let other_keys = keys("other-cert.pem");
    let refused = pollster::block_on(verify_wresult(&xml, &expected("adfs", &other_keys), &Ring)).unwrap_err();
    assert_eq!(refused, WsFedError::Signature(DsigError::BadSignature), "the certificate in KeyInfo is not trusted");
}

#[test]
fn the_token_must_come_from_the_issuer_for_the_realm_and_the_reply_url() {
    for name in ["adfs-saml11.xml", "entra-saml2.xml"] {
        let xml = fixture(name);
        let refused = check_as(name, &xml, |e| e.issuer = "https://other-idp.example/").unwrap_err();
        assert_eq!(refused, invalid("the Assertion's Issuer is the IdP"), "{name}");
        // Another realm: the unsigned AppliesTo names ours, and can refuse…
        let refused = check_as(name, &xml, |e| e.realm = "https://other-app.example/").unwrap_err();
        assert_eq!(refused, invalid("AppliesTo, when present, names the realm"), "{name}");
        // …but never accept: rewritten to name the other realm (anyone can), the signed audience still refuses.
        let retargeted = xml.replace(
            &format!("<wsa:Address>{}</wsa:Address>", if name.starts_with("adfs") { ADFS_REALM } else { ENTRA_REALM }),
            "<wsa:Address>https://other-app.example/</wsa:Address>",
        );
        let refused = check_as(name, &retargeted, |e| e.realm = "https://other-app.example/").unwrap_err();
        assert_eq!(refused, invalid("every audience restriction names the realm"), "{name}");
    }
    // Every audience restriction must name the realm, not just one of them.
    assert_eq!(
        check("adfs-saml11-second-audience.xml").unwrap_err(),
        invalid("every audience restriction names the realm")
    );
    // A SAML 2.0 confirmation's Recipient is the reply URL.
    let refused =
        check_as("entra", &fixture("entra-saml2.xml"), |e| e.reply_url = "https://app.example/other").unwrap_err();
    assert_eq!(refused, invalid("Recipient, when present, is the reply URL"));
}

#[test]
fn applies_to_and_lifetime_are_optional_and_never_trusted() {
    let xml = fixture("adfs-saml11.xml");
    let start = xml.find("<wsp:AppliesTo").unwrap();
    let end = xml.find("</wsp:AppliesTo>").unwrap() + "</wsp:AppliesTo>".len();
    let without = xml.replace(&xml[start..end], "");
    assert!(check_as("adfs", &without, |_| {}).is_ok(), "AppliesTo may be absent");
    // A Lifetime that says the token is still valid does not extend the signed window.
    let lifetime = xml.replace("2026-12-02T11:00:00.000Z</wsu:Expires>", "2027-12-02T11:00:00.000Z</wsu:Expires>");
    let refused = check_as("adfs", &lifetime, |e| e.now = at("2026-12-02T12:00:00Z")).unwrap_err();
    assert_eq!(refused, WsFedError::Expired("Conditions NotOnOrAfter"));
}

#[test]
fn the_time_windows_hold_with_the_leeway() {
    let adfs = fixture("adfs-saml11.xml");
    let at_time = |time: &'static str| move |e: &mut Expected<'_>| e.now = at(time);
    assert!(check_as("adfs", &adfs, at_time("2026-12-02T11:00:59Z")).is_ok(), "within the leeway after the end");
    assert_eq!(
        check_as("adfs", &adfs, at_time("2026-12-02T11:01:00Z")).unwrap_err(),
        WsFedError::Expired("Conditions NotOnOrAfter")
    );
    assert!(check_as("adfs", &adfs, at_time("2026-12-02T09:59:00Z")).is_ok(), "within the leeway before NotBefore");
    assert_eq!(
        check_as("adfs", &adfs, at_time("2026-12-02T09:58:59Z")).unwrap_err(),
        WsFedError::NotYetValid("Conditions NotBefore")
    );
    let entra = fixture("entra-saml2.xml");
    assert!(check_as("entra", &entra, at_time("2026-12-02T10:05:59Z")).is_ok());
    assert_eq!(
        check_as("entra", &entra, at_time("2026-12-02T10:06:00Z")).unwrap_err(),
        WsFedError::Expired("SubjectConfirmationData NotOnOrAfter")
    );
    // A SAML 1.1 bearer token has no other end than Conditions NotOnOrAfter: it is required.
    assert_eq!(check("adfs-saml11-no-end.xml").unwrap_err(), invalid("Conditions has a NotOnOrAfter"));
}

#[test]
fn the_envelope_holds_exactly_one_response_and_one_token() {
    let xml = fixture("adfs-saml11.xml");
    let (signed, _, evil) = parts(&xml);
    let two_tokens = xml.replace(&signed, &format!("{signed}{evil}"));
    assert_eq!(
        check_as("adfs", &two_tokens, |_| {}).unwrap_err(),
        invalid("the RequestedSecurityToken holds exactly one token")
    );
    let container = format!("<t:RequestedSecurityToken>{signed}</t:RequestedSecurityToken>");
    let evil_container = format!("<t:RequestedSecurityToken>{evil}</t:RequestedSecurityToken>");
    let two_containers = xml.replace(&container, &format!("{container}{evil_container}"));
    assert_eq!(check_as("adfs", &two_containers, |_| {}).unwrap_err(), invalid("exactly one RequestedSecurityToken"));
    let empty = xml.replace(&container, "<t:RequestedSecurityToken/>");
    assert_eq!(
        check_as("adfs", &empty, |_| {}).unwrap_err(),
        invalid("the RequestedSecurityToken holds exactly one token")
    );

    // Two responses: in a WS-Trust 1.3 collection, or one nested in the other.
    let collection = fixture("wstrust13-saml2.xml");
    let start = collection.find("<trust:RequestSecurityTokenResponse>").unwrap();
    let end = collection.find("</trust:RequestSecurityTokenResponse>").unwrap()
        + "</trust:RequestSecurityTokenResponse>".len();
    let response = &collection[start..end];
    let evil_response = response
        .replace("<trust:RequestedSecurityToken>", "<trust:Status>")
        .replace("</trust:RequestedSecurityToken>", "</trust:Status>");
    for doubled in [format!("{response}{evil_response}"), format!("{evil_response}{response}")] {
        let refused = check_as("entra", &collection.replace(response, &doubled), |_| {}).unwrap_err();
        assert_eq!(refused, invalid("the collection holds exactly one RequestSecurityTokenResponse"));
    }
    let nested = xml.replace("<t:Lifetime>", "<t:RequestSecurityTokenResponse/><t:Lifetime>");
    assert_eq!(check_as("adfs", &nested, |_| {}).unwrap_err(), invalid("exactly one RequestSecurityTokenResponse"));
    // A WS-Trust 2005/02 response inside a 1.3 collection mixes versions: refused.
    let mixed = collection.replace(response, &xml);
    assert_eq!(
        check_as("adfs", &mixed, |_| {}).unwrap_err(),
        invalid("the collection holds exactly one RequestSecurityTokenResponse")
    );
    // Not a response at all: a bare assertion, or another root.
    assert_eq!(
        check_as("adfs", &signed, |_| {}).unwrap_err(),
        invalid("the wresult is a RequestSecurityTokenResponse")
    );
    // An encrypted token is refused, not skipped.
    let encrypted = xml.replace(&signed, r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/>"#);
    assert_eq!(check_as("adfs", &encrypted, |_| {}).unwrap_err(), invalid("no encrypted token (not supported)"));
}

#[test]
fn signature_wrapping_is_refused() {
    let one_assertion = invalid("exactly one Assertion");
    for name in ["adfs-saml11.xml", "entra-saml11.xml"] {
        let xml = fixture(name);
        let (signed, signature, evil) = parts(&xml);
        let check_here = |xml: &str| check_as(name, xml, |_| {}).unwrap_err();
        // The evil assertion beside the response's token, in an extension element, in AppliesTo.
        let beside = xml.replace("<t:TokenType>", &format!("{evil}<t:TokenType>"));
        assert_eq!(check_here(&beside), one_assertion, "{name}");
        let extension =
            xml.replace("<t:TokenType>", &format!("<x:Extra xmlns:x=\"urn:x\">{evil}</x:Extra><t:TokenType>"));
        assert_eq!(check_here(&extension), one_assertion, "{name}");
        // The signed one moved into AppliesTo (or an extension), the evil one in its place (XSW1–4 shapes).
        let applies_to = xml.replace(&signed, &evil).replace("</wsp:AppliesTo>", &format!("{signed}</wsp:AppliesTo>"));
        assert_eq!(check_here(&applies_to), one_assertion, "{name}");
        let moved_out = xml.replace(&signed, "").replace("</wsp:AppliesTo>", &format!("{signed}</wsp:AppliesTo>"));
        assert_eq!(check_here(&moved_out), invalid("the RequestedSecurityToken holds exactly one token"), "{name}");
        // The evil one around the signed one (in its Advice), and the signed one inside the evil one.
        let around =
            evil.replacen("<saml:Conditions", &format!("<saml:Advice>{signed}</saml:Advice><saml:Conditions"), 1);
        assert_eq!(check_here(&xml.replace(&signed, &around)), one_assertion, "{name}");
        let inside =
            signed.replacen("<saml:Conditions", &format!("<saml:Advice>{evil}</saml:Advice><saml:Conditions"), 1);
        assert_eq!(check_here(&xml.replace(&signed, &inside)), one_assertion, "{name}");
        // Only the evil one: unsigned; or carrying the signed one's signature (the digest is not its own).
        assert_eq!(check_here(&xml.replace(&signed, &evil)), invalid("the Assertion is signed"), "{name}");
        let stolen = evil.replace("</saml:Assertion>", &format!("{signature}</saml:Assertion>"));
        let refused = check_here(&xml.replace(&signed, &stolen));
        assert!(
            matches!(refused, WsFedError::Signature(DsigError::Reference | DsigError::DigestMismatch)),
            "{name}: {refused:?}"
        );
        // A signature anywhere but on the assertion.
        let misplaced =
            xml.replace(&signature, "").replace("</wsp:AppliesTo>", &format!("{signature}</wsp:AppliesTo>"));
        assert_eq!(check_here(&misplaced), invalid("ds:Signature only on the Assertion"), "{name}");
        let second = xml.replace("</t:RequestedSecurityToken>", &format!("</t:RequestedSecurityToken>{signature}"));
        assert_eq!(check_here(&second), invalid("ds:Signature only on the Assertion"), "{name}");
    }
}

#[test]
fn claims_come_from_the_signed_bytes_whole() {
    // The IdP signed "alice@acme.example.evil.test". A comment inserted before the suffix keeps the signature
    // valid (comments are not signed) and must not cut the value short to an address in acme.example.
    let xml = fixture("adfs-saml11-email-suffix.xml").replace(
        ">alice@acme.example.evil.test</saml:AttributeValue>",
        ">alice@acme.example<!---->.evil.test</saml:AttributeValue>",
    );
    assert!(xml.contains("<!---->"));
    let identity = check_as("adfs", &xml, |_| {}).unwrap();
    assert_eq!(email_of(&identity, None).unwrap().address(), "alice@acme.example.evil.test");
    // A change to the signed text (not a comment) breaks the digest.
    let edited = fixture("adfs-saml11.xml").replacen(
        ">alice@acme.example</saml:AttributeValue>",
        ">mallory@acme.example</saml:AttributeValue>",
        1,
    );
    assert_eq!(check_as("adfs", &edited, |_| {}).unwrap_err(), WsFedError::Signature(DsigError::DigestMismatch));
}

#[test]
fn a_dtd_is_refused_and_line_ends_are_normalised() {
    let xml = fixture("adfs-saml11.xml");
    let dtd = format!("<!DOCTYPE t:RequestSecurityTokenResponse [<!ENTITY e \"alice\">]>{xml}");
    assert_eq!(check_as("adfs", &dtd, |_| {}).unwrap_err(), WsFedError::Xml(XmlError::Dtd));
    // AD FS farms behind some proxies post CRLF between elements: read as LF, the signature still verifies.
    let crlf = xml.replace("<t:TokenType>", "\r\n<t:TokenType>");
    assert!(check_as("adfs", &crlf, |_| {}).is_ok());
}

#[test]
fn each_assertion_rule_refuses_its_signed_variant() {
    let cases: [(&str, WsFedError); 7] = [
        ("adfs-saml11-unknown-condition.xml", invalid("no condition edge-auth does not evaluate")),
        ("adfs-saml11-holder-of-key.xml", invalid("the ConfirmationMethod is bearer")),
        ("adfs-saml11-two-subjects.xml", invalid("every statement names the same subject")),
        ("adfs-saml11-minor-version-0.xml", invalid("a SAML 1.1 Assertion")),
        ("adfs-saml11-advice.xml", invalid("no Assertion content edge-auth does not read")),
        ("adfs-saml11-no-end.xml", invalid("Conditions has a NotOnOrAfter")),
        ("entra-saml2-in-response-to.xml", invalid("the confirmation has no InResponseTo")),
    ];
    for (name, error) in cases {
        assert_eq!(check(name).unwrap_err(), error, "{name}");
    }
    // DoNotCacheCondition asks nothing of an SP that keeps no copy: accepted, so the refusal above is about the
    // unknown condition and not about any extra child.
    assert_eq!(check("adfs-saml11-do-not-cache.xml").unwrap().name_identifier, "alice@acme.example");
}

/// WS-Federation has no `allow_sha1`: a token signed with RSA-SHA1, or digested with SHA-1, by the configured key
/// is refused by its algorithm. The same token signed again with SHA-256 (the control) is accepted.
#[test]
fn sha1_signed_tokens_are_refused() {
    use resign::{resign, RSA_SHA1, RSA_SHA256, SHA1, SHA256};
    for name in ["adfs-saml11.xml", "entra-saml2.xml"] {
        let original = fixture(name);
        let control = resign(&original, RSA_SHA256, SHA256);
        assert_eq!(
            control, original,
            "{name}: signed again as it was (RSA PKCS #1 v1.5 is deterministic), byte for byte"
        );
        check_as(name, &control, |_| {}).unwrap_or_else(|e| panic!("{name}: the control: {e}"));
        for (signature_method, digest_method, what) in
            [(RSA_SHA1, SHA1, "signature"), (RSA_SHA1, SHA256, "signature"), (RSA_SHA256, SHA1, "digest")]
        {
            let signed = resign(&original, signature_method, digest_method);
            assert_eq!(
                check_as(name, &signed, |_| {}).unwrap_err(),
                WsFedError::Signature(DsigError::Algorithm(what)),
                "{name}: {signature_method} + {digest_method}"
            );
        }
    }
}
