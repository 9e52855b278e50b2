//! The SAML 2.0 sign-in flow end to end on the host (src/core/flow/saml.rs): `Flow::route` / `Flow::handle`
//! driven through the test kit's fake platform (testkit/: settable clock, deterministic randomness, canned
//! HTTP, `ring` as the signature verifier, an in-memory single-use store), against a test-only SAML IdP
//! (testkit/saml.rs) that reads the `AuthnRequest` out of the login redirect and answers it with a response
//! signed at test time: enveloped signatures over the crate's own exclusive c14n (checked byte for byte
//! against libxml2 by tests/xml_c14n.rs), SHA-256 digests, RSA-SHA256 with `ring` and the TEST-ONLY key
//! tests/fixtures/xml/dsig/rsa-key.pem (other-key.pem as a foreign key); RSA-SHA1 and SHA-1 digests for the
//! connector with `allow_sha1`.
//!
//! Every refusal is checked for its `x-edge-auth-error` code (and, where the rule matters, the rule named in
//! the operator's log line), the absence of a session cookie and the clearing of the SAML transaction cookie.
//!
//! Run with `cargo test --features saml --test saml_flow`.
#![cfg(all(feature = "saml", not(target_arch = "wasm32")))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

#[path = "../testkit/mod.rs"]
mod testkit;

use std::future::Future;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use edge_auth::core::error::FlowError;
use edge_auth::core::flow::{authenticate, Flow, IsolateCache};
use edge_auth::core::http::{Outcome, Request, Response};
use edge_auth::core::replay::LOGIN_SCOPE;
use edge_auth::core::saml::time::parse_datetime;
use edge_auth::core::session::cookies::Transport;
use testkit::flow_http::*;
use testkit::platform::network_error;
use testkit::{fixtures, FakePlatform};
use url::Url;

// ---- fixed values ------------------------------------------------------------------------------------

/// The inline IdP of connector `corp` (domain corp.example).
const CORP_IDP: &str = "https://idp.corp.example/saml";
const CORP_SSO: &str = "https://idp.corp.example/sso";
/// The IdP of connector `meta`, read from its metadata document (domain meta.example).
const META_URL: &str = "https://idp.meta.example/federationmetadata.xml";
const META_IDP: &str = "https://idp.meta.example/entity";
const META_SSO: &str = "https://idp.meta.example/sso";
/// The inline IdP of connector `open` (domain open.example), which accepts IdP-initiated responses.
const OPEN_IDP: &str = "https://idp.open.example/saml";
const OPEN_SSO: &str = "https://idp.open.example/sso";
/// The inline IdP of connector `legacy` (domain legacy.example), which sets `allow_sha1`.
const LEGACY_IDP: &str = "https://idp.legacy.example/saml";
const LEGACY_SSO: &str = "https://idp.legacy.example/sso";

const SESSION_LIFETIME: u64 = 8 * 3600;
const LEEWAY: u64 = 60;

/// 2026-12-02T10:00:00Z.
fn t0() -> u64 {
    parse_datetime("2026-12-02T10:00:00Z").unwrap()
}

fn config_json() -> String {
    let cert = idp::RSA_CERT_PEM;
    serde_json::json!({
        "connectors": [
            { "id": "corp", "kind": "saml", "display_name": "Corp",
              "domains": ["corp.example"],
              "idp_entity_id": CORP_IDP, "idp_sso_url": CORP_SSO, "idp_certificates": [cert] },
            { "id": "meta", "kind": "saml", "domains": ["meta.example"], "idp_metadata_url": META_URL },
            { "id": "open", "kind": "saml", "domains": ["open.example"], "idp_initiated": true,
              "idp_entity_id": OPEN_IDP, "idp_sso_url": OPEN_SSO, "idp_certificates": [cert] },
            { "id": "legacy", "kind": "saml", "domains": ["legacy.example"], "allow_sha1": true,
              "idp_entity_id": LEGACY_IDP, "idp_sso_url": LEGACY_SSO, "idp_certificates": [cert] }
        ],
        "session": { "lifetime_seconds": SESSION_LIFETIME, "idle_timeout_seconds": 3600, "encrypt": true },
        "clock_leeway_seconds": LEEWAY,
        "policies": [ { "path": "/admin/*", "groups": ["corp:admins"] } ]
    })
    .to_string()
}

// ---- the test-only SAML IdP --------------------------------------------------------------------------

#[path = "../testkit/saml.rs"]
mod idp;

use idp::{DigestMethod, Reply, SeenRequest, SignatureMethod, Signing};

// ---- requests, responses and the world (testkit/flow_http.rs), SAML's steps ------------------------------

/// The browser's cross-site form POST of the IdP's answer to `{SITE}/auth/saml/{connector}/acs`.
fn acs_post(connector: &str, cookie: &str, form: &[(&str, &str)]) -> Request {
    cross_site_post(&format!("{SITE}/auth/saml/{connector}/acs"), "https://idp.corp.example", cookie, form)
}

/// A refused ACS post: the status and code, no session, the transaction cookie spent.
fn assert_acs_refused(r: &Response, status: u16, code: &str) {
    assert_refused(r, status, code);
}

struct Login {
    request: SeenRequest,
    location: Url,
    tx_line: String,
}

impl Login {
    fn cookie(&self) -> String {
        cookie_header_of(&self.tx_line)
    }
}

impl World {
    fn new() -> World {
        World::at(FakePlatform::at(t0()))
    }

    fn at(p: FakePlatform<'static>) -> World {
        World::with_config(p, &config_json())
    }

    /// `GET /auth/login?email=…&return_to=/docs`: the redirect to the IdP with the AuthnRequest, read back by
    /// the test IdP, and the SAML transaction cookie.
    fn login(&self, email: &str) -> Login {
        let (location, tx_line) = self.start_federated_login(email);
        Login { request: idp::read_request(&location), location, tx_line }
    }

    /// The IdP's answer posted by the browser with this login's cookie and RelayState.
    fn post(&self, login: &Login, reply: &Reply) -> Response {
        self.post_to("corp", login, reply)
    }

    fn post_to(&self, connector: &str, login: &Login, reply: &Reply) -> Response {
        let encoded = reply.encoded();
        self.handle(&acs_post(
            connector,
            &login.cookie(),
            &[("SAMLResponse", &encoded), ("RelayState", &login.request.relay_state)],
        ))
    }

    fn reply(&self, login: &Login, idp: &str, email: &str) -> Reply {
        Reply::to(&login.request, idp, email, self.now())
    }

    fn serve_metadata(&self, answers: Vec<testkit::Answer>) {
        self.p.route(META_URL, answers);
    }
}

