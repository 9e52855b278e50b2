//! Machine and API clients on the host (issue 16): service tokens decided by `edge_auth::core::flow::site_gate`
//! with the test kit's fake platform and the fixture configuration (a real sealed session cookie next to them),
//! and CORS preflights and grants (`edge_auth::core::cors`) for the paths a configuration names.
//!
//! Run with `cargo test --test machine_clients`.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

#[path = "../testkit/mod.rs"]
mod testkit;

use edge_auth::core::config::Config;
use edge_auth::core::cors;
use edge_auth::core::flow::{site_gate, Gate, GateRequest, IsolateCache, SiteGate};
use edge_auth::core::service_token::{TokenGate, TokenHeaders, TokenRefusal};
use edge_auth::core::session::cookies::Transport;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use testkit::fixtures::{key_ring, sealed_session_cookie, FLOW_CONFIG, NOW, SESSION_COOKIE};
use testkit::FakePlatform;

/// As `node scripts/service-token.mjs` makes them: 32 random bytes, base64url.
const CI_SECRET: &str = "q0b8Vd3kX2mN7pR1sT5uW9yA4cE6gI8jL0nP2rS4tU6";
const CRON_SECRET: &str = "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8Ba7Zy6X";

fn hex_sha256(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The fixture configuration with two tokens (`cron` expires at NOW + 100), rules naming them, and a CORS rule.
fn config_with(edit: impl FnOnce(&mut Value)) -> Config {
    let mut c: Value = serde_json::from_str(FLOW_CONFIG).unwrap();
    c["service_tokens"] = json!([
        { "id": "ci-deploy", "secret_sha256": hex_sha256(CI_SECRET) },
        { "id": "cron", "secret_sha256": testkit::b64url(Sha256::digest(CRON_SECRET.as_bytes())),
          "expires": "2023-11-14T22:15:00Z" },
    ]);
    c["policies"] = json!([
        { "path": "/public/*", "public": true },
        { "path": "/api/deploy/*", "service_tokens": ["ci-deploy"] },
        { "path": "/api/*", "emails": ["alice@acme.example"], "service_tokens": ["ci-deploy", "cron"] },
        { "path": "/admin/*", "emails": ["boss@acme.example"] },
    ]);
    c["cors"] = json!([{ "paths": ["/api/*"], "allowed_origins": ["https://app.example"],
        "allowed_methods": ["GET", "POST"], "allowed_headers": ["content-type"], "allow_credentials": true }]);
    edit(&mut c);
    Config::from_json(&c.to_string()).unwrap()
}

fn cookie() -> String {
    format!("{SESSION_COOKIE}={}", sealed_session_cookie())
}

struct World {
    config: Config,
    p: FakePlatform<'static>,
    cache: IsolateCache,
}

impl World {
    fn new(config: Config) -> World {
        World { config, p: FakePlatform::at(NOW), cache: IsolateCache::default() }
    }

    fn gate(&self, path: &str, cookie: &str, id: Option<&str>, secret: Option<&str>) -> SiteGate<'_> {
        let request = GateRequest { path, cookie_header: cookie, transport: Transport::Https, now: NOW };
        site_gate(&self.config, key_ring(), &self.cache, &self.p, request, TokenHeaders { id, secret })
    }

    fn token(&self, path: &str, id: &str, secret: &str) -> SiteGate<'_> {
        self.gate(path, "", Some(id), Some(secret))
    }

    fn assert_logs_never_hold_a_secret(&self) {
        for line in self.p.logs() {
            for secret in [CI_SECRET, CRON_SECRET] {
                assert!(!line.contains(&secret[..12]), "a secret in the log: {line}");
            }
        }
    }
}

fn allowed_id<'a>(g: &SiteGate<'a>) -> Option<&'a str> {
    match g {
        SiteGate::Token(TokenGate::Allowed(t)) => Some(t.id.as_str()),
        _ => None,
    }
}

