//! The WS-Federation sign-in flow end to end on the host (src/core/flow/wsfed.rs, with the transaction, the
//! assertion claim and the session it shares with SAML in src/core/flow/saml.rs, and the sign-out of
//! src/core/flow/logout.rs): `Flow::route` / `Flow::handle` driven through the test kit's fake platform
//! (`ring` as the signature verifier), against a test-only WS-Federation IdP (testkit/wsfed.rs) that reads
//! `wtrealm`, `wctx` and `wreply` out of the login redirect and answers with a `wresult` (WS-Trust 2005/02
//! around a SAML 1.1 or SAML 2.0 assertion) signed at test time with the TEST-ONLY keys of
//! tests/fixtures/xml/dsig/.
//!
//! Every refusal of a posted answer is checked for its status, its `x-edge-auth-error` code (and, where the
//! rule matters, the rule named in the operator's log line), the absence of a session cookie and the clearing
//! of the transaction cookie.
//!
//! Run with `cargo test --features saml --test wsfed_flow`.
#![cfg(all(feature = "saml", not(target_arch = "wasm32")))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

#[path = "../testkit/mod.rs"]
mod testkit;

#[path = "../testkit/wsfed.rs"]
mod idp;

use edge_auth::core::error::FlowError;
use edge_auth::core::flow::IsolateCache;
use edge_auth::core::http::{Method, Request, Response};
use edge_auth::core::replay::LOGIN_SCOPE;
use edge_auth::core::saml::time::parse_datetime;
use idp::saml::{self as saml_idp, RSA_CERT_PEM};
use idp::{immutable_id, read_sign_in, SeenSignIn, Token};
use testkit::flow_http::*;
use testkit::FakePlatform;
use url::Url;

// ---- fixed values ------------------------------------------------------------------------------------

/// Connector `adfs` (domain fabrikam.example): an inline AD FS, the default realm.
const ADFS_ISSUER: &str = "http://adfs.fabrikam.example/adfs/services/trust";
const ADFS_SSO: &str = "https://adfs.fabrikam.example/adfs/ls/";
/// Connector `entra` (domain contoso.example): an inline Entra tenant, a configured realm, a passive endpoint
/// with a query of its own.
const ENTRA_ISSUER: &str = "https://sts.windows.net/0b5c4e36-7a0e-4d1b-9f1e-3c2d4b6a8e90/";
const ENTRA_SSO: &str =
    "https://login.microsoftonline.com/0b5c4e36-7a0e-4d1b-9f1e-3c2d4b6a8e90/wsfed?whr=contoso.example";
const ENTRA_REALM: &str = "urn:site.example:edge-auth";
/// Connector `tailspin` (domain tailspin.example): AD FS with `email_claim`.
const TAILSPIN_ISSUER: &str = "http://adfs.tailspin.example/adfs/services/trust";
const TAILSPIN_SSO: &str = "https://adfs.tailspin.example/adfs/ls/";
const MAIL_CLAIM: &str = "http://schemas.xmlsoap.org/claims/EmailAddress";
/// Connector `meta` (domain meta.example): its IdP from federation metadata.
const META_URL: &str = "https://login.meta.example/federationmetadata/2007-06/federationmetadata.xml";
const META_ISSUER: &str = "https://sts.meta.example/tenant/";
const META_SSO: &str = "https://login.meta.example/tenant/wsfed";
/// Connector `corp` (domain corp.example): SAML 2.0, to prove the two protocols' routes never cross.
const CORP_IDP: &str = "https://idp.corp.example/saml";
const CORP_SSO: &str = "https://idp.corp.example/sso";

/// Where the IdP's answer is posted from.
const IDP_ORIGIN: &str = "https://adfs.fabrikam.example";
const SESSION_LIFETIME: u64 = 8 * 3600;
const LEEWAY: u64 = 60;
const SAML_ASSERTION_SCOPE: &str = "saml_assertion";

/// 2026-12-02T10:00:00Z.
fn t0() -> u64 {
    parse_datetime("2026-12-02T10:00:00Z").unwrap()
}

fn config_json() -> String {
    let cert = RSA_CERT_PEM;
    serde_json::json!({
        "connectors": [
            { "id": "adfs", "kind": "wsfed", "display_name": "Fabrikam", "domains": ["fabrikam.example"],
              "issuer": ADFS_ISSUER, "sso_url": ADFS_SSO, "certificates": [cert] },
            { "id": "entra", "kind": "wsfed", "domains": ["contoso.example"], "realm": ENTRA_REALM,
              "issuer": ENTRA_ISSUER, "sso_url": ENTRA_SSO, "certificates": [cert] },
            { "id": "tailspin", "kind": "wsfed", "domains": ["tailspin.example"], "email_claim": MAIL_CLAIM,
              "issuer": TAILSPIN_ISSUER, "sso_url": TAILSPIN_SSO, "certificates": [cert] },
            { "id": "meta", "kind": "wsfed", "domains": ["meta.example"], "metadata_url": META_URL },
            { "id": "corp", "kind": "saml", "domains": ["corp.example"],
              "idp_entity_id": CORP_IDP, "idp_sso_url": CORP_SSO, "idp_certificates": [cert] }
        ],
        "session": { "lifetime_seconds": SESSION_LIFETIME, "idle_timeout_seconds": 3600, "encrypt": true },
        "clock_leeway_seconds": LEEWAY,
        "policies": [ { "path": "/admin/*", "groups": ["adfs:admins", "entra:admins"] } ]
    })
    .to_string()
}

// ---- the browser's steps -----------------------------------------------------------------------------

/// A login redirect to the IdP, read by the test IdP, and the transaction cookie it set.
struct SignIn {
    seen: SeenSignIn,
    location: Url,
    tx_line: String,
}

impl SignIn {
    fn cookie(&self) -> String {
        cookie_header_of(&self.tx_line)
    }
}