/// The ACS post of `reply` with this login's cookie and RelayState (for `route`).
fn w_req(login: &Login, reply: &Reply) -> Request {
    let encoded = reply.encoded();
    acs_post("corp", &login.cookie(), &[("SAMLResponse", &encoded), ("RelayState", &login.request.relay_state)])
}

const SAML_ASSERTION_SCOPE: &str = "saml_assertion";

// ---- happy paths -------------------------------------------------------------------------------------

/// Login → IdP → ACS: the AuthnRequest names this SP and a fresh request ID; the ACS answers with a 302 to
/// `return_to`, a session for the NameID's email at this connector with the IdP as issuer, and the SAML
/// transaction cleared; `/auth/me` shows that session; the groups kept are those a policy grants.
#[test]
fn a_signed_assertion_signs_the_visitor_in() {
    let w = World::new();
    let login = w.login("alice@corp.example");
    // What the login asked of the IdP.
    assert_eq!(login.location.origin().ascii_serialization(), "https://idp.corp.example");
    assert_eq!(login.location.path(), "/sso");
    assert_eq!(login.request.destination, CORP_SSO);
    assert_eq!(login.request.acs_url, format!("{SITE}/auth/saml/corp/acs"));
    assert_eq!(login.request.sp_entity_id, format!("{SITE}/auth/saml/corp/metadata"));
    assert!(login.request.id.starts_with('_'), "xs:ID starts with a letter or _: {}", login.request.id);
    assert_ne!(login.request.relay_state, "/docs", "RelayState is an opaque handle, never the return URL");
    let attrs = cookie_attrs(&login.tx_line);
    for a in ["Path=/", "HttpOnly", "Secure", "SameSite=None", "Max-Age=600"] {
        assert!(attrs.contains(&a), "{a} missing in {:?}", login.tx_line);
    }
    // Two logins never share the request ID or the RelayState.
    let second = w.login("alice@corp.example");
    assert_ne!(login.request.id, second.request.id);
    assert_ne!(login.request.relay_state, second.request.relay_state);

    let verifications = w.p.verify_calls.get();
    let r = w.post(&login, &w.reply(&login, CORP_IDP, "alice@corp.example"));
    assert_signed_in(&r, "/docs", SESSION_LIFETIME);
    assert_eq!(w.p.verify_calls.get(), verifications + 1, "one signature verified");
    let session = w.session_of(&r);
    assert_eq!(session.email, "alice@corp.example");
    assert_eq!(session.sub, "alice@corp.example", "the NameID");
    assert_eq!(session.name.as_deref(), Some("Alice Example"));
    assert_eq!(session.connector, "corp");
    assert_eq!(session.iss, CORP_IDP, "iss is the IdP's entity ID");
    assert_eq!(session.iat, w.now());
    assert_eq!(session.exp, w.now() + SESSION_LIFETIME);
    assert_eq!(session.groups, vec!["admins".to_string()], "staff: no policy names it, not kept");
    // The transaction and the assertion were each claimed once on the network.
    assert_eq!(w.claims_in(LOGIN_SCOPE), 1);
    assert_eq!(w.claims_in(SAML_ASSERTION_SCOPE), 1);

    // /auth/me shows the session.
    let line = set_cookie_line(&r, SESSION_COOKIE).unwrap();
    let me = w.handle(&get(&format!("{SITE}/auth/me"), &format!("{SESSION_COOKIE}={}", cookie_value(line))));
    assert_eq!(me.status, 200, "{}", describe(&me));
    let body: serde_json::Value = serde_json::from_str(&me.body).unwrap();
    assert_eq!(body["email"], "alice@corp.example");
    assert_eq!(body["connector"], "corp");
    assert_eq!(body["iss"], CORP_IDP);
    assert!(w.p.logs().is_empty(), "{:?}", w.p.logs());
    // One sign_in event: who, through which connector; never the session cookie, the response or its XML.
    let events = w.p.events_named("sign_in");
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(
        (&e["outcome"], &e["connector"], &e["subject"], &e["email"]),
        (
            &serde_json::json!("success"),
            &serde_json::json!("corp"),
            &serde_json::json!("alice@corp.example"),
            &serde_json::json!("alice@corp.example")
        )
    );
    for l in w.p.lines.borrow().iter() {
        assert!(!l.contains(&cookie_value(line)) && !l.contains("Assertion") && !l.contains("PHNhbWxw"), "{l}");
    }
}

/// The three signing shapes the profile allows (the assertion, the response, both) each sign the visitor in.
#[test]
fn a_signed_response_or_both_signatures_sign_the_visitor_in() {
    for signing in [Signing::Response, Signing::Both] {
        let w = World::new();
        let login = w.login("alice@corp.example");
        let reply = Reply { signing, ..w.reply(&login, CORP_IDP, "alice@corp.example") };
        let r = w.post(&login, &reply);
        assert_signed_in(&r, "/docs", SESSION_LIFETIME);
        let expected_verifications = if signing == Signing::Both { 2 } else { 1 };
        assert_eq!(w.p.verify_calls.get(), expected_verifications, "{signing:?}");
        assert_eq!(w.session_of(&r).email, "alice@corp.example", "{signing:?}");
    }
}

/// `allow_sha1` (deprecated) is per connector: `legacy`, which sets it, signs the visitor in with an RSA-SHA1
/// signature and a SHA-1 digest, or SHA-1 in only one of the two, on the assertion, the response or both; `corp`,
/// without it, refuses each such response by its algorithm, before any key is tried.
#[test]
fn sha1_signatures_sign_in_only_through_a_connector_with_allow_sha1() {
    let methods = [
        (SignatureMethod::RsaSha1, DigestMethod::Sha1, "signature algorithm not accepted"),
        (SignatureMethod::RsaSha1, DigestMethod::Sha256, "signature algorithm not accepted"),
        (SignatureMethod::RsaSha256, DigestMethod::Sha1, "digest algorithm not accepted"),
    ];
    for (signature_method, digest_method, rule) in methods {
        for signing in [Signing::Assertion, Signing::Response, Signing::Both] {
            let case = format!("{signature_method:?} + {digest_method:?}, {signing:?}");
            let w = World::new();
            let login = w.login("alice@legacy.example");
            let reply = w.reply(&login, LEGACY_IDP, "alice@legacy.example");
            let reply = Reply { signature_method, digest_method, signing, ..reply };
            let r = w.post_to("legacy", &login, &reply);
            assert_signed_in(&r, "/docs", SESSION_LIFETIME);
            let session = w.session_of(&r);
            assert_eq!(
                (session.email.as_str(), session.connector.as_str()),
                ("alice@legacy.example", "legacy"),
                "{case}"
            );

            let login = w.login("alice@corp.example");
            let reply = w.reply(&login, CORP_IDP, "alice@corp.example");
            let verifications = w.p.verify_calls.get();
            let r = w.post(&login, &Reply { signature_method, digest_method, signing, ..reply });
            assert_acs_refused(&r, 400, "saml_response_invalid");
            let log = w.last_log();
            assert!(log.contains(rule) && log.contains("\"corp\""), "{case}: {log}");
            assert_eq!(w.p.verify_calls.get(), verifications, "{case}: refused before any key is tried");
        }
    }
    // The control: the same IdP signing with SHA-256 signs in through both.
    let w = World::new();
    let login = w.login("alice@legacy.example");
    assert_signed_in(
        &w.post_to("legacy", &login, &w.reply(&login, LEGACY_IDP, "alice@legacy.example")),
        "/docs",
        SESSION_LIFETIME,
    );
}