#[test]
fn a_token_reaches_exactly_the_paths_whose_policies_name_it() {
    let w = World::new(config_with(|_| {}));
    assert_eq!(allowed_id(&w.token("/api/deploy/run", "ci-deploy", CI_SECRET)), Some("ci-deploy"));
    assert_eq!(allowed_id(&w.token("/api/items", "ci-deploy", CI_SECRET)), Some("ci-deploy"));
    assert_eq!(allowed_id(&w.token("/api/items", "cron", CRON_SECRET)), Some("cron"));
    // A rule that does not name the token, a rule for users only, a path without any rule: 403.
    for (path, id, secret) in [
        ("/api/deploy/run", "cron", CRON_SECRET),
        ("/admin/x", "ci-deploy", CI_SECRET),
        ("/docs/report", "ci-deploy", CI_SECRET),
        ("/", "ci-deploy", CI_SECRET),
        // Every readings' rules must name it: /api/deploy%2Frun is /api/deploy/run to a decoding origin.
        ("/api/deploy%2Frun", "cron", CRON_SECRET),
        // A reading that no rule covers is a path never opened to machines, even when the reading the rule
        // matches names the token: /API/items on a case-sensitive origin, /docs/x on origins that read `..;`
        // (Tomcat, Spring), decode %2F or trim a segment's spaces (IIS).
        ("/API/items", "ci-deploy", CI_SECRET),
        ("/api/..;/docs/x", "ci-deploy", CI_SECRET),
        ("/api/x/..%2F..%2Fdocs/x", "ci-deploy", CI_SECRET),
        ("/api/x/..%5C..%5Cdocs/x", "ci-deploy", CI_SECRET),
    ] {
        assert!(
            matches!(w.token(path, id, secret), SiteGate::Token(TokenGate::Forbidden(t)) if t.id == id),
            "{path} {id}"
        );
    }
    // Public paths stay public, whatever the request carries.
    assert_eq!(w.token("/public/logo.png", "ci-deploy", "wrong"), SiteGate::Session(Gate::Public));
    assert_eq!(w.gate("/public/logo.png", "", None, Some(CI_SECRET)), SiteGate::Session(Gate::Public));
    w.assert_logs_never_hold_a_secret();
    // Each use is a `service_token` event naming the token by id and the path.
    let used = |id: &str, outcome: &str| {
        w.p.events().iter().any(|e| {
            e["event"] == "service_token" && e["token_id"] == id && e["outcome"] == outcome && e["path"].is_string()
        })
    };
    assert!(used("ci-deploy", "allowed"), "{:?}", w.p.events());
    assert!(used("cron", "forbidden"), "{:?}", w.p.events());
}

#[test]
fn anything_but_a_valid_pair_is_refused() {
    let w = World::new(config_with(|_| {}));
    let refused = |id: Option<&str>, secret: Option<&str>| match w.gate("/api/items", "", id, secret) {
        SiteGate::Token(TokenGate::Refused(why)) => why,
        other => panic!("{id:?}: {other:?}"),
    };
    assert_eq!(refused(Some("ci-deploy"), None), TokenRefusal::IdWithoutSecret);
    assert_eq!(refused(None, Some(CI_SECRET)), TokenRefusal::SecretWithoutId);
    assert_eq!(refused(Some("nobody"), Some(CI_SECRET)), TokenRefusal::UnknownId("nobody".into()));
    assert_eq!(refused(Some("ci-deploy"), Some(CRON_SECRET)), TokenRefusal::WrongSecret("ci-deploy".into()));
    assert_eq!(refused(Some("cron"), Some(CI_SECRET)), TokenRefusal::WrongSecret("cron".into()));
    let twice = format!("{CI_SECRET}, {CI_SECRET}");
    assert_eq!(refused(Some("ci-deploy"), Some(&twice)), TokenRefusal::MalformedSecret, "two secret headers");
    assert_eq!(refused(Some("ci-deploy, ci-deploy"), Some(CI_SECRET)), TokenRefusal::MalformedId, "two id headers");
    assert_eq!(refused(Some("ci-deploy"), Some(&CI_SECRET[..31])), TokenRefusal::MalformedSecret);
    // The expiry counts, to the second (cron expires at 2023-11-14T22:15:00Z = NOW + 100).
    let later = GateRequest { path: "/api/items", cookie_header: "", transport: Transport::Https, now: NOW + 100 };
    let headers = TokenHeaders { id: Some("cron"), secret: Some(CRON_SECRET) };
    assert_eq!(
        site_gate(&w.config, key_ring(), &w.cache, &w.p, later, headers),
        SiteGate::Token(TokenGate::Refused(TokenRefusal::Expired("cron".into())))
    );
    let before = GateRequest { now: NOW + 99, ..later };
    assert!(allowed_id(&site_gate(&w.config, key_ring(), &w.cache, &w.p, before, headers)).is_some());
    w.assert_logs_never_hold_a_secret();
}

#[test]
fn a_request_with_token_headers_is_judged_by_the_token_alone() {
    let w = World::new(config_with(|_| {}));
    let signed_in = cookie();
    // alice's session alone gets into /api/*…
    assert!(matches!(w.gate("/api/items", &signed_in, None, None), SiteGate::Session(Gate::Allowed { .. })));
    // …but not with a wrong token next to it, nor with half a token.
    for (id, secret) in
        [(Some("ci-deploy"), Some("x".repeat(43))), (None, Some(CI_SECRET.to_string())), (Some("ci-deploy"), None)]
    {
        let g = w.gate("/api/items", &signed_in, id, secret.as_deref());
        assert!(matches!(g, SiteGate::Token(TokenGate::Refused(_))), "{id:?}: {g:?}");
    }
    // A valid token does not borrow the session's access either: /admin/* names no token.
    assert!(matches!(
        w.gate("/admin/x", &signed_in, Some("ci-deploy"), Some(CI_SECRET)),
        SiteGate::Token(TokenGate::Forbidden(_))
    ));
}