/// The browser's cross-site form POST of the IdP's answer to `{SITE}/auth/wsfed/{connector}`.
fn wsfed_post(connector: &str, cookie: &str, form: &[(&str, &str)]) -> Request {
    cross_site_post(&format!("{SITE}/auth/wsfed/{connector}"), IDP_ORIGIN, cookie, form)
}

/// The IdP's sign-in answer (`wa=wsignin1.0`, `wresult`, `wctx`) posted to `{SITE}/auth/wsfed/{connector}`.
fn wsignin(connector: &str, cookie: &str, wresult: &str, wctx: &str) -> Request {
    wsignin_at(&format!("{SITE}/auth/wsfed/{connector}"), cookie, wresult, wctx)
}

fn wsignin_at(url: &str, cookie: &str, wresult: &str, wctx: &str) -> Request {
    cross_site_post(url, IDP_ORIGIN, cookie, &[("wa", "wsignin1.0"), ("wresult", wresult), ("wctx", wctx)])
}

/// The IdP's sign-out request (or a link to it) as a GET of `{SITE}/auth/wsfed/{connector}?{query}` from
/// `sec_fetch_site`.
fn signout_get(connector: &str, query: &str, cookie: &str, sec_fetch_site: Option<&str>) -> Request {
    let mut req = get(&format!("{SITE}/auth/wsfed/{connector}?{query}"), cookie);
    req.sec_fetch_site = sec_fetch_site.map(str::to_string);
    req
}

/// `POST /auth/logout` from the site's own page.
fn logout_post(cookie: &str) -> Request {
    Request {
        method: Method::Post,
        url: Url::parse(&format!("{SITE}/auth/logout")).unwrap(),
        cookie_header: cookie.to_string(),
        origin_header: Some(SITE.to_string()),
        sec_fetch_site: Some("same-origin".into()),
        accept_language: None,
        form: Vec::new(),
    }
}

/// The query pairs of a URL, in order.
fn pairs(url: &Url) -> Vec<(String, String)> {
    url.query_pairs().into_owned().collect()
}