/// The IdP's SessionNotOnOrAfter, earlier than the session lifetime, caps both the session's exp and the
/// cookie's Max-Age.
#[test]
fn session_not_on_or_after_caps_the_session() {
    let w = World::new();
    let login = w.login("alice@corp.example");
    let reply =
        Reply { session_not_on_or_after: Some(w.now() + 3600), ..w.reply(&login, CORP_IDP, "alice@corp.example") };
    let r = w.post(&login, &reply);
    assert_signed_in(&r, "/docs", 3600);
    assert_eq!(w.session_of(&r).exp, w.now() + 3600);
    // A later SessionNotOnOrAfter does not lengthen it.
    let login = w.login("alice@corp.example");
    let reply = Reply {
        session_not_on_or_after: Some(w.now() + 3 * SESSION_LIFETIME),
        ..w.reply(&login, CORP_IDP, "alice@corp.example")
    };
    let r = w.post(&login, &reply);
    assert_signed_in(&r, "/docs", SESSION_LIFETIME);
}

// ---- the transaction: this browser's, this connector's, once -----------------------------------------

/// RelayState is the handle the login sent: missing or another one is state_mismatch, before any signature
/// work and before the transaction is claimed.
#[test]
fn a_missing_or_different_relay_state_is_state_mismatch() {
    let w = World::new();
    let login = w.login("alice@corp.example");
    let encoded = w.reply(&login, CORP_IDP, "alice@corp.example").encoded();
    let other = w.login("alice@corp.example");
    for form in [
        vec![("SAMLResponse", encoded.as_str())],
        vec![("SAMLResponse", encoded.as_str()), ("RelayState", "")],
        vec![("SAMLResponse", encoded.as_str()), ("RelayState", other.request.relay_state.as_str())],
    ] {
        let r = w.handle(&acs_post("corp", &login.cookie(), &form));
        assert_acs_refused(&r, 400, "state_mismatch");
    }
    assert_eq!(w.p.verify_calls.get(), 0);
    assert_eq!(w.claims_in(LOGIN_SCOPE), 0, "a mismatch does not spend the transaction");
    // Typed: the rule is StateMismatch.
    let req = acs_post("corp", &login.cookie(), &[("SAMLResponse", &encoded), ("RelayState", "x")]);
    assert!(matches!(w.route(&req), Err((FlowError::StateMismatch, _))));
}

/// No SAML transaction cookie (and `idp_initiated` off): login_expired, nothing verified.
#[test]
fn no_transaction_cookie_is_login_expired() {
    let w = World::new();
    let login = w.login("alice@corp.example");
    let encoded = w.reply(&login, CORP_IDP, "alice@corp.example").encoded();
    let form = [("SAMLResponse", encoded.as_str()), ("RelayState", login.request.relay_state.as_str())];
    let r = w.handle(&acs_post("corp", "", &form));
    assert_acs_refused(&r, 400, "login_expired");
    assert!(matches!(w.route(&acs_post("corp", "", &form)), Err((FlowError::LoginExpired, _))));
    // An expired transaction (the cookie outlived its 10 minutes) is the same.
    w.p.advance(601);
    let r = w.handle(&acs_post("corp", &login.cookie(), &form));
    assert_acs_refused(&r, 400, "login_expired");
    // An OpenID Connect transaction cookie is not a SAML one (its own purpose and name).
    let oidc = format!("{}={}", fixtures::TX_COOKIE, fixtures::sealed_transaction_cookie());
    assert!(matches!(w.route(&acs_post("corp", &oidc, &form)), Err((FlowError::LoginExpired, _))));
    assert_eq!(w.p.verify_calls.get(), 0);
}

/// A transaction started for another connector, posted (with its RelayState) to this connector's ACS, is
/// state_mismatch.
#[test]
fn another_connectors_transaction_is_state_mismatch() {
    let w = World::new();
    let open = w.login("alice@open.example");
    assert_eq!(open.location.origin().ascii_serialization(), "https://idp.open.example");
    let reply = w.reply(&open, CORP_IDP, "alice@corp.example");
    let r = w.post_to("corp", &open, &reply);
    assert_acs_refused(&r, 400, "state_mismatch");
    assert_eq!(w.p.verify_calls.get(), 0);
}

/// The response must come back to the ACS URL the request named, on the origin the sign-in started at: the
/// same transaction cookie and RelayState posted to this connector's ACS on another origin of the worker is
/// state_mismatch. (Without that rule the response would still fail later, on its Audience: the code shows
/// which rule refused.) The transaction's connector check is the same rule seen from the other side (another
/// connector's ACS is another ACS URL): `another_connectors_transaction_is_state_mismatch`.
#[test]
fn a_response_posted_at_another_origin_is_state_mismatch() {
    let w = World::new();
    let login = w.login("alice@corp.example");
    let encoded = w.reply(&login, CORP_IDP, "alice@corp.example").encoded();
    let mut req =
        acs_post("corp", &login.cookie(), &[("SAMLResponse", &encoded), ("RelayState", &login.request.relay_state)]);
    req.url = Url::parse("https://other-site.example/auth/saml/corp/acs").unwrap();
    let r = w.handle(&req);
    assert_acs_refused(&r, 400, "state_mismatch");
    assert_eq!(w.p.verify_calls.get(), 0);
}