#[test]
fn without_service_tokens_the_headers_mean_nothing() {
    let w = World::new(config_with(|c| {
        c.as_object_mut().unwrap().remove("service_tokens");
        c["policies"] = json!([{ "path": "/api/*", "emails": ["alice@acme.example"] }]);
    }));
    assert_eq!(w.token("/api/items", "ci-deploy", CI_SECRET), SiteGate::Session(Gate::Unauthenticated));
    assert!(matches!(w.gate("/api/items", &cookie(), Some("x"), None), SiteGate::Session(Gate::Allowed { .. })));
}

#[test]
fn config_errors_name_the_token_or_rule() {
    let err = |edit: &dyn Fn(&mut Value)| {
        let mut c: Value = serde_json::from_str(FLOW_CONFIG).unwrap();
        c["service_tokens"] = json!([{ "id": "ci-deploy", "secret_sha256": hex_sha256(CI_SECRET) }]);
        edit(&mut c);
        Config::from_json(&c.to_string()).unwrap_err()
    };
    let e = err(&|c| c["policies"] = json!([{ "path": "/api/*", "service_tokens": ["ci"] }]));
    assert_eq!(e.field, "policies[0].service_tokens[0]");
    let e = err(&|c| c["service_tokens"][0]["secret_sha256"] = json!("abcd"));
    assert_eq!(e.field, "service_tokens[0].secret_sha256");
    assert!(e.to_string().contains("ci-deploy"), "{e}");
    let e = err(&|c| c["service_tokens"][0]["expires"] = json!("next year"));
    assert_eq!(e.field, "service_tokens[0].expires");
    let e = err(&|c| {
        let first = c["service_tokens"][0].clone();
        c["service_tokens"].as_array_mut().unwrap().push(first);
    });
    assert_eq!(e.field, "service_tokens[1].id");
    let e = err(&|c| c["connectors"][0]["id"] = json!("service-token"));
    assert_eq!((e.connector.as_deref(), e.field.as_str()), (Some("service-token"), "id"));
    let e = err(
        &|c| c["cors"] = json!([{ "paths": ["/api/*"], "allowed_origins": ["*"], "allowed_methods": ["GET"], "allow_credentials": true }]),
    );
    assert_eq!(e.field, "cors[0].allowed_origins[0]");
}

#[test]
fn no_header_value_panics() {
    let w = World::new(config_with(|_| {}));
    let mut values: Vec<String> = vec![
        String::new(),
        " ".into(),
        ",".into(),
        "\u{0}".into(),
        "é".repeat(40),
        "\u{202e}".repeat(40),
        "a".repeat(100_000),
        "ci-deploy\r\nx: y".into(),
        format!("{CI_SECRET}\u{0}"),
    ];
    for b in 0u8..=255 {
        values.push(String::from_utf8_lossy(&[b; 43]).into_owned());
    }
    for v in &values {
        for (id, secret) in [
            (Some(v.as_str()), Some(v.as_str())),
            (Some("ci-deploy"), Some(v.as_str())),
            (Some(v.as_str()), Some(CI_SECRET)),
        ] {
            let g = w.gate("/api/items", "", id, secret);
            assert!(!matches!(g, SiteGate::Token(TokenGate::Allowed(_))), "{v:?}");
        }
        let _ = cors::preflight(&w.config.cors, "/api/x", v, v, Some(v));
        assert!(cors::response_headers(&w.config.cors, "/api/x", Some(v)).iter().all(|(k, _)| *k == "vary"), "{v:?}");
    }
}

#[test]
fn preflights_and_grants_follow_the_configuration() {
    let w = World::new(config_with(|_| {}));
    let granted =
        cors::preflight(&w.config.cors, "/api/items", "https://app.example", "POST", Some("content-type")).unwrap();
    assert_eq!((granted.status, granted.header("access-control-allow-origin")), (204, Some("https://app.example")));
    assert_eq!(granted.header("access-control-allow-credentials"), Some("true"));
    let refused = cors::preflight(&w.config.cors, "/api/items", "https://evil.example", "POST", None).unwrap();
    assert_eq!(refused.status, 403);
    assert!(refused.header("access-control-allow-origin").is_none());
    assert!(cors::preflight(&w.config.cors, "/docs", "https://app.example", "GET", None).is_none(), "not an API path");
}