fn pair(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

impl World {
    fn new() -> World {
        World::at(FakePlatform::at(t0()))
    }

    fn at(p: FakePlatform<'static>) -> World {
        World::with_config(p, &config_json())
    }

    /// `GET /auth/login?email=…&return_to=/docs`: the redirect to the IdP, read back by the test IdP.
    fn login(&self, email: &str) -> SignIn {
        let (location, tx_line) = self.start_federated_login(email);
        SignIn { seen: read_sign_in(&location), location, tx_line }
    }

    /// A well-behaved IdP's SAML 1.1 token for this sign-in.
    fn token(&self, sign_in: &SignIn, issuer: &str, email: &str) -> Token {
        Token::to(&sign_in.seen, issuer, email, self.now())
    }

    /// The IdP's answer posted by the browser to the reply URL the login named, with this sign-in's cookie and
    /// `wctx`.
    fn post(&self, sign_in: &SignIn, token: &Token) -> Response {
        self.handle(&answer(sign_in, token))
    }

    /// Sign in as `email` with a token of `issuer`: the session cookie header.
    fn signed_in(&self, email: &str, issuer: &str) -> String {
        let sign_in = self.login(email);
        let r = self.post(&sign_in, &self.token(&sign_in, issuer, email));
        assert_signed_in(&r, "/docs", SESSION_LIFETIME);
        cookie_header_of(set_cookie_line(&r, SESSION_COOKIE).unwrap())
    }
}

/// The form POST of `token` to the reply URL of `sign_in`, with its cookie and `wctx`.
fn answer(sign_in: &SignIn, token: &Token) -> Request {
    wsignin_at(&sign_in.seen.wreply, &sign_in.cookie(), &token.wresult(), &sign_in.seen.wctx)
}

/// The sign-out page the IdP frames: 200, no redirect.
fn assert_signout_page(r: &Response) {
    assert_eq!(r.status, 200, "{}", describe(r));
    assert_eq!(r.header("location"), None, "{}", describe(r));
    assert_eq!(r.header("x-edge-auth-error"), None, "{}", describe(r));
}

// ---- login -------------------------------------------------------------------------------------------

/// `/auth/login` for a WS-Fed domain: 302 to the IdP's passive endpoint with `wa=wsignin1.0`, the realm
/// (default: the reply URL), an opaque single-use `wctx` and the reply URL; the transaction cookie is the
/// SAML one (`SameSite=None; Secure`: the IdP answers with a cross-site POST).
#[test]
fn login_redirects_to_the_passive_endpoint_with_a_sign_in_request() {
    let w = World::new();
    let sign_in = w.login("alice@fabrikam.example");
    assert_eq!(sign_in.seen.endpoint, ADFS_SSO);
    let reply_url = format!("{SITE}/auth/wsfed/adfs");
    assert_eq!(sign_in.seen.realm, reply_url, "the default realm");
    assert_eq!(sign_in.seen.wreply, reply_url);
    assert_eq!(sign_in.seen.query.len(), 4, "wa, wtrealm, wctx, wreply: {}", sign_in.location);
    let wctx = &sign_in.seen.wctx;
    assert!(wctx.len() >= 20 && !wctx.contains('/'), "wctx is an opaque handle, never the return URL: {wctx}");
    let attrs = cookie_attrs(&sign_in.tx_line);
    for a in ["Path=/", "HttpOnly", "Secure", "SameSite=None", "Max-Age=600"] {
        assert!(attrs.contains(&a), "{a} missing in {:?}", sign_in.tx_line);
    }
    assert_ne!(w.login("alice@fabrikam.example").seen.wctx, *wctx, "a fresh handle for every sign-in");

    // A configured realm, and a passive endpoint whose own query is kept.
    let sign_in = w.login("bob@contoso.example");
    assert_eq!(sign_in.seen.realm, ENTRA_REALM);
    assert_eq!(sign_in.seen.wreply, format!("{SITE}/auth/wsfed/entra"));
    assert_eq!(sign_in.seen.query[0], pair("whr", "contoso.example"), "{}", sign_in.location);
    assert_eq!(sign_in.seen.endpoint, "https://login.microsoftonline.com/0b5c4e36-7a0e-4d1b-9f1e-3c2d4b6a8e90/wsfed");
    assert_eq!(sign_in.seen.query.len(), 5);
    assert!(w.p.logs().is_empty(), "{:?}", w.p.logs());
}

// ---- sign-in -----------------------------------------------------------------------------------------

/// Login → IdP → reply URL with a SAML 1.1 token: 302 to return_to, a session whose `sub` is the ImmutableID
/// claim, with the email, the display name, the connector, the IdP's issuer and the groups a policy names; the
/// transaction and the assertion each claimed once on the network; `/auth/me` shows it.
#[test]
fn a_saml11_token_signs_the_visitor_in() {
    let w = World::new();
    let sign_in = w.login("alice@fabrikam.example");
    let r = w.post(&sign_in, &w.token(&sign_in, ADFS_ISSUER, "alice@fabrikam.example"));
    assert_signed_in(&r, "/docs", SESSION_LIFETIME);
    assert_eq!(w.p.verify_calls.get(), 1, "one signature verified");
    let session = w.session_of(&r);
    assert_eq!(session.sub, immutable_id("alice@fabrikam.example"), "the ImmutableID claim");
    assert_eq!(session.email, "alice@fabrikam.example");
    assert_eq!(session.name.as_deref(), Some("Alice Example"));
    assert_eq!(session.connector, "adfs");
    assert_eq!(session.iss, ADFS_ISSUER);
    assert_eq!(session.exp, w.now() + SESSION_LIFETIME);
    assert_eq!(session.groups, vec!["admins".to_string()], "staff: no policy names it, not kept");
    assert_eq!(w.claims_in(LOGIN_SCOPE), 1);
    assert_eq!(w.claims_in(SAML_ASSERTION_SCOPE), 1);

    let cookie = cookie_header_of(set_cookie_line(&r, SESSION_COOKIE).unwrap());
    let me = w.handle(&get(&format!("{SITE}/auth/me"), &cookie));
    assert_eq!(me.status, 200, "{}", describe(&me));
    let body: serde_json::Value = serde_json::from_str(&me.body).unwrap();
    assert_eq!(body["email"], "alice@fabrikam.example");
    assert_eq!(body["connector"], "adfs");
    assert!(w.p.logs().is_empty(), "{:?}", w.p.logs());
    // One sign_in event with the subject (the ImmutableID) and the address; never the cookie or the token.
    let events = w.p.events_named("sign_in");
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!((&e["outcome"], &e["connector"]), (&serde_json::json!("success"), &serde_json::json!("adfs")));
    assert_eq!(e["subject"].as_str(), Some(immutable_id("alice@fabrikam.example").as_str()));
    assert_eq!(e["email"], "alice@fabrikam.example");
    let value = cookie.split_once('=').map(|(_, v)| v.to_string()).unwrap_or_default();
    for l in w.p.lines.borrow().iter() {
        assert!(!l.contains(&value) && !l.contains("Assertion") && !l.contains("RequestSecurityTokenResponse"), "{l}");
    }
}

/// Without an ImmutableID-style claim the subject is the NameIdentifier (an Entra pairwise ID here, the email
/// from its claim).
#[test]
fn without_an_immutable_id_the_subject_is_the_name_identifier() {
    let w = World::new();
    let sign_in = w.login("alice@fabrikam.example");
    let token = Token {
        name_identifier: "Kq3xYbWm1nR7sPz0dLhA9vT2cUeF4gJ6oI8kM5wN_jQ".into(),
        name_identifier_format: None,
        ..w.token(&sign_in, ADFS_ISSUER, "alice@fabrikam.example").without(idp::IMMUTABLE_ID_CLAIM)
    };
    let r = w.post(&sign_in, &token);
    assert_signed_in(&r, "/docs", SESSION_LIFETIME);
    let session = w.session_of(&r);
    assert_eq!(session.sub, "Kq3xYbWm1nR7sPz0dLhA9vT2cUeF4gJ6oI8kM5wN_jQ");
    assert_eq!(session.email, "alice@fabrikam.example");
}

/// A SAML 2.0 token (Entra's SAML 2.0 token type) at a connector with a configured realm: the same session;
/// its SessionNotOnOrAfter, earlier than the session lifetime, caps the session and the cookie (a later one
/// does not lengthen them); without an ImmutableID the subject is the NameID.
#[test]
fn a_saml2_token_signs_the_visitor_in_capped_by_session_not_on_or_after() {
    let w = World::new();
    let sign_in = w.login("bob@contoso.example");
    let token = Token {
        session_not_on_or_after: Some(w.now() + 3600),
        ..w.token(&sign_in, ENTRA_ISSUER, "bob@contoso.example").saml2()
    };
    assert_eq!(token.audience, ENTRA_REALM);
    let r = w.post(&sign_in, &token);
    assert_signed_in(&r, "/docs", 3600);
    let session = w.session_of(&r);
    assert_eq!(session.exp, w.now() + 3600);
    assert_eq!(session.sub, immutable_id("bob@contoso.example"));
    assert_eq!(session.email, "bob@contoso.example");
    assert_eq!(session.name.as_deref(), Some("Alice Example"));
    assert_eq!(session.connector, "entra");
    assert_eq!(session.iss, ENTRA_ISSUER);
    assert_eq!(session.groups, vec!["admins".to_string()]);

    let sign_in = w.login("bob@contoso.example");
    let token = Token {
        session_not_on_or_after: Some(w.now() + 3 * SESSION_LIFETIME),
        name_identifier: "persistent-bob".into(),
        ..w.token(&sign_in, ENTRA_ISSUER, "bob@contoso.example").saml2().without(idp::IMMUTABLE_ID_CLAIM)
    };
    let r = w.post(&sign_in, &token);
    assert_signed_in(&r, "/docs", SESSION_LIFETIME);
    assert_eq!(w.session_of(&r).sub, "persistent-bob", "the NameID");
}

// ---- the transaction: this browser's, this connector's, once -----------------------------------------

/// `wctx` is the handle the login sent: another one, or none, is state_mismatch before any signature work and
/// before the transaction is claimed.
#[test]
fn a_wrong_or_missing_wctx_is_state_mismatch() {
    let w = World::new();
    let sign_in = w.login("alice@fabrikam.example");
    let other = w.login("alice@fabrikam.example");
    let wresult = w.token(&sign_in, ADFS_ISSUER, "alice@fabrikam.example").wresult();
    for form in [
        vec![("wa", "wsignin1.0"), ("wresult", wresult.as_str())],
        vec![("wa", "wsignin1.0"), ("wresult", wresult.as_str()), ("wctx", "")],
        vec![("wa", "wsignin1.0"), ("wresult", wresult.as_str()), ("wctx", other.seen.wctx.as_str())],
    ] {
        let r = w.handle(&wsfed_post("adfs", &sign_in.cookie(), &form));
        assert_refused(&r, 400, "state_mismatch");
    }
    assert_eq!(w.p.verify_calls.get(), 0);
    assert_eq!(w.claims_in(LOGIN_SCOPE), 0, "a mismatch does not spend the transaction");
    let req = wsignin("adfs", &sign_in.cookie(), &wresult, "x");
    assert!(matches!(w.route(&req), Err((FlowError::StateMismatch, _))));
}

/// Each field of the answer once: a repeated `wa`, `wctx` or `wresult` (which copy would the IdP have meant?)
/// is refused before the transaction is looked at.
#[test]
fn a_repeated_field_is_refused() {
    let w = World::new();
    let sign_in = w.login("alice@fabrikam.example");
    let wresult = w.token(&sign_in, ADFS_ISSUER, "alice@fabrikam.example").wresult();
    let wctx = sign_in.seen.wctx.as_str();
    let base = [("wa", "wsignin1.0"), ("wresult", wresult.as_str()), ("wctx", wctx)];
    for repeated in [("wa", "wsignin1.0"), ("wctx", wctx), ("wresult", wresult.as_str())] {
        let mut form = base.to_vec();
        form.push(repeated);
        let r = w.handle(&wsfed_post("adfs", &sign_in.cookie(), &form));
        assert_refused(&r, 400, "wsfed_token_invalid");
        assert!(w.last_log().contains(&format!("the form has {} more than once", repeated.0)), "{}", w.last_log());
    }
    assert_eq!(w.p.verify_calls.get(), 0);
    assert_eq!(w.claims_in(LOGIN_SCOPE), 0);
    // The transaction is still good for the real answer.
    assert_signed_in(&w.handle(&wsfed_post("adfs", &sign_in.cookie(), &base)), "/docs", SESSION_LIFETIME);
}

/// `wa` must say sign-in: missing, or any other action (a sign-out posted here), is refused before the
/// transaction is spent or the token read.
#[test]
fn a_missing_or_other_wa_is_refused() {
    let w = World::new();
    let sign_in = w.login("alice@fabrikam.example");
    let wresult = w.token(&sign_in, ADFS_ISSUER, "alice@fabrikam.example").wresult();
    let wctx = sign_in.seen.wctx.as_str();
    for wa in [None, Some("wsignout1.0"), Some("wsignoutcleanup1.0"), Some("wsignin1.0 "), Some("")] {
        let mut form = vec![("wresult", wresult.as_str()), ("wctx", wctx)];
        if let Some(wa) = wa {
            form.push(("wa", wa));
        }
        let r = w.handle(&wsfed_post("adfs", &sign_in.cookie(), &form));
        assert_refused(&r, 400, "wsfed_token_invalid");
        assert!(w.last_log().contains("the form's wa is not wsignin1.0"), "{wa:?}: {}", w.last_log());
    }
    assert_eq!(w.p.verify_calls.get(), 0);
    assert_eq!(w.claims_in(LOGIN_SCOPE), 0);
}

/// No transaction cookie (an IdP-initiated answer, or another browser's): login_expired, nothing read; an
/// expired transaction likewise; an OpenID Connect transaction cookie is not one.
#[test]
fn no_transaction_cookie_is_login_expired() {
    let w = World::new();
    let sign_in = w.login("alice@fabrikam.example");
    let token = w.token(&sign_in, ADFS_ISSUER, "alice@fabrikam.example");
    let mut req = answer(&sign_in, &token);
    req.cookie_header = String::new();
    assert_refused(&w.handle(&req), 400, "login_expired");
    assert!(matches!(w.route(&req), Err((FlowError::LoginExpired, _))));
    req.cookie_header = format!("{}={}", testkit::fixtures::TX_COOKIE, testkit::fixtures::sealed_transaction_cookie());
    assert!(matches!(w.route(&req), Err((FlowError::LoginExpired, _))));
    w.p.advance(601);
    assert_refused(&w.post(&sign_in, &token), 400, "login_expired");
    assert_eq!(w.p.verify_calls.get(), 0);
}

/// A transaction is its connector's: a SAML connector's transaction (with its RelayState as `wctx`) posted to
/// a WS-Fed reply URL, a WS-Fed transaction (with its `wctx` as RelayState) posted to a SAML ACS, another WS-Fed
/// connector's transaction: each state_mismatch, nothing verified.
#[test]
fn another_connectors_transaction_is_state_mismatch() {
    let w = World::new();
    // SAML → WS-Fed.
    let r = w.handle(&get(&format!("{SITE}/auth/login?email=carol@corp.example"), ""));
    let saml_tx = cookie_header_of(set_cookie_line(&r, SAML_TX_COOKIE).unwrap());
    let saml_request = saml_idp::read_request(&Url::parse(r.header("location").unwrap()).unwrap());
    let sign_in = w.login("alice@fabrikam.example");
    let wresult = w.token(&sign_in, ADFS_ISSUER, "alice@fabrikam.example").wresult();
    assert_refused(&w.handle(&wsignin("adfs", &saml_tx, &wresult, &saml_request.relay_state)), 400, "state_mismatch");

    // WS-Fed → SAML.
    let saml_reply = saml_idp::Reply::to(&saml_request, CORP_IDP, "carol@corp.example", w.now()).encoded();
    let req = cross_site_post(
        &format!("{SITE}/auth/saml/corp/acs"),
        "https://idp.corp.example",
        &sign_in.cookie(),
        &[("SAMLResponse", &saml_reply), ("RelayState", &sign_in.seen.wctx)],
    );
    assert_refused(&w.handle(&req), 400, "state_mismatch");

    // Another WS-Fed connector's.
    let entra = w.login("bob@contoso.example");
    let wresult = w.token(&entra, ENTRA_ISSUER, "bob@contoso.example").wresult();
    assert_refused(&w.handle(&wsignin("adfs", &entra.cookie(), &wresult, &entra.seen.wctx)), 400, "state_mismatch");
    assert_eq!(w.p.verify_calls.get(), 0);
    assert_eq!(w.claims_in(LOGIN_SCOPE), 0);
}

/// The answer must come back to the reply URL the login named, on the origin the sign-in started at: the same
/// cookie and `wctx` posted to this connector's reply URL on another origin of the worker is state_mismatch
/// (before the token's audience would refuse it).
#[test]
fn an_answer_posted_at_another_origin_is_state_mismatch() {
    let w = World::new();
    let sign_in = w.login("bob@contoso.example");
    let token = w.token(&sign_in, ENTRA_ISSUER, "bob@contoso.example");
    let mut req = answer(&sign_in, &token);
    req.url = Url::parse("https://other-site.example/auth/wsfed/entra").unwrap();
    assert_refused(&w.handle(&req), 400, "state_mismatch");
    assert_eq!(w.p.verify_calls.get(), 0);
}

/// The two protocols' routes do not cross: a SAML connector's id under /auth/wsfed/ and a WS-Fed connector's
/// under /auth/saml/ are unknown connectors (404), whatever the method; nothing is read or claimed.
#[test]
fn the_saml_and_wsfed_routes_do_not_cross() {
    let w = World::new();
    let sign_in = w.login("alice@fabrikam.example");
    let wresult = w.token(&sign_in, ADFS_ISSUER, "alice@fabrikam.example").wresult();
    let form = [("wa", "wsignin1.0"), ("wresult", wresult.as_str()), ("wctx", sign_in.seen.wctx.as_str())];
    let requests = [
        wsfed_post("corp", &sign_in.cookie(), &form),
        signout_get("corp", "wa=wsignoutcleanup1.0", "", Some("same-site")),
        cross_site_post(
            &format!("{SITE}/auth/saml/adfs/acs"),
            "https://adfs.fabrikam.example",
            &sign_in.cookie(),
            &[("SAMLResponse", "PGEvPg=="), ("RelayState", &sign_in.seen.wctx)],
        ),
        get(&format!("{SITE}/auth/saml/adfs/metadata"), ""),
        wsfed_post("nope", &sign_in.cookie(), &form),
    ];
    for req in &requests {
        let r = w.handle(req);
        assert_eq!(r.status, 404, "{} {}", req.url, describe(&r));
        assert_eq!(r.header("x-edge-auth-error"), Some("unknown_connector"), "{}", req.url);
        assert_no_session_cookie(&r);
    }
    assert_eq!(w.p.verify_calls.get(), 0);
    assert!(w.p.claim_calls.borrow().is_empty());
    // The transaction was not touched: the real answer still signs in.
    assert_signed_in(
        &w.post(&sign_in, &w.token(&sign_in, ADFS_ISSUER, "alice@fabrikam.example")),
        "/docs",
        SESSION_LIFETIME,
    );
}

/// The same answer twice: the transaction is spent (in this isolate, then on the network for another
/// isolate): login_expired, no second session, the token never read again.
#[test]
fn a_transaction_is_used_once() {
    let w = World::new();
    let sign_in = w.login("alice@fabrikam.example");
    let token = w.token(&sign_in, ADFS_ISSUER, "alice@fabrikam.example");
    assert_signed_in(&w.post(&sign_in, &token), "/docs", SESSION_LIFETIME);
    assert_refused(&w.post(&sign_in, &token), 400, "login_expired");
    assert!(matches!(w.route(&answer(&sign_in, &token)), Err((FlowError::Replayed, _))));

    let other_isolate = IsolateCache::default();
    let flow =
        edge_auth::core::flow::Flow { config: &w.config, keys: &w.keys, platform: &w.p, providers: &other_isolate };
    let refused = pollster::block_on(flow.route(&answer(&sign_in, &token)));
    assert!(matches!(refused, Err((FlowError::Replayed, _))), "{refused:?}");
    assert_eq!(w.p.claim_calls.borrow().last().unwrap().0, LOGIN_SCOPE, "refused by the network's claim");
    assert_eq!(w.claims_in(SAML_ASSERTION_SCOPE), 1, "the token was never read again");
    assert_eq!(w.p.verify_calls.get(), 1);
}

/// WS-Federation sends no request ID, so a token is bound to nothing but its realm and time: the same signed
/// `wresult` posted again under a fresh transaction of this browser verifies — and its assertion ID, claimed
/// once on the network, refuses it.
#[test]
fn a_wresult_replayed_in_a_new_transaction_is_refused_by_its_assertion_id() {
    let w = World::new();
    let first = w.login("alice@fabrikam.example");
    let token = w.token(&first, ADFS_ISSUER, "alice@fabrikam.example");
    assert_signed_in(&w.post(&first, &token), "/docs", SESSION_LIFETIME);
    let second = w.login("alice@fabrikam.example");
    let wresult = token.wresult();
    let r = w.handle(&wsignin("adfs", &second.cookie(), &wresult, &second.seen.wctx));
    assert_refused(&r, 400, "wsfed_token_invalid");
    assert!(w.last_log().contains("the assertion ID was used before"), "{}", w.last_log());
    assert!(w.last_log().contains("\"adfs\""), "{}", w.last_log());
    assert_eq!(w.claims_in(LOGIN_SCOPE), 2, "the second transaction was fresh");
    assert_eq!(w.claims_in(SAML_ASSERTION_SCOPE), 2, "the second claim of the same assertion refused");
}

// ---- the token's rules -------------------------------------------------------------------------------

/// Each rule the flow hands to `verify_wresult` (its expectations: the realm, the issuer, the keys, the clock)
/// refuses with wsfed_token_invalid and the rule in the operator's log line; nothing is claimed.
#[test]
fn tokens_breaking_a_rule_are_wsfed_token_invalid_with_the_rule_logged() {
    type Edit = fn(&mut Token, u64);
    let cases: [(&str, &str, Edit, &str); 8] = [
        (
            "another audience",
            "alice@fabrikam.example",
            |t, _| t.audience = "https://other-app.example/".into(),
            "every audience restriction names the realm",
        ),
        (
            "the reply URL as audience where a realm is configured",
            "bob@contoso.example",
            |t, _| t.audience = format!("{SITE}/auth/wsfed/entra"),
            "every audience restriction names the realm",
        ),
        (
            "AppliesTo another relying party",
            "alice@fabrikam.example",
            |t, _| t.applies_to = Some("https://other-app.example/".into()),
            "AppliesTo, when present, names the realm",
        ),
        (
            "another issuer",
            "alice@fabrikam.example",
            |t, _| t.issuer = TAILSPIN_ISSUER.into(),
            "the Assertion's Issuer is the IdP",
        ),
        (
            "another issuer, SAML 2.0",
            "bob@contoso.example",
            |t, _| {
                t.version = idp::Version::Saml2;
                t.issuer = ADFS_ISSUER.into();
            },
            "Issuer is the IdP",
        ),
        (
            "a key the connector does not name",
            "alice@fabrikam.example",
            |t, _| t.foreign_key = true,
            "no configured certificate verifies the signature",
        ),
        ("not valid yet", "alice@fabrikam.example", |t, now| t.not_before = now + LEEWAY + 1, "not valid yet"),
        (
            "SAML 2.0 for another reply URL",
            "bob@contoso.example",
            |t, _| {
                t.version = idp::Version::Saml2;
                t.recipient = format!("{SITE}/auth/wsfed/adfs");
            },
            "Recipient",
        ),
    ];
    for (what, email, edit, rule) in cases {
        let w = World::new();
        let sign_in = w.login(email);
        let (issuer, connector) =
            if email.ends_with("contoso.example") { (ENTRA_ISSUER, "entra") } else { (ADFS_ISSUER, "adfs") };
        let mut token = w.token(&sign_in, issuer, email);
        edit(&mut token, w.now());
        let r = w.post(&sign_in, &token);
        assert_refused(&r, 400, "wsfed_token_invalid");
        let log = w.last_log();
        assert!(log.contains(rule), "{what}: {log}");
        assert!(log.contains(&format!("\"{connector}\"")), "{what}: the connector is named: {log}");
        assert_eq!(w.claims_in(SAML_ASSERTION_SCOPE), 0, "{what}: nothing claimed for a refused token");
    }
}

/// Past the token's NotOnOrAfter plus the leeway it is expired; within the leeway it still signs in (so the
/// refusal is the time).
#[test]
fn an_expired_token_is_refused() {
    for saml2 in [false, true] {
        let w = World::new();
        let sign_in = w.login("alice@fabrikam.example");
        let mut token = w.token(&sign_in, ADFS_ISSUER, "alice@fabrikam.example"); // valid until now + 300
        if saml2 {
            token = token.saml2();
        }
        w.p.advance(300 + LEEWAY);
        assert_refused(&w.post(&sign_in, &token), 400, "wsfed_token_invalid");
        assert!(w.last_log().contains("has expired"), "{}", w.last_log());

        let w = World::new();
        let sign_in = w.login("alice@fabrikam.example");
        let mut token = w.token(&sign_in, ADFS_ISSUER, "alice@fabrikam.example");
        if saml2 {
            token = token.saml2();
        }
        w.p.advance(300 + LEEWAY - 1);
        assert_signed_in(&w.post(&sign_in, &token), "/docs", SESSION_LIFETIME);
    }
}

/// A token valid for longer than the single-use store remembers a claim (about 24 hours) is refused: a WS-Fed
/// token answers no request, so after its claim was forgotten a captured one would sign in again with a fresh
/// transaction. One valid for 23 hours signs in.
#[test]
fn a_token_valid_for_longer_than_its_claim_is_kept_is_refused() {
    for saml2 in [false, true] {
        for (valid_for, accepted) in [(23 * 3600, true), (25 * 3600, false)] {
            let w = World::new();
            let sign_in = w.login("alice@fabrikam.example");
            let mut token = w.token(&sign_in, ADFS_ISSUER, "alice@fabrikam.example");
            token.not_on_or_after = t0() + valid_for;
            if saml2 {
                token = token.saml2();
            }
            let r = w.post(&sign_in, &token);
            if accepted {
                assert_signed_in(&r, "/docs", SESSION_LIFETIME);
            } else {
                assert_refused(&r, 400, "wsfed_token_invalid");
                assert!(w.last_log().contains("longer than its single use can be remembered"), "{}", w.last_log());
            }
        }
    }
}

/// A stable-identifier claim that does not name one subject (twice, several values, empty) refuses the sign-in
/// instead of falling back to a weaker identifier (the same person would become another user).
#[test]
fn an_ambiguous_immutable_id_is_refused() {
    let variants: [&[&[&str]]; 3] = [&[&["a==", "b=="]], &[&["a=="], &["a=="]], &[&[" "]]];
    for values in variants {
        let w = World::new();
        let sign_in = w.login("alice@fabrikam.example");
        let mut token = w.token(&sign_in, ADFS_ISSUER, "alice@fabrikam.example").without(idp::IMMUTABLE_ID_CLAIM);
        for v in values {
            token.claims.push((idp::IMMUTABLE_ID_CLAIM.into(), v.iter().map(|s| s.to_string()).collect()));
        }
        assert_refused(&w.post(&sign_in, &token), 400, "wsfed_token_invalid");
        assert!(w.last_log().contains("is not one non-empty value"), "{values:?}: {}", w.last_log());
    }
}

/// A `wresult` changed after signing, or none at all, is refused with its reason.
#[test]
fn a_missing_or_tampered_wresult_is_refused() {
    let w = World::new();
    let sign_in = w.login("alice@fabrikam.example");
    let form = [("wa", "wsignin1.0"), ("wctx", sign_in.seen.wctx.as_str())];
    assert_refused(&w.handle(&wsfed_post("adfs", &sign_in.cookie(), &form)), 400, "wsfed_token_invalid");
    assert!(w.last_log().contains("no wresult in the form"), "{}", w.last_log());

    let sign_in = w.login("alice@fabrikam.example");
    let wresult = w.token(&sign_in, ADFS_ISSUER, "alice@fabrikam.example").wresult();
    let tampered = wresult.replacen(">alice@fabrikam.example<", ">mallory@fabrikam.example<", 1);
    assert_ne!(tampered, wresult);
    assert_refused(
        &w.handle(&wsignin("adfs", &sign_in.cookie(), &tampered, &sign_in.seen.wctx)),
        400,
        "wsfed_token_invalid",
    );
    assert!(w.last_log().contains("does not match its digest"), "{}", w.last_log());
}

/// A `wresult` larger than the XML core reads is refused before it is parsed.
#[test]
fn an_oversized_wresult_is_refused() {
    let w = World::new();
    let sign_in = w.login("alice@fabrikam.example");
    let wresult = w.token(&sign_in, ADFS_ISSUER, "alice@fabrikam.example").wresult();
    let padded = format!("{wresult}{}", " ".repeat(edge_auth::core::xml::MAX_DOCUMENT_BYTES));
    assert_refused(
        &w.handle(&wsignin("adfs", &sign_in.cookie(), &padded, &sign_in.seen.wctx)),
        400,
        "wsfed_token_invalid",
    );
    assert!(w.last_log().contains("the wresult is larger than edge-auth reads"), "{}", w.last_log());
    assert_eq!(w.p.verify_calls.get(), 0);
}

// ---- who signs in ------------------------------------------------------------------------------------

/// The email's domain must be one of the connector's: a token of the right IdP for another domain's address
/// (even one another connector owns) is email_domain_mismatch.
#[test]
fn an_email_of_another_domain_is_email_domain_mismatch() {
    let w = World::new();
    let sign_in = w.login("alice@fabrikam.example");
    let r = w.post(&sign_in, &w.token(&sign_in, ADFS_ISSUER, "bob@contoso.example"));
    assert_refused(&r, 403, "email_domain_mismatch");
    assert!(w.last_log().contains("contoso.example"), "the domain is logged: {}", w.last_log());
}

/// With `email_claim`, that claim is the only source of the email: absent, email_missing (the emailaddress
/// claim and the email NameIdentifier are not taken instead); present, its value is the email.
#[test]
fn a_configured_email_claim_is_the_only_source() {
    let w = World::new();
    let sign_in = w.login("dave@tailspin.example");
    let token = w.token(&sign_in, TAILSPIN_ISSUER, "dave@tailspin.example");
    assert_refused(&w.post(&sign_in, &token), 403, "email_missing");

    let sign_in = w.login("dave@tailspin.example");
    let mut token = w.token(&sign_in, TAILSPIN_ISSUER, "other@tailspin.example");
    token.claims.push((MAIL_CLAIM.into(), vec!["dave@tailspin.example".into()]));
    let r = w.post(&sign_in, &token);
    assert_signed_in(&r, "/docs", SESSION_LIFETIME);
    assert_eq!(w.session_of(&r).email, "dave@tailspin.example");
}

/// No claim holds an address and the NameIdentifier is not in the email format: email_missing.
#[test]
fn no_email_is_email_missing() {
    let w = World::new();
    let sign_in = w.login("alice@fabrikam.example");
    let token = Token {
        name_identifier_format: None,
        ..w.token(&sign_in, ADFS_ISSUER, "alice@fabrikam.example").without(idp::EMAIL_CLAIM)
    };
    assert_refused(&w.post(&sign_in, &token), 403, "email_missing");
}

// ---- federation metadata -----------------------------------------------------------------------------

/// A metadata connector: the login goes to the passive endpoint the federation metadata names (not the SAML
/// endpoint of its IDPSSODescriptor). Certificate rollover: the IdP signs with a certificate the cached copy
/// lacks; the reply URL reads the metadata again once, past every cache, and signs the visitor in; the new copy
/// is kept.
///
/// Needs the federation metadata parser (branch wsfed-md; this test passes with it merged): on main
/// `parse_federation_metadata` is still a stub that reads SAML metadata, and sends the login to the SAML
/// endpoint. Remove the `ignore` when the parser lands.
#[test]
fn a_rolled_over_certificate_is_learnt_from_the_federation_metadata_read_again() {
    let w = World::new();
    let other = saml_idp::OTHER_CERT_PEM;
    let before = idp::federation_metadata(META_ISSUER, META_SSO, &[other], None);
    let after = idp::federation_metadata(META_ISSUER, META_SSO, &[other, RSA_CERT_PEM], None);
    w.p.route(META_URL, vec![metadata_answer(before, Some(3600)), metadata_answer(after, Some(3600))]);
    let sign_in = w.login("erin@meta.example");
    assert_eq!(sign_in.seen.endpoint, META_SSO, "the passive requestor endpoint");
    assert_eq!(w.p.count(META_URL), 1);
    let r = w.post(&sign_in, &w.token(&sign_in, META_ISSUER, "erin@meta.example"));
    assert_signed_in(&r, "/docs", SESSION_LIFETIME);
    assert_eq!(w.session_of(&r).iss, META_ISSUER, "the issuer is the metadata's entityID");
    assert_eq!(w.p.count(META_URL), 2, "read again once, after the unverified signature");
    assert_eq!(w.p.verify_calls.get(), 3, "the old copy's one key refused it, then the new copy's old and new keys");

    let sign_in = w.login("erin@meta.example");
    assert_signed_in(
        &w.post(&sign_in, &w.token(&sign_in, META_ISSUER, "erin@meta.example")),
        "/docs",
        SESSION_LIFETIME,
    );
    assert_eq!(w.p.count(META_URL), 2, "the new copy is kept");
}

// ---- sign-out ----------------------------------------------------------------------------------------

/// `POST /auth/logout` of a WS-Fed session ends it here (cookie deleted, sign-out recorded) and continues to the
/// IdP with `wa=wsignout1.0`, the realm, and this site's signed-out page as `wreply`; the endpoint's own query is
/// kept.
#[test]
fn logout_of_a_wsfed_session_continues_to_the_idp() {
    let w = World::new();
    let session = w.signed_in("alice@fabrikam.example", ADFS_ISSUER);
    let r = w.handle(&logout_post(&session));
    assert_eq!(r.status, 302, "{}", describe(&r));
    let location = Url::parse(r.header("location").unwrap()).unwrap();
    assert!(location.as_str().starts_with(ADFS_SSO), "{location}");
    assert_eq!(
        pairs(&location),
        vec![
            pair("wa", "wsignout1.0"),
            pair("wtrealm", &format!("{SITE}/auth/wsfed/adfs")),
            pair("wreply", &format!("{SITE}/auth/signed-out")),
        ]
    );
    assert_cookie_deleted(&r, SESSION_COOKIE);
    assert_eq!(w.p.recorded_revocations().len(), 1, "the sign-out is recorded");

    let session = w.signed_in("bob@contoso.example", ENTRA_ISSUER);
    let r = w.handle(&logout_post(&session));
    let location = Url::parse(r.header("location").unwrap()).unwrap();
    assert_eq!(
        pairs(&location),
        vec![
            pair("whr", "contoso.example"),
            pair("wa", "wsignout1.0"),
            pair("wtrealm", ENTRA_REALM),
            pair("wreply", &format!("{SITE}/auth/signed-out")),
        ]
    );
    assert_cookie_deleted(&r, SESSION_COOKIE);
}

/// The IdP's sign-out (`wsignoutcleanup1.0`, `wsignout1.0`), from the same site (its iframe or image on a
/// sign-out page of the site's own domain): the session of this connector ends (cookie deleted, recorded), the
/// answer a 200 page it may frame.
#[test]
fn the_idps_same_site_signout_ends_the_session() {
    for wa in ["wsignoutcleanup1.0", "wsignout1.0"] {
        let w = World::new();
        let session = w.signed_in("alice@fabrikam.example", ADFS_ISSUER);
        let r = w.handle(&signout_get("adfs", &format!("wa={wa}"), &session, Some("same-site")));
        assert_signout_page(&r);
        assert_cookie_deleted(&r, SESSION_COOKIE);
        assert_eq!(w.p.recorded_revocations().len(), 1, "{wa}: recorded");
        assert!(
            !r.headers.iter().any(|(k, v)| *k == "content-security-policy" && v.contains("frame-ancestors")),
            "{wa}: the IdP may frame it"
        );
    }
}

/// The same GET from another site as a top-level navigation (the only cross-site request that carries the
/// `SameSite=Lax` session cookie), from no page (`none`: a link opened from a mail application), or without
/// Sec-Fetch-Site (the browser's site unknown): a confirmation page,
/// the session kept — a link on any page must not sign a visitor out.
#[test]
fn a_cross_site_signout_asks_the_visitor_and_keeps_the_session() {
    let w = World::new();
    let session = w.signed_in("alice@fabrikam.example", ADFS_ISSUER);
    for site in [Some("cross-site"), Some("none"), None] {
        let r = w.handle(&signout_get("adfs", "wa=wsignoutcleanup1.0", &session, site));
        assert_signout_page(&r);
        assert_eq!(set_cookie_line(&r, SESSION_COOKIE), None, "{site:?}: the session is kept");
        assert!(r.body.contains("action=\"/auth/logout\""), "{site:?}: the confirmation page");
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{site:?}: the confirmation is never framed: {csp}");
    }
    assert!(w.p.recorded_revocations().is_empty());
}

/// Another connector's session, or none: nothing ends, the answer is the page (the IdP's sign-out of one
/// connector never touches another's session).
#[test]
fn a_signout_never_ends_another_connectors_session() {
    let w = World::new();
    let entra = w.signed_in("bob@contoso.example", ENTRA_ISSUER);
    for cookie in [entra.as_str(), ""] {
        let r = w.handle(&signout_get("adfs", "wa=wsignoutcleanup1.0", cookie, Some("same-site")));
        assert_signout_page(&r);
        assert!(set_cookies(&r).is_empty(), "{}", describe(&r));
        assert!(r.body.contains("You have signed out"), "{}", r.body);
    }
    assert!(w.p.recorded_revocations().is_empty());
}

/// A `wreply` in the IdP's sign-out request is never followed (no open redirect), with or without a session;
/// a GET without a sign-out `wa` is not found.
#[test]
fn a_signout_wreply_is_never_followed() {
    let w = World::new();
    let session = w.signed_in("alice@fabrikam.example", ADFS_ISSUER);
    for (wa, cookie) in
        [("wsignout1.0", ""), ("wsignoutcleanup1.0", session.as_str()), ("wsignout1.0", session.as_str())]
    {
        let query = format!("wa={wa}&wreply=https%3A%2F%2Fevil.example%2F");
        let r = w.handle(&signout_get("adfs", &query, cookie, Some("same-site")));
        assert_signout_page(&r);
        assert!(!r.body.contains("evil.example"), "{}", r.body);
    }
    for query in ["", "wa=wsignin1.0", "wa=other&wreply=https%3A%2F%2Fevil.example%2F"] {
        let r = w.handle(&signout_get("adfs", query, "", Some("same-site")));
        assert_eq!(r.status, 404, "{query}: {}", describe(&r));
        assert_eq!(r.header("location"), None);
    }
}