/// The same transaction twice: in the same isolate its RelayState is already spent (refused before the store
/// is asked); in another isolate (a fresh IsolateCache, the same network-wide ReplayGuard) the store's claim
/// refuses it. Both are `Replayed` (code login_expired), no second session.
#[test]
fn a_transaction_is_used_once_in_this_isolate_and_across_isolates() {
    let w = World::new();
    let login = w.login("alice@corp.example");
    let reply = w.reply(&login, CORP_IDP, "alice@corp.example");
    assert_signed_in(&w.post(&login, &reply), "/docs", SESSION_LIFETIME);
    let claims = w.p.claim_calls.borrow().len();

    // Same isolate.
    let r = w.post(&login, &reply);
    assert_acs_refused(&r, 400, "login_expired");
    assert_eq!(w.p.claim_calls.borrow().len(), claims, "refused by the isolate's spent list, before the store");
    assert!(matches!(w.route(&w_req(&login, &reply)), Err((FlowError::Replayed, _))));

    // Another isolate, same single-use store.
    let other_isolate = IsolateCache::default();
    let flow = Flow { config: &w.config, keys: &w.keys, platform: &w.p, providers: &other_isolate };
    let encoded = reply.encoded();
    let req =
        acs_post("corp", &login.cookie(), &[("SAMLResponse", &encoded), ("RelayState", &login.request.relay_state)]);
    let refused = pollster::block_on(flow.route(&req));
    assert!(matches!(refused, Err((FlowError::Replayed, _))), "{refused:?}");
    let calls = w.p.claim_calls.borrow();
    assert_eq!(calls.len(), claims + 1, "the store was asked");
    assert_eq!(calls.last().unwrap().0, LOGIN_SCOPE, "and its transaction claim refused");
    assert_eq!(w.claims_in(SAML_ASSERTION_SCOPE), 1, "the response was never read again");
}

/// The same signed assertion under a second, fresh transaction of the same browser: its InResponseTo (signed,
/// in the bearer confirmation) names the first request, so the response is refused by the InResponseTo rule
/// before the assertion-ID claim is reached.
#[test]
fn an_assertion_posted_under_another_transaction_is_refused_by_in_response_to() {
    let w = World::new();
    let first = w.login("alice@corp.example");
    let reply = w.reply(&first, CORP_IDP, "alice@corp.example");
    assert_signed_in(&w.post(&first, &reply), "/docs", SESSION_LIFETIME);
    let second = w.login("alice@corp.example");
    let r = w.post(&second, &reply);
    assert_acs_refused(&r, 400, "saml_response_invalid");
    assert!(w.last_log().contains("InResponseTo is this browser's request"), "{}", w.last_log());
    // The Response's own InResponseTo rewritten (unsigned field) is no way around the signed one.
    let rewritten = Reply { in_response_to: Some(second.request.id.clone()), ..reply.clone() };
    let third = w.login("alice@corp.example");
    let rewritten = Reply { in_response_to: Some(third.request.id.clone()), ..rewritten };
    let r = w.post(&third, &rewritten);
    assert_acs_refused(&r, 400, "saml_response_invalid");
    assert!(w.last_log().contains("the confirmation's InResponseTo"), "{}", w.last_log());
    assert_eq!(w.claims_in(SAML_ASSERTION_SCOPE), 1, "only the first assertion reached its claim");
}

/// The assertion-ID claim on its own: a second transaction that carries the *same* request ID (the fake RNG
/// replayed from the start in another isolate, so InResponseTo matches again) after the first transaction's
/// network claim has lapsed, with the single-use store still holding the assertion's claim. Only the
/// assertion-ID claim stands between that replay and a second session — and it refuses. The control run
/// (the assertion's claim removed from the store) signs in, so the claim is what refused.
#[test]
fn an_assertion_is_claimed_once_on_the_network() {
    let now = t0();
    let first = World::at(FakePlatform::at(now));
    let login = first.login("alice@corp.example");
    // Valid for an hour: longer than the transaction's 10 minutes.
    let reply = Reply {
        confirmation_not_on_or_after: now + 3600,
        not_on_or_after: now + 3600,
        ..first.reply(&login, CORP_IDP, "alice@corp.example")
    };
    assert_signed_in(&first.post(&login, &reply), "/docs", SESSION_LIFETIME);
    let store = first.p.claims.borrow().clone();
    assert!(store.keys().any(|(scope, _)| scope == SAML_ASSERTION_SCOPE));

    let replay = |keep_assertion_claim: bool| {
        // 11 minutes later, another isolate whose RNG restarts: the same request ID, RelayState and claim secret.
        let w = World::at(FakePlatform::at(now + 660));
        *w.p.claims.borrow_mut() = store
            .iter()
            .filter(|((scope, _), _)| keep_assertion_claim || scope != SAML_ASSERTION_SCOPE)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let again = w.login("alice@corp.example");
        assert_eq!(again.request.id, login.request.id, "the replayed RNG gives the same request ID");
        let r = w.post(&again, &reply);
        (r, w)
    };
    let (r, w) = replay(true);
    assert_acs_refused(&r, 400, "saml_response_invalid");
    assert!(w.last_log().contains("the assertion ID was used before"), "{}", w.last_log());
    let calls = w.p.claim_calls.borrow();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].0, LOGIN_SCOPE, "the transaction's claim (lapsed in the store) was granted");
    assert_eq!(calls[1].0, SAML_ASSERTION_SCOPE, "the assertion's claim refused");
    drop(calls);
    let (control, _) = replay(false);
    assert_signed_in(&control, "/docs", SESSION_LIFETIME);
}

/// The single-use store does not answer: the sign-in is refused (fail closed), never let through unclaimed.
#[test]
fn an_unavailable_replay_store_refuses_the_sign_in() {
    let w = World::new();
    let login = w.login("alice@corp.example");
    w.p.claims_fail.set(true);
    let r = w.post(&login, &w.reply(&login, CORP_IDP, "alice@corp.example"));
    assert_acs_refused(&r, 503, "replay_store_unavailable");
    assert_eq!(w.p.verify_calls.get(), 0, "refused at the transaction's claim, before reading the response");
}

