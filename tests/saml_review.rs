//! Holes found by the hostile review of the SAML sign-in (issue 14), each pinned by a test that failed before
//! its fix.
#![cfg(feature = "saml")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use edge_auth::core::http::{Method, Request};
use edge_auth::core::incoming::{form_body_cap, with_form, FormBody, MAX_SAML_FORM_BYTES};
use edge_auth::core::ports::Log;

struct Logs(std::cell::RefCell<Vec<String>>);

impl Log for Logs {
    fn event(&self, event: &edge_auth::core::log::Event) {
        self.0.borrow_mut().push(event.to_json(None));
    }
}

fn acs_post() -> Request {
    Request {
        method: Method::Post,
        url: url::Url::parse("https://app.example/auth/saml/nobody/acs").unwrap(),
        cookie_header: String::new(),
        origin_header: None,
        sec_fetch_site: None,
        accept_language: None,
        form: vec![],
    }
}

/// The SAML routes read forms of up to 768 KiB (12 times the OAuth cap) before any check, for any connector
/// id, unauthenticated. A body of empty fields (`&a&a&a…`, two bytes a field) became ~390,000 owned
/// `(String, String)` pairs: 31 MB of heap natively (about half on wasm32) per request in an isolate whose memory (128 MB, shared by its
/// concurrent requests, never returned by wasm) a handful of such POSTs exhausts. A form with more fields
/// than any sign-in sends is refused (413) before it is kept; a real ACS form (two fields) still reads.
#[test]
fn a_saml_form_of_many_tiny_fields_is_refused_without_holding_them() {
    let form = Some("application/x-www-form-urlencoded");
    assert_eq!(form_body_cap(Method::Post, form, "/auth/saml/nobody/acs"), Some(MAX_SAML_FORM_BYTES));
    let body = "&a".repeat(MAX_SAML_FORM_BYTES / 2).into_bytes();
    let logs = Logs(Default::default());
    let read = with_form(acs_post(), FormBody::Read(body), &logs);
    let refused = read.expect_err("a form of ~390,000 fields must be refused");
    assert_eq!(refused.status, 413);
    assert_eq!(refused.header("x-edge-auth-error"), Some("payload_too_large"));
    assert!(logs.0.borrow().iter().any(|l| l.contains("fields")), "the log says why: {:?}", logs.0.borrow());

    // The control: an ACS form as an IdP posts it.
    let ok =
        with_form(acs_post(), FormBody::Read(b"SAMLResponse=PGEvPg%3D%3D&RelayState=abc".to_vec()), &logs).unwrap();
    assert_eq!(ok.form_param("RelayState"), Some("abc"));
}

const RSA_CERT: &str = include_str!("fixtures/xml/dsig/rsa-cert.pem");

/// An SSO URL with a `#fragment`: the HTTP-Redirect binding appends `?SAMLRequest=…&RelayState=…` to it, so the
/// request would land in the fragment, which browsers never send: no IdP could ever read it, and every sign-in
/// would fail at the IdP. Refused where it is read (metadata, configuration), naming the field.
#[test]
fn odd_sso_urls_are_refused_or_normalised_where_they_are_read() {
    use edge_auth::core::config::Config;
    use edge_auth::core::saml::metadata::{parse_idp_metadata, METADATA_NS, REDIRECT_BINDING};
    let body: String = RSA_CERT.lines().filter(|l| !l.starts_with("-----")).collect();
    let metadata = |location: &str| {
        format!(
            "<md:EntityDescriptor xmlns:md=\"{METADATA_NS}\" entityID=\"https://idp.example/\">\
             <md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\
             <md:KeyDescriptor use=\"signing\"><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\
             <ds:X509Data><ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\
             <md:SingleSignOnService Binding=\"{REDIRECT_BINDING}\" Location=\"{location}\"/>\
             </md:IDPSSODescriptor></md:EntityDescriptor>"
        )
    };
    // The control: the same document without the fragment is read.
    assert_eq!(parse_idp_metadata(&metadata("https://idp.example/sso"), 0).unwrap().sso_url, "https://idp.example/sso");
    assert!(parse_idp_metadata(&metadata("https://idp.example/sso#x"), 0).is_err());
    // A Location with character references for CR LF: the URL parser drops them when checking, so the raw text
    // passed the check and became the redirect's Location header with a line break in it (the runtime refuses
    // such a header: every sign-in of the connector answered 500). The URL as checked is the one kept.
    let idp = parse_idp_metadata(&metadata("https://idp.example/sso&#13;&#10;x-injected:&#9;1"), 0).unwrap();
    assert!(!idp.sso_url.chars().any(char::is_control), "{:?}", idp.sso_url);

    let config = |sso: &str| {
        serde_json::json!({"connectors": [{"id": "corp", "kind": "saml", "domains": ["corp.example"],
            "idp_entity_id": "https://idp.example/", "idp_sso_url": sso, "idp_certificates": [RSA_CERT]}]})
        .to_string()
    };
    assert!(Config::from_json(&config("https://idp.example/sso?tenant=a")).is_ok());
    let refused = Config::from_json(&config("https://idp.example/sso#x")).unwrap_err().to_string();
    assert!(refused.contains("idp_sso_url") && refused.contains("fragment"), "{refused}");
}
