//! Arbitrary text -> `Config::from_json`; the same text as an email address (`parse_email`), a header value
//! for the origin (`encode_header_value`) and a header name (`is_identity_header`), a domain
//! (`normalize_domain`), a `return_to` (`safe_return_to`), the path of an unauthenticated request, and a
//! path looked up in the README's access policies. First, the bytes through the strict JSON reader
//! (`core::json::parse`) and serde_json's own `Value`: they must agree, except that the strict one refuses a
//! document with a member given twice.
#![no_main]

use edge_auth::core::assertion::{encode_header_value, is_identity_header};
use edge_auth::core::config::{check_endpoint_url, Config};
use edge_auth::core::flow::unauthenticated;
use edge_auth::core::policy::{self, Requirement};
use edge_auth::core::routing::{normalize_domain, parse_email};
use edge_auth::core::session::return_to::{return_to_or_root, safe_return_to};
use edge_auth_fuzz::fixtures::flow_config;
use edge_auth_fuzz::flow::oracle::model::is_local_target;
use libfuzzer_sys::fuzz_target;
use url::form_urlencoded;

fuzz_target!(init: edge_auth_fuzz::known::install(), |data: &[u8]| {
    edge_auth_fuzz::known::guard(|| {
        let strict = edge_auth::core::json::parse(data);
        match (&strict, serde_json::from_slice::<serde_json::Value>(data)) {
            (Ok(a), Ok(b)) => assert_eq!(a, &b, "the strict reader read a document differently"),
            (Ok(_), Err(e)) => panic!("the strict reader accepted what serde_json refuses: {e}"),
            (Err(e), Ok(_)) => assert!(e.contains("duplicate field"), "refused a document serde_json reads: {e}"),
            (Err(_), Err(_)) => {}
        }
        let text = String::from_utf8_lossy(data);

        if let Ok(config) = Config::from_json(&text) {
            assert!(!config.connectors.is_empty());
            assert!((60..=30 * 24 * 3600).contains(&config.session.lifetime_seconds));
            assert!(config.clock_leeway_seconds <= 300);
            for c in &config.connectors {
                let _ = c.discovery_url();
                assert!(check_endpoint_url(&c.issuer).is_ok(), "accepted issuer {:?}", c.issuer);
                for d in &c.domains {
                    assert_eq!(config.connector_for_domain(d).map(|o| &o.id), Some(&c.id));
                    assert_eq!(normalize_domain(d).as_deref(), Some(d.as_str()), "configured domains are normalised");
                }
            }
        }

        if let Some(d) = normalize_domain(&text) {
            assert_eq!(normalize_domain(&d).as_deref(), Some(d.as_str()), "normalize_domain is idempotent");
        }
        if let Ok(e) = parse_email(&text) {
            assert_eq!(normalize_domain(&e.domain).as_deref(), Some(e.domain.as_str()));
            assert_eq!(parse_email(&e.address()), Ok(e.clone()), "a parsed address parses to itself");
            // A plain dot-atom: nothing that origins and address parsers read differently.
            assert!(!e.local.contains(['@', '"', '(', ')', '\\', ',', ';', ':', '<', '>', '[', ']']), "{e:?}");
            assert!(!e.local.starts_with('.') && !e.local.ends_with('.') && !e.local.contains(".."), "{e:?}");
        }

        // Identity header values: ASCII from the safe set, and percent-decoding gives back exactly the input.
        let encoded = encode_header_value(&text);
        assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~@:/%".contains(&b)), "{encoded}");
        assert_eq!(percent_decode(&encoded).as_deref(), Some(text.as_bytes()), "{text:?} -> {encoded}");
        // Header names: case never matters, and a `_` spelling is stripped whenever its `-` spelling is.
        assert_eq!(is_identity_header(&text), is_identity_header(&text.to_ascii_lowercase()), "{text:?}");
        if is_identity_header(&text.replace('_', "-")) {
            assert!(is_identity_header(&text), "{text:?}");
        }

        if let Some(p) = safe_return_to(&text) {
            assert!(p.is_ascii(), "return_to {p:?} is not ASCII");
            assert_eq!(safe_return_to(&p).as_deref(), Some(p.as_str()), "safe_return_to is a fixed point");
            let p = p.as_str();
            assert!(p.starts_with('/') && !p.starts_with("//") && !p.starts_with("/\\"), "unsafe return_to {p:?}");
            let base = url::Url::parse("https://site.example/auth/callback").expect("base");
            let joined = base.join(p).expect("a safe return_to joins");
            assert_eq!(joined.origin(), base.origin(), "return_to {p:?} leaves the origin");
        }
        let _ = return_to_or_root(Some(&text));
        for navigation in [true, false] {
            let r = unauthenticated(&text, navigation);
            if let Some(location) = r.header("location") {
                if let Some(rest) = location.strip_prefix("/auth/login?return_to=") {
                    let decoded: String = form_urlencoded::parse(format!("r={rest}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    assert!(is_local_target(&decoded), "unauthenticated redirect to {location:?}");
                } else {
                    assert_eq!(location, "/auth/login");
                }
            }
        }
        let _ = check_endpoint_url(&text);
        if let Requirement::Rules(rules) = policy::requirement(&flow_config().policies, &text, policy::Site::Assets) {
            assert!(rules.iter().count() >= 1);
        }
    });
});

/// Strict percent-decoding: `None` for a `%` not followed by two hex digits.
fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    Some(out)
}