/// The store fails after the transaction's claim, before the assertion's (it is asked while the ACS waits for
/// the IdP's metadata, read again because the certificate of the cached copy does not verify the response — the
/// IdP rolled its certificate over): the assertion's claim fails closed too.
#[test]
fn an_unavailable_replay_store_refuses_at_the_assertion_claim_too() {
    let w = World::new();
    let before_rollover = idp::metadata(META_IDP, META_SSO, idp::OTHER_CERT_PEM, None);
    let after_rollover = idp::metadata(META_IDP, META_SSO, idp::RSA_CERT_PEM, None);
    w.serve_metadata(vec![metadata_answer(before_rollover, Some(300)), metadata_answer(after_rollover, Some(300))]);
    let login = w.login("alice@meta.example");
    // The ACS reads the metadata again (a signature its copy's certificate does not verify); that fetch
    // suspends once.
    w.p.yield_on_send.set(true);
    let reply = w.reply(&login, META_IDP, "alice@meta.example");
    let encoded = reply.encoded();
    let req =
        acs_post("meta", &login.cookie(), &[("SAMLResponse", &encoded), ("RelayState", &login.request.relay_state)]);
    let flow = w.flow();
    let mut pending = std::pin::pin!(flow.route(&req));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(pending.as_mut().poll(&mut cx).is_pending(), "waiting for the metadata");
    assert_eq!(w.claims_in(LOGIN_SCOPE), 1, "the transaction is claimed");
    w.p.claims_fail.set(true);
    let std::task::Poll::Ready(result) = pending.as_mut().poll(&mut cx) else { panic!("still pending") };
    assert!(matches!(result, Err((FlowError::ReplayStoreUnavailable(_), _))), "{result:?}");
    // One refused try with the old certificate, one verified with the new: then the assertion's claim failed.
    assert_eq!(w.p.verify_calls.get(), 2);
    assert_eq!(w.claims_in(SAML_ASSERTION_SCOPE), 1);
}

// ---- the response's rules ----------------------------------------------------------------------------

/// Each profile rule the flow hands to `verify_response` refuses with saml_response_invalid, naming the rule in
/// the operator's log line: another request's response, another Destination, Audience or Issuer, expired.
#[test]
fn responses_breaking_a_rule_are_saml_response_invalid_with_the_rule_logged() {
    type Edit = fn(&mut Reply, u64);
    let cases: [(&str, Edit, &str); 7] = [
        (
            "another request",
            |r, _| {
                r.in_response_to = Some("_another-request".into());
                r.confirmation_in_response_to = Some("_another-request".into());
            },
            "InResponseTo is this browser's request",
        ),
        (
            "another Destination",
            |r, _| r.destination = format!("{SITE}/auth/saml/open/acs"),
            "Destination is the ACS URL",
        ),
        ("another Recipient", |r, _| r.recipient = format!("{SITE}/elsewhere"), "Recipient is the ACS URL"),
        (
            "another Audience",
            |r, _| r.audience = "https://other-sp.example/".into(),
            "every AudienceRestriction names this SP",
        ),
        (
            "another Issuer",
            |r, _| {
                r.issuer = OPEN_IDP.into();
                r.response_issuer = Some(OPEN_IDP.into());
            },
            "the Response's Issuer is the IdP",
        ),
        (
            "another Issuer, Response without one",
            |r, _| {
                r.issuer = OPEN_IDP.into();
                r.response_issuer = None;
            },
            "the Assertion's Issuer is the IdP",
        ),
        (
            "a signature by a key the connector does not name",
            |r, _| r.signing = Signing::AssertionWithForeignKey,
            "no configured certificate verifies the signature",
        ),
    ];
    for (what, edit, rule) in cases {
        let w = World::new();
        let login = w.login("alice@corp.example");
        let mut reply = w.reply(&login, CORP_IDP, "alice@corp.example");
        edit(&mut reply, w.now());
        let r = w.post(&login, &reply);
        assert_acs_refused(&r, 400, "saml_response_invalid");
        let log = w.last_log();
        assert!(log.contains(rule), "{what}: {log}");
        assert!(log.contains("\"corp\""), "{what}: the connector is named: {log}");
        assert_eq!(w.claims_in(SAML_ASSERTION_SCOPE), 0, "{what}: nothing claimed for a refused assertion");
    }
}

/// Times relative to the clock: past the assertion's end (plus the leeway) it is expired; within the leeway
/// it still signs in (so the refusal is the time, not something else about the reply).
#[test]
fn an_expired_response_is_refused() {
    let w = World::new();
    let login = w.login("alice@corp.example");
    let reply = w.reply(&login, CORP_IDP, "alice@corp.example"); // valid until now + 300
    w.p.advance(300 + LEEWAY);
    let r = w.post(&login, &reply);
    assert_acs_refused(&r, 400, "saml_response_invalid");
    assert!(w.last_log().contains("has expired: SubjectConfirmationData NotOnOrAfter"), "{}", w.last_log());

    let w = World::new();
    let login = w.login("alice@corp.example");
    let reply = w.reply(&login, CORP_IDP, "alice@corp.example");
    w.p.advance(300 + LEEWAY - 1);
    assert_signed_in(&w.post(&login, &reply), "/docs", SESSION_LIFETIME);

    // Issued in the future beyond the leeway: not valid yet.
    let w = World::new();
    let login = w.login("alice@corp.example");
    let now = w.now();
    let reply = Reply { not_before: now + LEEWAY + 1, ..w.reply(&login, CORP_IDP, "alice@corp.example") };
    let r = w.post(&login, &reply);
    assert_acs_refused(&r, 400, "saml_response_invalid");
    assert!(w.last_log().contains("not valid yet: Conditions NotBefore"), "{}", w.last_log());
}

/// A SAMLResponse that is no response (missing, not base64, tampered after signing) is refused with its reason.
#[test]
fn a_missing_or_tampered_saml_response_is_refused() {
    let w = World::new();
    let login = w.login("alice@corp.example");
    let r = w.handle(&acs_post("corp", &login.cookie(), &[("RelayState", &login.request.relay_state)]));
    assert_acs_refused(&r, 400, "saml_response_invalid");
    assert!(w.last_log().contains("no SAMLResponse in the form"), "{}", w.last_log());

    let w = World::new();
    let login = w.login("alice@corp.example");
    let xml = w.reply(&login, CORP_IDP, "alice@corp.example").xml();
    let tampered = xml.replacen("alice@corp.example</saml:NameID>", "mallory@corp.example</saml:NameID>", 1);
    assert_ne!(tampered, xml);
    let encoded = STANDARD.encode(tampered);
    let r = w.handle(&acs_post(
        "corp",
        &login.cookie(),
        &[("SAMLResponse", &encoded), ("RelayState", &login.request.relay_state)],
    ));
    assert_acs_refused(&r, 400, "saml_response_invalid");
    assert!(w.last_log().contains("does not match its digest"), "{}", w.last_log());
}

// ---- who signs in ------------------------------------------------------------------------------------

/// The email's domain must be one of the connector's (the same rule as OpenID Connect's).
#[test]
fn an_email_of_another_domain_is_email_domain_mismatch() {
    let w = World::new();
    let login = w.login("alice@corp.example");
    let r = w.post(&login, &w.reply(&login, CORP_IDP, "bob@open.example"));
    assert_acs_refused(&r, 403, "email_domain_mismatch");
    assert!(w.last_log().contains("open.example"), "the domain is logged: {}", w.last_log());
}

/// No emailAddress NameID and no email attribute: email_missing (a NameID that merely looks like an address
/// is not taken as one).
#[test]
fn no_email_is_email_missing() {
    let w = World::new();
    let login = w.login("alice@corp.example");
    let reply = Reply {
        name_id: "alice@corp.example".into(),
        name_id_format: idp::TRANSIENT_FORMAT.into(),
        attributes: vec![("displayName".into(), vec!["Alice".into()])],
        ..w.reply(&login, CORP_IDP, "alice@corp.example")
    };
    let r = w.post(&login, &reply);
    assert_acs_refused(&r, 403, "email_missing");
}

/// The email comes from an emailAddress NameID first (over an `email` attribute); with a transient NameID,
/// from the attribute.
#[test]
fn the_email_address_name_id_is_the_email() {
    let w = World::new();
    let login = w.login("alice@corp.example");
    let mut reply = w.reply(&login, CORP_IDP, "alice@corp.example");
    reply.attributes.push(("email".into(), vec!["mallory@corp.example".into()]));
    let r = w.post(&login, &reply);
    assert_signed_in(&r, "/docs", SESSION_LIFETIME);
    assert_eq!(w.session_of(&r).email, "alice@corp.example", "the NameID, not the attribute");

    let login = w.login("carol@corp.example");
    let mut reply = Reply {
        name_id: "x-7f3a9c".into(),
        name_id_format: idp::TRANSIENT_FORMAT.into(),
        ..w.reply(&login, CORP_IDP, "carol@corp.example")
    };
    reply.attributes.push(("email".into(), vec!["carol@corp.example".into()]));
    let r = w.post(&login, &reply);
    assert_signed_in(&r, "/docs", SESSION_LIFETIME);
    let session = w.session_of(&r);
    assert_eq!(session.email, "carol@corp.example");
    assert_eq!(session.sub, "x-7f3a9c");
}

// ---- the IdP's refusal -------------------------------------------------------------------------------

/// A non-Success status is the IdP's answer, not a broken response: idp_error, with the page its second-level
/// code maps to (AuthnFailed → access_denied), and the status codes in the log.
#[test]
fn a_failed_status_is_an_idp_error() {
    let w = World::new();
    let login = w.login("alice@corp.example");
    let reply = Reply {
        status: "urn:oasis:names:tc:SAML:2.0:status:Responder".into(),
        substatus: Some("urn:oasis:names:tc:SAML:2.0:status:AuthnFailed".into()),
        ..w.reply(&login, CORP_IDP, "alice@corp.example")
    };
    let encoded = reply.encoded();
    let req =
        acs_post("corp", &login.cookie(), &[("SAMLResponse", &encoded), ("RelayState", &login.request.relay_state)]);
    let outcome = pollster::block_on(w.flow().handle(&req));
    let Outcome::Respond(page) = &outcome else { panic!("{outcome:?}") };
    assert!(page.body.contains(r#"<meta name="edge-auth-idp-error" content="access_denied">"#));
    assert_eq!(page.status, 403);
    let r = respond(outcome);
    assert_acs_refused(&r, 403, "idp_error");
    let status = w.p.events_named("idp_status");
    assert!(
        status.iter().any(|e| e["connector"] == "corp"
            && e["message"].as_str().is_some_and(|m| m
                .contains("status urn:oasis:names:tc:SAML:2.0:status:Responder")
                && m.contains("AuthnFailed"))),
        "{status:?}"
    );
    let failed = w.p.events_named("sign_in");
    assert!(
        failed.iter().any(|e| e["outcome"] == "failure"
            && e["connector"] == "corp"
            && e["reason"] == "idp_error"
            && e["idp_error"] == "access_denied"),
        "{failed:?}"
    );
    // Typed.
    let login = w.login("alice@corp.example");
    let reply = Reply {
        status: "urn:oasis:names:tc:SAML:2.0:status:Requester".into(),
        substatus: None,
        ..w.reply(&login, CORP_IDP, "a@corp.example")
    };
    let encoded = reply.encoded();
    let req =
        acs_post("corp", &login.cookie(), &[("SAMLResponse", &encoded), ("RelayState", &login.request.relay_state)]);
    assert!(matches!(w.route(&req), Err((FlowError::Idp(code), _)) if code == "invalid_request"));
}

// ---- IdP-initiated responses -------------------------------------------------------------------------

/// Without `idp_initiated`, a response no transaction of this browser asked for is login_expired; with it,
/// the browser is sent to a fresh SP-initiated sign-in at the same IdP, and the response creates no session
/// (it is not even verified or claimed).
#[test]
fn idp_initiated_responses_never_create_a_session() {
    let w = World::new();
    // An unsolicited, validly signed response (no InResponseTo) from each IdP.
    let unsolicited = |connector: &str, idp: &str, email: &str| {
        let request = SeenRequest {
            id: "_unsolicited-1".into(),
            acs_url: format!("{SITE}/auth/saml/{connector}/acs"),
            sp_entity_id: format!("{SITE}/auth/saml/{connector}/metadata"),
            destination: String::new(),
            relay_state: String::new(),
        };
        Reply { in_response_to: None, confirmation_in_response_to: None, ..Reply::to(&request, idp, email, t0()) }
            .encoded()
    };
    let encoded = unsolicited("corp", CORP_IDP, "alice@corp.example");
    let r = w.handle(&acs_post("corp", "", &[("SAMLResponse", &encoded)]));
    assert_acs_refused(&r, 400, "login_expired");

    let encoded = unsolicited("open", OPEN_IDP, "alice@open.example");
    let r = w.handle(&acs_post("open", "", &[("SAMLResponse", &encoded), ("RelayState", "/admin")]));
    assert_eq!(r.status, 302, "{}", describe(&r));
    assert_eq!(r.header("location"), Some("/auth/login?connector=open"));
    assert_eq!(r.header("x-edge-auth-error"), None);
    assert_tx_cleared(&r);
    assert_eq!(set_cookie_line(&r, SESSION_COOKIE), None, "no session cookie at all");
    assert_eq!(w.p.verify_calls.get(), 0, "the unsolicited response is not read");
    assert!(w.p.claim_calls.borrow().is_empty());
    // And the sign-in it redirects to goes to the same IdP.
    let again = w.handle(&get(&format!("{SITE}/auth/login?connector=open"), ""));
    assert_eq!(again.status, 302);
    assert!(again.header("location").unwrap().starts_with(OPEN_SSO), "{}", describe(&again));
}

// ---- metadata ----------------------------------------------------------------------------------------

/// A metadata-URL connector: the document is fetched once and kept while fresh; when it goes stale and the
/// IdP is down, the last good copy is used (and the operator told); a sign-in completes with it.
#[test]
fn idp_metadata_is_cached_and_used_stale_through_an_outage() {
    let w = World::new();
    let metadata = idp::metadata(META_IDP, META_SSO, idp::RSA_CERT_PEM, None);
    w.serve_metadata(vec![metadata_answer(metadata, Some(600)), network_error()]);
    let first = w.login("alice@meta.example");
    assert!(first.location.as_str().starts_with(META_SSO), "{}", first.location);
    assert_eq!(first.request.destination, META_SSO);
    let second = w.login("bob@meta.example");
    let r = w.post_to("meta", &second, &w.reply(&second, META_IDP, "bob@meta.example"));
    assert_signed_in(&r, "/docs", SESSION_LIFETIME);
    assert_eq!(w.session_of(&r).iss, META_IDP, "iss is the entity ID from the metadata");
    assert_eq!(w.p.count(META_URL), 1, "fetched once for two logins and an ACS");
    assert!(w.p.logs().is_empty(), "{:?}", w.p.logs());

    // Stale, and the IdP is down.
    w.p.advance(601);
    let third = w.login("carol@meta.example");
    assert_eq!(w.p.count(META_URL), 2, "a stale copy is used at once and refreshed in the background");
    assert!(
        w.p.events_named("idp_fetch_failed").iter().any(|e| e["connector"] == "meta"
            && e["document"] == "saml_metadata"
            && e["stale"] == true
            && e["message"].as_str().is_some_and(|m| m.starts_with("background refresh failed"))),
        "{:?}",
        w.p.logs()
    );
    let r = w.post_to("meta", &third, &w.reply(&third, META_IDP, "carol@meta.example"));
    assert_signed_in(&r, "/docs", SESSION_LIFETIME);
}

/// Certificate rollover with a metadata URL: the IdP signs with a certificate the cached copy lacks; the ACS
/// reads the metadata again past every cache and signs the visitor in. A signature no certificate verifies even
/// then (a forgery) does not make every request fetch the metadata: at most once a minute per connector.
#[test]
fn a_rolled_over_certificate_is_learnt_from_the_metadata_read_again() {
    let w = World::new();
    let before_rollover = idp::metadata(META_IDP, META_SSO, idp::OTHER_CERT_PEM, None);
    let after_rollover = idp::metadata(META_IDP, META_SSO, idp::RSA_CERT_PEM, None);
    w.serve_metadata(vec![
        metadata_answer(before_rollover.clone(), Some(3600)),
        metadata_answer(after_rollover.clone(), Some(3600)),
        metadata_answer(after_rollover, Some(3600)),
    ]);
    let login = w.login("alice@meta.example");
    let r = w.post_to("meta", &login, &w.reply(&login, META_IDP, "alice@meta.example"));
    assert_signed_in(&r, "/docs", SESSION_LIFETIME);
    assert_eq!(w.p.count(META_URL), 2, "read again once, after the unverified signature");
    // The new copy is kept: the next sign-in needs no fetch.
    let login = w.login("bob@meta.example");
    let r = w.post_to("meta", &login, &w.reply(&login, META_IDP, "bob@meta.example"));
    assert_signed_in(&r, "/docs", SESSION_LIFETIME);
    assert_eq!(w.p.count(META_URL), 2);
    // Forged signatures (a key the IdP never had): within a minute of the last read, no fetch...
    let login = w.login("mallory@meta.example");
    let forged =
        Reply { signing: Signing::AssertionWithForeignKey, ..w.reply(&login, META_IDP, "mallory@meta.example") };
    assert_acs_refused(&w.post_to("meta", &login, &forged), 400, "saml_response_invalid");
    assert_eq!(w.p.count(META_URL), 2);
    // ...a minute later, one read again for the first, none for the next ones.
    w.p.advance(61);
    for _ in 0..3 {
        let login = w.login("mallory@meta.example");
        let forged =
            Reply { signing: Signing::AssertionWithForeignKey, ..w.reply(&login, META_IDP, "mallory@meta.example") };
        let r = w.post_to("meta", &login, &forged);
        assert_acs_refused(&r, 400, "saml_response_invalid");
    }
    assert_eq!(w.p.count(META_URL), 3, "one read again for the first forgery, none for the others within a minute");
}

/// Metadata past its validUntil is refused when fetched (idp_unreachable, the reason logged), and a cached
/// copy is not used through an outage once its validUntil has passed.
#[test]
fn expired_idp_metadata_is_refused() {
    let w = World::new();
    let expired = idp::metadata(META_IDP, META_SSO, idp::RSA_CERT_PEM, Some(w.now() - 1));
    w.serve_metadata(vec![metadata_answer(expired, Some(600))]);
    let r = w.handle(&get(&format!("{SITE}/auth/login?email=alice@meta.example"), ""));
    assert_eq!(r.status, 502, "{}", describe(&r));
    assert_eq!(r.header("x-edge-auth-error"), Some("idp_unreachable"));
    assert!(w.last_log().contains("validUntil has passed"), "{}", w.last_log());

    let w = World::new();
    let valid = idp::metadata(META_IDP, META_SSO, idp::RSA_CERT_PEM, Some(w.now() + 900));
    w.serve_metadata(vec![metadata_answer(valid, Some(600)), network_error()]);
    w.login("alice@meta.example");
    w.p.advance(601);
    w.login("alice@meta.example"); // stale but within validUntil: still used
    w.p.advance(300);
    let r = w.handle(&get(&format!("{SITE}/auth/login?email=alice@meta.example"), ""));
    assert_eq!(r.status, 502, "past validUntil the stale copy is not used: {}", describe(&r));
    assert_eq!(r.header("x-edge-auth-error"), Some("idp_unreachable"));
}

/// The certificate in the metadata is the only signer: a response signed by the (inline connectors') RSA key
/// is refused when the metadata names another certificate.
#[test]
fn a_response_not_signed_by_the_metadata_certificate_is_refused() {
    let w = World::new();
    let metadata = idp::metadata(META_IDP, META_SSO, idp::OTHER_CERT_PEM, None);
    w.serve_metadata(vec![metadata_answer(metadata, Some(600))]);
    let login = w.login("alice@meta.example");
    let r = w.post_to("meta", &login, &w.reply(&login, META_IDP, "alice@meta.example"));
    assert_acs_refused(&r, 400, "saml_response_invalid");
    assert!(w.last_log().contains("signature: no configured certificate verifies the signature"), "{}", w.last_log());
}

// ---- the SP's metadata and unknown connectors ---------------------------------------------------------

/// GET /auth/saml/{id}/metadata is the SP's metadata: its entity ID and ACS URL on this origin.
#[test]
fn the_sp_metadata_names_the_acs_url() {
    let w = World::new();
    let r = w.handle(&get(&format!("{SITE}/auth/saml/corp/metadata"), ""));
    assert_eq!(r.status, 200, "{}", describe(&r));
    assert_eq!(r.header("content-type"), Some("application/samlmetadata+xml; charset=utf-8"));
    let body = r.body.clone();
    let document = edge_auth::core::xml::parse(&body).unwrap();
    let root = document.root_element();
    assert_eq!(root.attribute(None, "entityID"), Some(format!("{SITE}/auth/saml/corp/metadata").as_str()));
    let acs =
        document.elements().find(|e| e.attribute(None, "Binding").is_some() && e.attribute(None, "Location").is_some());
    assert_eq!(acs.unwrap().attribute(None, "Location"), Some(format!("{SITE}/auth/saml/corp/acs").as_str()));
}

/// An unknown connector id: 404 unknown_connector, on the metadata and on the ACS.
#[test]
fn an_unknown_connector_is_404() {
    let w = World::new();
    let r = w.handle(&get(&format!("{SITE}/auth/saml/nope/metadata"), ""));
    assert_eq!(r.status, 404, "{}", describe(&r));
    assert_eq!(r.header("x-edge-auth-error"), Some("unknown_connector"));
    let r = w.handle(&acs_post("nope", "", &[("SAMLResponse", "PGEvPg==")]));
    assert_eq!(r.status, 404, "{}", describe(&r));
    assert_eq!(r.header("x-edge-auth-error"), Some("unknown_connector"));
    // An OpenID Connect route word under /auth/saml/ is not a SAML endpoint.
    let r = w.handle(&get(&format!("{SITE}/auth/saml/corp/acs"), ""));
    assert_eq!(r.status, 405, "{}", describe(&r));
}

/// Without a complete revocation list (the store cannot be read), no SAML sign-in starts a session either.
#[test]
fn without_a_complete_revocation_list_saml_sign_ins_are_refused() {
    let w = World::new();
    let login = w.login("alice@corp.example");
    w.p.list_fails.set(true);
    w.load_revocations();
    let r = w.post(&login, &w.reply(&login, CORP_IDP, "alice@corp.example"));
    assert_acs_refused(&r, 503, "revocations_unavailable");
    // The store answers again: a new sign-in goes through.
    w.p.list_fails.set(false);
    w.p.advance(10);
    w.load_revocations();
    let login = w.login("alice@corp.example");
    assert_signed_in(&w.post(&login, &w.reply(&login, CORP_IDP, "alice@corp.example")), "/docs", SESSION_LIFETIME);
}

/// The loopback development origin (http://127.0.0.1:PORT): the transaction cookie has its loopback name and
/// is still `SameSite=None; Secure` (browsers treat loopback as a secure context), the ACS on that origin signs
/// the visitor in with the loopback session cookie, and the SP entity ID and ACS URL are on that origin.
#[test]
fn the_loopback_development_origin_signs_in() {
    let w = World::new();
    let dev = "http://127.0.0.1:8787";
    let r = w.handle(&get(&format!("{dev}/auth/login?email=alice@corp.example&return_to=/docs"), ""));
    assert_eq!(r.status, 302, "{}", describe(&r));
    let tx_line = set_cookie_line(&r, "edge-auth-saml-tx").unwrap_or_else(|| panic!("{}", describe(&r)));
    assert!(cookie_attrs(tx_line).contains(&"SameSite=None"), "{tx_line}");
    let request = idp::read_request(&Url::parse(r.header("location").unwrap()).unwrap());
    assert_eq!(request.acs_url, format!("{dev}/auth/saml/corp/acs"));
    assert_eq!(request.sp_entity_id, format!("{dev}/auth/saml/corp/metadata"));
    let encoded = Reply::to(&request, CORP_IDP, "alice@corp.example", w.now()).encoded();
    let mut post = acs_post(
        "corp",
        &format!("edge-auth-saml-tx={}", cookie_value(tx_line)),
        &[("SAMLResponse", &encoded), ("RelayState", &request.relay_state)],
    );
    post.url = Url::parse(&format!("{dev}/auth/saml/corp/acs")).unwrap();
    let r = w.handle(&post);
    assert_eq!(r.status, 302, "{} {:?}", describe(&r), w.p.logs());
    assert_eq!(r.header("location"), Some("/docs"));
    let session = set_cookie_line(&r, "edge-auth-session").unwrap_or_else(|| panic!("{}", describe(&r)));
    assert!(!cookie_attrs(session).contains(&"Secure"), "{session}");
    let header = format!("edge-auth-session={}", cookie_value(session));
    let session = authenticate(&header, Transport::LoopbackHttp, &w.keys, w.now()).unwrap();
    assert_eq!(session.email, "alice@corp.example");
}

/// While the IdP is down, stale SAML metadata is not fetched again in the foreground by every request (a
/// sign-in would wait for the fetch to fail, up to the platform's 10 s against a hanging IdP): as discovery
/// documents, it is served stale at once and refreshed in the background at most every REFRESH_RETRY_SECONDS
/// (src/core/flow/document_cache.rs). (Found by this test: before, each request fetched it again.)
#[test]
fn stale_metadata_is_not_refetched_on_every_sign_in_during_an_outage() {
    let w = World::new();
    let metadata = idp::metadata(META_IDP, META_SSO, idp::RSA_CERT_PEM, None);
    w.serve_metadata(vec![metadata_answer(metadata, Some(600)), network_error()]);
    w.login("alice@meta.example");
    assert_eq!(w.p.count(META_URL), 1);
    w.p.advance(601);
    let login = w.login("bob@meta.example"); // stale, the IdP down: one attempt (fine)
    let after_first_attempt = w.p.count(META_URL);
    assert!(after_first_attempt <= 2);
    // Within the retry backoff, neither another login nor the ACS waits for the down IdP again.
    w.p.advance(1);
    w.login("carol@meta.example");
    let r = w.post_to("meta", &login, &w.reply(&login, META_IDP, "bob@meta.example"));
    assert_signed_in(&r, "/docs", SESSION_LIFETIME);
    assert_eq!(w.p.count(META_URL), after_first_attempt, "the down IdP was asked again on each request");
}
