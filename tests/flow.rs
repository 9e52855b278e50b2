//! The login flow end to end on the host: `edge_auth::core::flow::Flow` driven through the test kit's fake
//! platform (`testkit/`: settable clock, deterministic randomness, canned HTTP, `ring` as the signature
//! verifier) against test identity providers whose keys sign ID tokens for real (ES256, EdDSA, RS256, PS256).
//!
//! Every refusal is checked for its status, its `x-edge-auth-error` code, the absence of a session cookie,
//! and (on the callback) the clearing of the login-transaction cookie. Every test ends by checking that
//! the operator log never saw the client secret, the authorization code, a token or a PKCE verifier.
//!
//! Run with `cargo test --test flow`.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

#[path = "../testkit/mod.rs"]
mod testkit;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::task::{Context, Poll};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use edge_auth::core::config::Config;
use edge_auth::core::error::{ConfigProblem, Endpoint, FlowError, IdTokenRefusal, IdpFailure, InternalError};
use edge_auth::core::fetch::{CachePolicy, FetchError, HttpRequest, HttpResponse};
use edge_auth::core::flow::{authenticate, gate, site_uris, Flow, Gate, GateRequest, IsolateCache};
use edge_auth::core::http::{Method, Outcome, Request, Response};
use edge_auth::core::oidc::discovery::DiscoveryError;
use edge_auth::core::oidc::id_token::IdTokenError;
use edge_auth::core::ports::CryptoError;
use edge_auth::core::replay::{claim_key, LOGIN_SCOPE, LOGOUT_JTI_SCOPE};
use edge_auth::core::session::codec::{KeyRing, Purpose};
use edge_auth::core::session::cookies::{CookieKind, Transport};
use edge_auth::core::session::record::{SealError, Session, MAX_SID_LEN};
use edge_auth::core::session::revocation::{Revocation, RevocationKind};
use edge_auth::core::session::revocation_state::{Reload, RATE_BURST, RATE_PER_SECOND, REFRESH_SECONDS};
use ring::signature::KeyPair;
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha512};
use testkit::flow_http::{
    assert_cookie_deleted, assert_no_session_cookie, cookie_attrs, cookie_value, describe, respond, set_cookie_line,
    set_cookies,
};
use testkit::futures::{join2, join_all};
use testkit::idp::{discovery_url, forge, jwks_url, token_url, Idp, Key};
use testkit::platform::{fresh_json, json_response, network_error, LOG_LIMITS};
use testkit::{b64url, b64url_decode, fixtures, Answer, FakePlatform, Verifier};
use url::Url;

// ---- fixed values ------------------------------------------------------------------------------------

const SITE: &str = "https://site.example";
const ISSUER: &str = "https://idp.acme.example";
const OTHER_ISSUER: &str = "https://idp.other.example";
const CLIENT_ID: &str = "edge";
const OTHER_CLIENT_ID: &str = "edge-other";
const CLIENT_SECRET: &str = "acme-client-secret-7f3a9c1e";
const OTHER_CLIENT_SECRET: &str = "other-client-secret-2b8e44d0";
const CODE: &str = "authz-code-SplxlOBeZQQYbYS6WxSbIA";
const ACCESS_TOKEN: &str = "access-token-2YotnFZFEjr1zCsicMWpAA";
const REFRESH_TOKEN: &str = "refresh-token-tGzv3JOkF0XG5Qx2TlKWIA";
/// 2025-06-15T16:26:40Z.
const T0: u64 = 1_750_000_000;
const SESSION_LIFETIME: u64 = 8 * 3600;

/// 32-byte session keys, base64url.
const K1: &str = fixtures::SESSION_KEY_1;
const K2: &str = fixtures::SESSION_KEY_2;
const K3: &str = fixtures::SESSION_KEY_3;

const SESSION_COOKIE: &str = fixtures::SESSION_COOKIE;
const TX_COOKIE: &str = fixtures::TX_COOKIE;

// ---- the test platform and identity providers: the shared test kit (testkit/) ----------------------------

type TestPlatform = FakePlatform<'static>;
type Canned = Answer;

/// The platform every test starts from: the clock at [`T0`], `ring` as the verifier, both client secrets.
fn test_platform() -> TestPlatform {
    FakePlatform::at(T0)
        .with_verifier(Verifier::Ring)
        .with_secrets([("ACME_CLIENT_SECRET", CLIENT_SECRET), ("OTHER_CLIENT_SECRET", OTHER_CLIENT_SECRET)])
}

// ---- requests and responses --------------------------------------------------------------------------

fn request(method: Method, url: &str, cookie: &str) -> Request {
    Request {
        method,
        url: Url::parse(url).unwrap(),
        cookie_header: cookie.to_string(),
        origin_header: None,
        sec_fetch_site: None,
        accept_language: None,
        form: Vec::new(),
    }
}

fn url_with(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut u = Url::parse(base).unwrap();
    if !pairs.is_empty() {
        u.query_pairs_mut().extend_pairs(pairs);
    }
    u.into()
}

fn query_map(u: &Url) -> HashMap<String, String> {
    u.query_pairs().into_owned().collect()
}

fn assert_cookie_attributes(line: &str, max_age: u64, secure: bool) {
    let attrs = cookie_attrs(line);
    for a in ["Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(attrs.contains(&a), "{a} missing in {line:?}");
    }
    assert!(attrs.contains(&format!("Max-Age={max_age}").as_str()), "Max-Age={max_age} missing in {line:?}");
    assert_eq!(attrs.contains(&"Secure"), secure, "Secure in {line:?}");
    assert!(!attrs.iter().any(|a| a.to_ascii_lowercase().starts_with("domain")), "{line:?}");
}

fn assert_refused(r: &Response, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", describe(r));
    assert_eq!(r.header("x-edge-auth-error"), Some(code), "{}", describe(r));
    assert_eq!(r.header("location"), None, "{}", describe(r));
    assert_no_session_cookie(r);
}

/// A refused callback: the status and code, no session, and the transaction cookie spent.
fn assert_callback_refused(r: &Response, status: u16, code: &str) {
    assert_refused(r, status, code);
    assert_cookie_deleted(r, TX_COOKIE);
}

// ---- the world: platform + config + keys + IdPs ------------------------------------------------------

struct Login {
    /// The authorization URL the login step redirected to.
    location: Url,
    params: HashMap<String, String>,
    /// `scheme://host[:port]` of the site the login started on.
    site: String,
    tx_name: &'static str,
    tx_line: String,
    tx_value: String,
}

impl Login {
    fn state(&self) -> &str {
        &self.params["state"]
    }
    fn nonce(&self) -> &str {
        &self.params["nonce"]
    }
    fn cookie(&self) -> String {
        format!("{}={}", self.tx_name, self.tx_value)
    }
    /// The IdP this login was sent to.
    fn issuer(&self) -> String {
        self.location.origin().ascii_serialization()
    }
}

struct World {
    p: TestPlatform,
    config: Config,
    keys: KeyRing,
    providers: IsolateCache,
    acme: Idp,
    other: Idp,
    /// Every token the IdPs handed out, to check the logs against.
    issued: RefCell<Vec<String>>,
    /// Run background refreshes right after each request, as the Workers shell does (default).
    auto_background: Cell<bool>,
}

fn config_json(acme_extra: &str) -> String {
    format!(
        r#"{{"connectors":[
          {{"id":"acme","kind":"oidc","issuer":"{ISSUER}","client_id":"{CLIENT_ID}",
            "client_secret_binding":"ACME_CLIENT_SECRET","domains":["acme.example","acme.co.example"]{acme_extra}}},
          {{"id":"other","kind":"oidc","issuer":"{OTHER_ISSUER}","client_id":"{OTHER_CLIENT_ID}",
            "client_secret_binding":"OTHER_CLIENT_SECRET","domains":["other.example"]}}
        ]}}"#
    )
}

impl World {
    fn new() -> World {
        World::build("", K1)
    }

    fn build(acme_extra: &str, keys: &str) -> World {
        World::with_config(Config::from_json(&config_json(acme_extra)).unwrap(), keys)
    }

    /// The two connectors of [`config_json`] with these `policies`.
    fn with_policies(policies: Value) -> World {
        let mut json: Value = serde_json::from_str(&config_json("")).unwrap();
        json["policies"] = policies;
        World::with_config(Config::from_json(&json.to_string()).unwrap(), K1)
    }

    fn with_config(config: Config, keys: &str) -> World {
        let w = World {
            p: test_platform(),
            config,
            keys: KeyRing::from_secret(keys).unwrap(),
            providers: IsolateCache::default(),
            acme: Idp::new(ISSUER, "acme"),
            other: Idp::new(OTHER_ISSUER, "other"),
            issued: RefCell::new(Vec::new()),
            auto_background: Cell::new(true),
        };
        for idp in [&w.acme, &w.other] {
            w.p.route(&discovery_url(idp.issuer), vec![json_response(200, &idp.discovery())]);
            w.p.route(&jwks_url(idp.issuer), vec![json_response(200, &idp.default_jwks())]);
        }
        w
    }

    fn now(&self) -> u64 {
        self.p.now.get()
    }

    /// Replace acme's discovery document by an edited copy of the default one.
    fn edit_discovery(&self, edit: impl FnOnce(&mut Value)) {
        let mut d = self.acme.discovery();
        edit(&mut d);
        self.p.route(&discovery_url(ISSUER), vec![json_response(200, &d)]);
    }

    fn idp(&self, issuer: &str) -> &Idp {
        if issuer == ISSUER {
            &self.acme
        } else {
            &self.other
        }
    }

    /// Like the Workers shell: handle the request, then run the background refreshes it asked for (unless
    /// a test runs them itself, see `run_background`).
    fn handle_with(&self, keys: &KeyRing, req: &Request) -> Outcome {
        let flow = Flow { config: &self.config, keys, platform: &self.p, providers: &self.providers };
        let outcome = pollster::block_on(flow.handle(req));
        if self.auto_background.get() {
            self.run_background();
        }
        outcome
    }

    /// Run the background refreshes requests asked for (the shell's `ctx.waitUntil`).
    fn run_background(&self) {
        let flow = Flow { config: &self.config, keys: &self.keys, platform: &self.p, providers: &self.providers };
        pollster::block_on(flow.refresh_due());
    }

    fn handle(&self, req: &Request) -> Response {
        respond(self.handle_with(&self.keys, req))
    }

    fn get(&self, url: &str, cookie: &str) -> Response {
        self.handle(&request(Method::Get, url, cookie))
    }

    /// `GET {site}/auth/login?...`, expecting the redirect to an IdP with a transaction cookie.
    fn login_at(&self, site: &str, query: &[(&str, &str)]) -> Login {
        let r = self.get(&url_with(&format!("{site}/auth/login"), query), "");
        login_of(&r, site)
    }

    fn login(&self, email: &str) -> Login {
        self.login_at(SITE, &[("email", email), ("return_to", "/docs")])
    }
}

/// The login a `GET {site}/auth/login` answer started: the redirect to an IdP with a transaction cookie.
fn login_of(r: &Response, site: &str) -> Login {
    assert_eq!(r.status, 302, "{}", describe(r));
    assert_eq!(r.header("x-edge-auth-error"), None);
    let location = Url::parse(r.header("location").unwrap()).unwrap();
    let transport = if site.starts_with("https://") { Transport::Https } else { Transport::LoopbackHttp };
    let tx_name = CookieKind::LoginTransaction.name(transport);
    let tx_line = set_cookie_line(r, tx_name).unwrap_or_else(|| panic!("no tx cookie: {}", describe(r))).to_string();
    assert_eq!(set_cookies(r).len(), 1, "only the tx cookie is set at login: {}", describe(r));
    let tx_value = cookie_value(&tx_line);
    assert!(tx_value.starts_with("v1."), "{tx_value}");
    Login { params: query_map(&location), location, site: site.to_string(), tx_name, tx_line, tx_value }
}

impl World {
    /// The claims a well-behaved IdP puts in the ID token for this login.
    fn claims(&self, login: &Login) -> Value {
        let issuer = login.issuer();
        let (sub, email, name) = if issuer == ISSUER {
            ("u-alice", "alice@acme.example", "Alice Example")
        } else {
            ("u-bob", "bob@other.example", "Bob Other")
        };
        let now = self.now();
        json!({
            "iss": issuer, "sub": sub, "aud": login.params["client_id"], "exp": now + 300, "iat": now,
            "nonce": login.nonce(), "email": email, "email_verified": true, "name": name, "sid": "idp-session-1",
        })
    }

    /// The token endpoint of the login's IdP answers with this ID token.
    fn serve_token(&self, login: &Login, id_token: &str) {
        self.issued.borrow_mut().push(id_token.to_string());
        let body = json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600,
                          "refresh_token": REFRESH_TOKEN, "id_token": id_token});
        self.p.route(&token_url(&login.issuer()), vec![json_response(200, &body)]);
    }

    fn callback(&self, login: &Login, pairs: &[(&str, &str)], cookie: &str) -> Response {
        self.get(&url_with(&format!("{}/auth/callback", login.site), pairs), cookie)
    }

    /// The browser comes back with `code` and the right `state`; the IdP returns `id_token`.
    fn finish(&self, login: &Login, id_token: &str) -> Response {
        self.serve_token(login, id_token);
        self.callback(login, &[("code", CODE), ("state", login.state())], &login.cookie())
    }

    fn finish_with_key(&self, login: &Login, key: Key) -> Response {
        let token = self.idp(&login.issuer()).sign(key, &self.claims(login));
        self.finish(login, &token)
    }

    /// A whole sign-in of alice with ES256; returns the callback response (asserted successful).
    fn sign_in(&self) -> Response {
        let login = self.login("alice@acme.example");
        let r = self.finish_with_key(&login, Key::Es);
        assert_signed_in(&r, "/docs");
        r
    }

    fn token_requests(&self, issuer: &str) -> Vec<HttpRequest> {
        self.p.requests_to(&token_url(issuer))
    }

    /// The operator log never contains the client secrets, the code, tokens, PKCE verifiers or cookies.
    fn assert_logs_clean(&self) {
        let mut secrets: Vec<String> =
            [CLIENT_SECRET, OTHER_CLIENT_SECRET, CODE, ACCESS_TOKEN, REFRESH_TOKEN].map(String::from).to_vec();
        for t in self.issued.borrow().iter() {
            secrets.push(t.clone());
            // each segment on its own (header segments are not secret, but are long enough to be unique)
            secrets.extend(t.split('.').filter(|s| s.len() >= 16).map(String::from));
        }
        for r in self.p.requests.borrow().iter() {
            if let Some(body) = &r.body {
                for (k, v) in url::form_urlencoded::parse(body.as_bytes()) {
                    if k == "code_verifier" {
                        secrets.push(v.into_owned());
                    }
                }
            }
        }
        // Every line, `info` included.
        let logs = self.p.lines.borrow().clone();
        for line in &logs {
            for s in &secrets {
                assert!(!line.contains(s.as_str()), "the log line {line:?} contains the secret {s:?}");
            }
            assert!(!line.contains("v1."), "the log line {line:?} seems to contain a cookie value");
        }
    }
}

fn session_line(r: &Response) -> &str {
    set_cookie_line(r, SESSION_COOKIE).unwrap_or_else(|| panic!("no session cookie: {}", describe(r)))
}

fn session_cookie_header(r: &Response) -> String {
    format!("{SESSION_COOKIE}={}", cookie_value(session_line(r)))
}

/// A successful callback: 302 to `return_to`, the transaction cookie cleared, a session cookie set.
fn assert_signed_in(r: &Response, return_to: &str) {
    assert_eq!(r.status, 302, "{}", describe(r));
    assert_eq!(r.header("x-edge-auth-error"), None, "{}", describe(r));
    assert_eq!(r.header("location"), Some(return_to), "{}", describe(r));
    let tx = set_cookie_line(r, TX_COOKIE).unwrap_or_else(|| panic!("tx not cleared: {}", describe(r)));
    assert_eq!(cookie_value(tx), "");
    assert_cookie_attributes(tx, 0, true);
    let session = session_line(r);
    assert!(cookie_value(session).starts_with("v1."), "{session:?}");
    assert_cookie_attributes(session, SESSION_LIFETIME, true);
}

fn half_hash_sha256(v: &str) -> String {
    b64url(&Sha256::digest(v.as_bytes())[..16])
}

fn half_hash_sha512(v: &str) -> String {
    b64url(&Sha512::digest(v.as_bytes())[..32])
}

// ---- happy paths -------------------------------------------------------------------------------------

#[test]
fn login_redirects_to_the_idp_with_a_transaction_cookie() {
    let w = World::new();
    let login = w.login_at(SITE, &[("email", " Alice@ACME.Example "), ("return_to", "/docs")]);
    assert_eq!(login.location.origin().ascii_serialization(), ISSUER);
    assert_eq!(login.location.path(), "/authorize");
    let q = &login.params;
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], "https://site.example/auth/callback");
    // What `edge-auth-check --site` prints to register is what the worker sends.
    assert_eq!(q["redirect_uri"], site_uris::redirect_uri(SITE));
    assert_eq!(q["scope"].split(' ').collect::<Vec<_>>(), ["openid", "profile", "email"]);
    assert_eq!(q["login_hint"], "Alice@acme.example", "domain normalised, local part kept");
    assert_eq!(q["code_challenge_method"], "S256");
    for p in ["state", "nonce", "code_challenge"] {
        assert_eq!(b64url_decode(&q[p]).len(), 32, "{p} carries 32 bytes");
    }
    assert!(!q.contains_key("code_verifier"));
    assert_eq!(login.tx_name, TX_COOKIE);
    assert_cookie_attributes(&login.tx_line, 600, true);
    // Nothing but discovery was fetched.
    assert_eq!(w.p.requests.borrow().len(), 1);
    assert_eq!(w.p.count(&discovery_url(ISSUER)), 1);
    // Two logins never share state, nonce or PKCE challenge.
    let second = w.login("alice@acme.example");
    for p in ["state", "nonce", "code_challenge"] {
        assert_ne!(login.params[p], second.params[p], "{p}");
    }
    assert_eq!(w.p.count(&discovery_url(ISSUER)), 1, "discovery is cached");
    // HEAD works like GET (link prefetchers), the bare page is the login form, in the visitor's language.
    let head =
        w.handle(&request(Method::Head, &url_with(&format!("{SITE}/auth/login"), &[("email", "a@acme.example")]), ""));
    assert_eq!(head.status, 302);
    let Outcome::Respond(page) = w.handle_with(&w.keys, &request(Method::Get, &format!("{SITE}/auth/login"), ""))
    else {
        panic!("the login page is rendered")
    };
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"<form class="form" id="login-form" method="get" action="/auth/login">"#));
    assert!(page.body.contains(r#"<html lang="en">"#) && page.body.contains(r#"src="/auth/static/login.js""#));
    assert_eq!(page.header("content-security-policy"), Some(edge_auth::core::flow::LOGIN_PAGE_CSP));
    assert_eq!(page.header("vary"), Some("Accept-Language"));
    let korean = Request {
        accept_language: Some("ko-KR,ko;q=0.9,en;q=0.8".into()),
        ..request(Method::Get, &format!("{SITE}/auth/login"), "")
    };
    let Outcome::Respond(page) = w.handle_with(&w.keys, &korean) else { panic!("the login page is rendered") };
    assert!(page.body.contains(r#"<html lang="ko">"#) && page.body.contains("회사 이메일"), "{}", page.body);
    assert!(w.p.logs().is_empty(), "{:?}", w.p.logs());
    w.assert_logs_clean();
}

fn check_happy_path(key: Key) {
    let w = World::new();
    let login = w.login("alice@acme.example");
    let mut claims = w.claims(&login);
    // at_hash and c_hash are checked when present: send correct ones.
    let (at_hash, c_hash) = if key == Key::Ed {
        (half_hash_sha512(ACCESS_TOKEN), half_hash_sha512(CODE))
    } else {
        (half_hash_sha256(ACCESS_TOKEN), half_hash_sha256(CODE))
    };
    claims["at_hash"] = json!(at_hash);
    claims["c_hash"] = json!(c_hash);
    let token = w.acme.sign(key, &claims);
    let verifications = w.p.verify_calls.get();
    let r = w.finish(&login, &token);
    assert_signed_in(&r, "/docs");
    assert_eq!(w.p.verify_calls.get(), verifications + 1, "exactly one signature verification");
    assert_eq!(set_cookies(&r).len(), 2, "{}", describe(&r));

    let header = session_cookie_header(&r);
    let session = authenticate(&header, Transport::Https, &w.keys, w.now()).expect("the session authenticates");
    assert_eq!(session.sub, "u-alice");
    assert_eq!(session.email, "alice@acme.example");
    assert_eq!(session.name.as_deref(), Some("Alice Example"));
    assert_eq!(session.connector, "acme");
    assert_eq!(session.iss, ISSUER);
    assert_eq!(session.iat, w.now());
    assert_eq!(session.exp, w.now() + SESSION_LIFETIME);
    assert_eq!(session.sid.as_deref(), Some("idp-session-1"));
    // The cookie holds no IdP token.
    let payload = String::from_utf8(b64url_decode(cookie_value(session_line(&r)).split('.').nth(1).unwrap())).unwrap();
    for t in [ACCESS_TOKEN, REFRESH_TOKEN, token.as_str(), CODE] {
        assert!(!payload.contains(t));
    }
    // One discovery, one JWKS, one token request.
    assert_eq!(w.p.count(&discovery_url(ISSUER)), 1);
    assert_eq!(w.p.count(&jwks_url(ISSUER)), 1);
    assert_eq!(w.token_requests(ISSUER).len(), 1);
    assert!(w.p.logs().is_empty(), "{:?}", w.p.logs());
    w.assert_logs_clean();
}

#[test]
fn happy_path_es256() {
    check_happy_path(Key::Es);
}

#[test]
fn happy_path_eddsa() {
    check_happy_path(Key::Ed);
}

#[test]
fn happy_path_rs256() {
    check_happy_path(Key::Rs256);
}

#[test]
fn happy_path_ps256() {
    check_happy_path(Key::Ps256);
}

#[test]
fn token_without_kid_uses_the_only_suitable_key_and_refuses_to_guess_among_several() {
    let w = World::new();
    let login = w.login("alice@acme.example");
    let token = w.acme.sign_with_header(Key::Es, &json!({"alg": "ES256", "typ": "JWT"}), &w.claims(&login));
    assert_signed_in(&w.finish(&login, &token), "/docs");

    let w = World::new();
    w.p.route(&jwks_url(ISSUER), vec![json_response(200, &w.acme.jwks(&[Key::Es, Key::EsNext, Key::Ed]))]);
    let login = w.login("alice@acme.example");
    let token = w.acme.sign_with_header(Key::Es, &json!({"alg": "ES256"}), &w.claims(&login));
    assert_callback_refused(&w.finish(&login, &token), 400, "id_token_invalid");
    w.assert_logs_clean();
}

#[test]
fn a_query_connector_refuses_a_posted_response() {
    // acme uses response_mode=query: a code arriving by form POST is not the answer it asked for.
    let w = World::new();
    let login = w.login("alice@acme.example");
    w.serve_token(&login, &w.acme.sign(Key::Es, &w.claims(&login)));
    let mut req = request(Method::Post, &format!("{SITE}/auth/callback"), &login.cookie());
    req.form = vec![("code".into(), CODE.into()), ("state".into(), login.state().into())];
    let r = w.handle(&req);
    assert_callback_refused(&r, 400, "invalid_callback");
    assert_eq!(w.token_requests(ISSUER).len(), 0, "the code is never redeemed");
    w.assert_logs_clean();
}

#[test]
fn the_other_connector_signs_in_through_its_own_idp() {
    let w = World::new();
    let login = w.login("bob@other.example");
    assert_eq!(login.issuer(), OTHER_ISSUER);
    assert_eq!(login.params["client_id"], OTHER_CLIENT_ID);
    let r = w.finish_with_key(&login, Key::Ed);
    assert_signed_in(&r, "/docs");
    let s = authenticate(&session_cookie_header(&r), Transport::Https, &w.keys, w.now()).unwrap();
    assert_eq!((s.connector.as_str(), s.iss.as_str(), s.email.as_str()), ("other", OTHER_ISSUER, "bob@other.example"));
    // The code went to the other IdP, with the other client's credentials; acme saw nothing.
    let reqs = w.token_requests(OTHER_ISSUER);
    assert_eq!(reqs.len(), 1);
    assert_eq!(basic_credentials(&reqs[0]), Some(format!("{OTHER_CLIENT_ID}:{OTHER_CLIENT_SECRET}")));
    assert_eq!(w.p.count(&discovery_url(ISSUER)), 0);
    assert_eq!(w.token_requests(ISSUER).len(), 0);
    w.assert_logs_clean();
}

// ---- client authentication and PKCE ------------------------------------------------------------------

fn header_of<'a>(r: &'a HttpRequest, name: &str) -> Option<&'a str> {
    r.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
}

fn form_of(r: &HttpRequest) -> HashMap<String, String> {
    url::form_urlencoded::parse(r.body.as_deref().unwrap_or_default().as_bytes()).into_owned().collect()
}

fn basic_credentials(r: &HttpRequest) -> Option<String> {
    let h = header_of(r, "authorization")?;
    let decoded = STANDARD.decode(h.strip_prefix("Basic ")?).ok()?;
    String::from_utf8(decoded).ok()
}

/// Sign alice in and return the one token request that was made.
fn token_request_of_a_sign_in(w: &World) -> HttpRequest {
    w.sign_in();
    let reqs = w.token_requests(ISSUER);
    assert_eq!(reqs.len(), 1);
    reqs[0].clone()
}

fn assert_client_secret_basic(r: &HttpRequest) {
    assert_eq!(basic_credentials(r), Some(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    let form = form_of(r);
    assert!(!form.contains_key("client_secret"), "{form:?}");
    assert!(!form.contains_key("client_id"), "{form:?}");
}

fn assert_client_secret_post(r: &HttpRequest) {
    assert_eq!(header_of(r, "authorization"), None);
    let form = form_of(r);
    assert_eq!(form.get("client_id").map(String::as_str), Some(CLIENT_ID));
    assert_eq!(form.get("client_secret").map(String::as_str), Some(CLIENT_SECRET));
}

#[test]
fn token_request_shape_and_client_secret_basic_by_default() {
    // Discovery lists no methods: client_secret_basic is the default (Discovery §3).
    let w = World::new();
    let r = token_request_of_a_sign_in(&w);
    assert_eq!(r.method, "POST");
    assert_eq!(header_of(&r, "content-type"), Some("application/x-www-form-urlencoded"));
    let form = form_of(&r);
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], CODE);
    assert_eq!(form["redirect_uri"], "https://site.example/auth/callback");
    assert!(form.contains_key("code_verifier"));
    assert_client_secret_basic(&r);
    w.assert_logs_clean();

    // Both listed: basic is preferred.
    let w = World::new();
    w.edit_discovery(|d| {
        d["token_endpoint_auth_methods_supported"] = json!(["client_secret_post", "client_secret_basic"])
    });
    assert_client_secret_basic(&token_request_of_a_sign_in(&w));
    w.assert_logs_clean();
}

#[test]
fn client_secret_post_when_discovery_offers_only_post() {
    let w = World::new();
    w.edit_discovery(|d| d["token_endpoint_auth_methods_supported"] = json!(["private_key_jwt", "client_secret_post"]));
    assert_client_secret_post(&token_request_of_a_sign_in(&w));
    w.assert_logs_clean();
}

#[test]
fn configured_auth_method_overrides_discovery() {
    let w = World::build(r#","token_endpoint_auth_method":"client_secret_post""#, K1);
    w.edit_discovery(|d| d["token_endpoint_auth_methods_supported"] = json!(["client_secret_basic"]));
    assert_client_secret_post(&token_request_of_a_sign_in(&w));
    w.assert_logs_clean();

    let w = World::build(r#","token_endpoint_auth_method":"client_secret_basic""#, K1);
    w.edit_discovery(|d| d["token_endpoint_auth_methods_supported"] = json!(["client_secret_post"]));
    assert_client_secret_basic(&token_request_of_a_sign_in(&w));
    w.assert_logs_clean();
}

#[test]
fn provider_without_a_usable_client_authentication_is_a_config_error() {
    let w = World::new();
    w.edit_discovery(|d| d["token_endpoint_auth_methods_supported"] = json!(["private_key_jwt"]));
    let login = w.login("alice@acme.example");
    let r = w.finish_with_key(&login, Key::Es);
    assert_callback_refused(&r, 500, "config_error");
    assert_eq!(w.token_requests(ISSUER).len(), 0);
    w.assert_logs_clean();
}

#[test]
fn pkce_verifier_hashes_to_the_challenge() {
    let w = World::new();
    let login = w.login("alice@acme.example");
    assert_signed_in(&w.finish_with_key(&login, Key::Es), "/docs");
    let verifier = form_of(&w.token_requests(ISSUER)[0])["code_verifier"].clone();
    assert_eq!(verifier.len(), 43, "RFC 7636: 43 to 128 characters");
    assert!(verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)), "{verifier}");
    assert_eq!(b64url(Sha256::digest(verifier.as_bytes())), login.params["code_challenge"]);
    assert_eq!(login.params["code_challenge_method"], "S256");
    assert!(!login.location.as_str().contains(&verifier), "the verifier never goes through the browser");
    w.assert_logs_clean();
}

// ---- the login transaction -------------------------------------------------------------------------

#[test]
fn state_mismatch_is_refused() {
    let w = World::new();
    let first = w.login("alice@acme.example");
    let second = w.login("alice@acme.example");
    w.serve_token(&second, &w.acme.sign(Key::Es, &w.claims(&second)));
    // The state of another login, no state, an empty state.
    for pairs in
        [vec![("code", CODE), ("state", first.state())], vec![("code", CODE)], vec![("code", CODE), ("state", "")]]
    {
        let r = w.callback(&second, &pairs, &second.cookie());
        assert_callback_refused(&r, 400, "state_mismatch");
    }
    assert_eq!(w.token_requests(ISSUER).len(), 0, "the code is never redeemed");
    w.assert_logs_clean();
}

#[test]
fn missing_transaction_cookie_is_login_expired() {
    let w = World::new();
    let login = w.login("alice@acme.example");
    w.serve_token(&login, &w.acme.sign(Key::Es, &w.claims(&login)));
    for cookie in ["", "other=1", "__Host-edge-auth-tx=", "__Host-edge-auth-tx=v1.garbage.garbage", "edge-auth-tx=x"] {
        let r = w.callback(&login, &[("code", CODE), ("state", login.state())], cookie);
        assert_callback_refused(&r, 400, "login_expired");
    }
    assert_eq!(w.token_requests(ISSUER).len(), 0);
    w.assert_logs_clean();
}

#[test]
fn expired_transaction_cookie_is_login_expired() {
    let w = World::new();
    // Still valid one second before the 600 s are up...
    let login = w.login("alice@acme.example");
    w.p.advance(599);
    assert_signed_in(&w.finish_with_key(&login, Key::Es), "/docs");
    // ...refused at 600 s and after.
    for wait in [600, 601, 3600] {
        let login = w.login("alice@acme.example");
        w.p.advance(wait);
        let r = w.finish_with_key(&login, Key::Es);
        assert_callback_refused(&r, 400, "login_expired");
    }
    assert_eq!(w.token_requests(ISSUER).len(), 1);
    w.assert_logs_clean();
}

#[test]
fn transaction_cookie_with_another_purpose_key_or_name_is_login_expired() {
    let w = World::new();
    let login = w.login("alice@acme.example");
    w.serve_token(&login, &w.acme.sign(Key::Es, &w.claims(&login)));
    let payload = b64url_decode(login.tx_value.split('.').nth(1).unwrap());
    let other_key = KeyRing::from_secret(K2).unwrap();
    let callback =
        |value: &str| w.callback(&login, &[("code", CODE), ("state", login.state())], &format!("{TX_COOKIE}={value}"));

    // Sealed as a session, with another key, or for another cookie name: all refused.
    for forged in [
        w.keys.seal(Purpose::Session, TX_COOKIE, &payload),
        other_key.seal(Purpose::LoginTransaction, TX_COOKIE, &payload),
        w.keys.seal(Purpose::LoginTransaction, "edge-auth-tx", &payload),
        w.keys.seal(Purpose::LoginTransaction, SESSION_COOKIE, &payload),
    ] {
        assert_callback_refused(&callback(&forged), 400, "login_expired");
    }
    // A real session cookie offered as the transaction.
    let session = w.sign_in();
    let session_value = cookie_value(session_line(&session));
    assert_callback_refused(&callback(&session_value), 400, "login_expired");
    // Control: the same payload sealed properly is accepted, so the refusals above were about the seal.
    w.serve_token(&login, &w.acme.sign(Key::Es, &w.claims(&login)));
    let genuine = w.keys.seal(Purpose::LoginTransaction, TX_COOKIE, &payload);
    assert_signed_in(&callback(&genuine), "/docs");
    w.assert_logs_clean();
}

#[test]
fn a_replayed_callback_is_refused_before_reaching_the_idp() {
    let w = World::new();
    let login = w.login("alice@acme.example");
    assert_signed_in(&w.finish_with_key(&login, Key::Es), "/docs");
    // The same callback URL with the same transaction cookie (back button, a leaked URL plus a stolen cookie).
    let again = w.callback(&login, &[("code", CODE), ("state", login.state())], &login.cookie());
    assert_callback_refused(&again, 400, "login_expired");
    assert_eq!(w.token_requests(ISSUER).len(), 1, "the code is redeemed once");
    // A refused callback spends the transaction too.
    let login = w.login("alice@acme.example");
    let r = w.callback(&login, &[("error", "access_denied"), ("state", login.state())], &login.cookie());
    assert_callback_refused(&r, 403, "idp_error");
    let r = w.finish_with_key(&login, Key::Es);
    assert_callback_refused(&r, 400, "login_expired");
    assert_eq!(w.token_requests(ISSUER).len(), 1);
    w.assert_logs_clean();
}

#[test]
fn callback_without_code_is_invalid() {
    let w = World::new();
    let login = w.login("alice@acme.example");
    let r = w.callback(&login, &[("state", login.state())], &login.cookie());
    assert_callback_refused(&r, 400, "invalid_callback");
    let login = w.login("alice@acme.example");
    let r = w.callback(&login, &[("state", login.state()), ("code", "")], &login.cookie());
    assert_callback_refused(&r, 400, "invalid_callback");
    let long = "c".repeat(4097);
    let login = w.login("alice@acme.example");
    let r = w.callback(&login, &[("state", login.state()), ("code", &long)], &login.cookie());
    assert_callback_refused(&r, 400, "invalid_callback");
    assert_eq!(w.token_requests(ISSUER).len(), 0);
    w.assert_logs_clean();
}

// ---- email rules -------------------------------------------------------------------------------------

#[test]
fn email_of_another_connectors_domain_is_refused() {
    let w = World::new();
    // acme's IdP vouches for a user of other.example (or of a domain nobody owns).
    for email in ["mallory@other.example", "mallory@evil.example", "alice@sub.acme.example"] {
        let login = w.login("alice@acme.example");
        let mut c = w.claims(&login);
        c["email"] = json!(email);
        let r = w.finish(&login, &w.acme.sign(Key::Es, &c));
        assert_callback_refused(&r, 403, "email_domain_mismatch");
    }
    // And the other IdP cannot mint a session for acme.example.
    let login = w.login("bob@other.example");
    let mut c = w.claims(&login);
    c["email"] = json!("alice@acme.example");
    let r = w.finish(&login, &w.other.sign(Key::Es, &c));
    assert_callback_refused(&r, 403, "email_domain_mismatch");
    // A second domain of the same connector is fine, and the domain is normalised.
    for (email, stored) in
        [("carol@acme.co.example", "carol@acme.co.example"), ("Dave@ACME.example", "Dave@acme.example")]
    {
        let login = w.login("alice@acme.example");
        let mut c = w.claims(&login);
        c["email"] = json!(email);
        let r = w.finish(&login, &w.acme.sign(Key::Es, &c));
        assert_signed_in(&r, "/docs");
        let s = authenticate(&session_cookie_header(&r), Transport::Https, &w.keys, w.now()).unwrap();
        assert_eq!(s.email, stored);
    }
    w.assert_logs_clean();
}

#[test]
fn email_unverified_is_refused() {
    let w = World::new();
    for v in [json!(false), json!("false")] {
        let login = w.login("alice@acme.example");
        let mut c = w.claims(&login);
        c["email_verified"] = v;
        let r = w.finish(&login, &w.acme.sign(Key::Es, &c));
        assert_callback_refused(&r, 403, "email_unverified");
    }
    // Absent email_verified is accepted (the rule applies where the IdP sends it).
    let login = w.login("alice@acme.example");
    let mut c = w.claims(&login);
    c.as_object_mut().unwrap().remove("email_verified");
    assert_signed_in(&w.finish(&login, &w.acme.sign(Key::Es, &c)), "/docs");
    w.assert_logs_clean();
}

#[test]
fn email_missing_is_refused() {
    let w = World::new();
    let userinfo = format!("{ISSUER}/userinfo");
    // No email in the ID token nor in UserInfo.
    let login = w.login("alice@acme.example");
    let mut c = w.claims(&login);
    c.as_object_mut().unwrap().remove("email");
    let sub = c["sub"].as_str().unwrap().to_string();
    w.p.route(&userinfo, vec![json_response(200, &json!({ "sub": sub }))]);
    let r = w.finish(&login, &w.acme.sign(Key::Es, &c));
    assert_callback_refused(&r, 403, "email_missing");
    w.assert_logs_clean();
}

#[test]
fn userinfo_supplies_a_missing_email_only_for_the_same_subject() {
    let w = World::new();
    let userinfo = format!("{ISSUER}/userinfo");
    let without_email = |login: &_| {
        let mut c = w.claims(login);
        c.as_object_mut().unwrap().remove("email");
        c
    };
    // The ID token has no email: UserInfo (with the access token as Bearer) provides it.
    let login = w.login("alice@acme.example");
    let c = without_email(&login);
    let sub = c["sub"].as_str().unwrap().to_string();
    w.p.route(
        &userinfo,
        vec![json_response(200, &json!({ "sub": sub, "email": "alice@acme.example", "email_verified": true }))],
    );
    assert_signed_in(&w.finish(&login, &w.acme.sign(Key::Es, &c)), "/docs");
    let sent = w.p.requests_to(&userinfo);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].headers.iter().any(|(k, v)| *k == "authorization" && v.starts_with("Bearer ")));
    // UserInfo about another subject is refused.
    let login = w.login("alice@acme.example");
    let c = without_email(&login);
    w.p.route(&userinfo, vec![json_response(200, &json!({ "sub": "someone-else", "email": "alice@acme.example" }))]);
    assert_callback_refused(&w.finish(&login, &w.acme.sign(Key::Es, &c)), 502, "userinfo_failed");
    // UserInfo saying the email is unverified.
    let login = w.login("alice@acme.example");
    let c = without_email(&login);
    let sub = c["sub"].as_str().unwrap().to_string();
    w.p.route(
        &userinfo,
        vec![json_response(200, &json!({ "sub": sub, "email": "alice@acme.example", "email_verified": false }))],
    );
    assert_callback_refused(&w.finish(&login, &w.acme.sign(Key::Es, &c)), 403, "email_unverified");
    // The ID token says the email is not verified; UserInfo supplies one without a flag: still refused.
    let login = w.login("alice@acme.example");
    let mut c = without_email(&login);
    c["email_verified"] = json!(false);
    let sub = c["sub"].as_str().unwrap().to_string();
    w.p.route(&userinfo, vec![json_response(200, &json!({ "sub": sub, "email": "alice@acme.example" }))]);
    assert_callback_refused(&w.finish(&login, &w.acme.sign(Key::Es, &c)), 403, "email_unverified");
    // UserInfo for another connector's domain.
    let login = w.login("alice@acme.example");
    let c = without_email(&login);
    let sub = c["sub"].as_str().unwrap().to_string();
    w.p.route(&userinfo, vec![json_response(200, &json!({ "sub": sub, "email": "mallory@other.example" }))]);
    assert_callback_refused(&w.finish(&login, &w.acme.sign(Key::Es, &c)), 403, "email_domain_mismatch");
    w.assert_logs_clean();
}

// ---- ID-token validation -----------------------------------------------------------------------------

#[test]
fn bad_id_token_claims_are_refused() {
    let w = World::new();
    let other_login = w.login("alice@acme.example");
    let other_nonce = other_login.nonce().to_string();
    type Edit = Box<dyn Fn(&mut Value, u64)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("nonce of another login", Box::new(move |c, _| c["nonce"] = json!(other_nonce.clone()))),
        (
            "no nonce",
            Box::new(|c, _| {
                c.as_object_mut().unwrap().remove("nonce");
            }),
        ),
        ("aud of another client", Box::new(|c, _| c["aud"] = json!(OTHER_CLIENT_ID))),
        ("several audiences without azp", Box::new(|c, _| c["aud"] = json!([CLIENT_ID, OTHER_CLIENT_ID]))),
        ("azp of another client", Box::new(|c, _| c["azp"] = json!(OTHER_CLIENT_ID))),
        ("iss of the other IdP", Box::new(|c, _| c["iss"] = json!(OTHER_ISSUER))),
        ("iss with a trailing slash", Box::new(|c, _| c["iss"] = json!(format!("{ISSUER}/")))),
        (
            "expired",
            Box::new(|c, now| {
                c["exp"] = json!(now - 61);
                c["iat"] = json!(now - 400);
            }),
        ),
        ("issued in the future", Box::new(|c, now| c["iat"] = json!(now + 3600))),
        ("issued long ago", Box::new(|c, now| c["iat"] = json!(now - 7200))),
        ("not yet valid", Box::new(|c, now| c["nbf"] = json!(now + 3600))),
        ("wrong at_hash", Box::new(|c, _| c["at_hash"] = json!(half_hash_sha256("another access token")))),
        ("wrong c_hash", Box::new(|c, _| c["c_hash"] = json!(half_hash_sha256("another code")))),
        ("empty sub", Box::new(|c, _| c["sub"] = json!(""))),
    ];
    for (name, edit) in &cases {
        let login = w.login("alice@acme.example");
        let mut c = w.claims(&login);
        edit(&mut c, w.now());
        let r = w.finish(&login, &w.acme.sign(Key::Es, &c));
        assert_eq!(r.header("x-edge-auth-error"), Some("id_token_invalid"), "{name}: {}", describe(&r));
        assert_callback_refused(&r, 400, "id_token_invalid");
    }
    // Control: the unedited claims pass.
    let login = w.login("alice@acme.example");
    assert_signed_in(&w.finish_with_key(&login, Key::Es), "/docs");
    w.assert_logs_clean();
}

fn flip_signature_byte(token: &str) -> String {
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut bytes = b64url_decode(sig);
    bytes[7] ^= 0x01;
    format!("{input}.{}", b64url(bytes))
}

#[test]
fn bad_id_token_signatures_are_refused() {
    let w = World::new();
    type MakeToken<'a> = Box<dyn Fn(&Login) -> String + 'a>;
    let cases: Vec<(&str, MakeToken)> = vec![
        (
            "flipped ES256 signature byte",
            Box::new(|l: &Login| flip_signature_byte(&w.acme.sign(Key::Es, &w.claims(l)))),
        ),
        (
            "flipped EdDSA signature byte",
            Box::new(|l: &Login| flip_signature_byte(&w.acme.sign(Key::Ed, &w.claims(l)))),
        ),
        (
            "flipped RS256 signature byte",
            Box::new(|l: &Login| flip_signature_byte(&w.acme.sign(Key::Rs256, &w.claims(l)))),
        ),
        (
            "payload changed after signing",
            Box::new(|l: &Login| {
                let token = w.acme.sign(Key::Es, &w.claims(l));
                let mut parts: Vec<String> = token.split('.').map(String::from).collect();
                let mut c = w.claims(l);
                c["sub"] = json!("u-admin");
                parts[1] = b64url(c.to_string());
                parts.join(".")
            }),
        ),
        (
            "truncated signature",
            Box::new(|l: &Login| {
                let token = w.acme.sign(Key::Es, &w.claims(l));
                let (input, sig) = token.rsplit_once('.').unwrap();
                format!("{input}.{}", b64url(&b64url_decode(sig)[..63]))
            }),
        ),
        (
            "signed by a key the IdP never published, claiming its kid",
            Box::new(|l: &Login| w.acme.sign(Key::Impostor, &w.claims(l))),
        ),
        (
            "an EdDSA key's kid on an ES256 token",
            Box::new(|l: &Login| {
                let header = json!({"alg": "ES256", "kid": w.acme.kid(Key::Ed)});
                w.acme.sign_with_header(Key::Es, &header, &w.claims(l))
            }),
        ),
        (
            "an attacker key embedded in the header",
            Box::new(|l: &Login| {
                let header = json!({"alg": "ES256", "kid": "attacker", "jwk": w.acme.jwk(Key::Impostor)});
                w.acme.sign_with_header(Key::Impostor, &header, &w.claims(l))
            }),
        ),
        ("signed by the other IdP", Box::new(|l: &Login| w.other.sign(Key::Es, &w.claims(l)))),
        (
            "crit header",
            Box::new(|l: &Login| {
                let header = json!({"alg": "ES256", "kid": w.acme.kid(Key::Es), "crit": ["exp"], "exp": 1});
                w.acme.sign_with_header(Key::Es, &header, &w.claims(l))
            }),
        ),
        ("not a JWS", Box::new(|_: &Login| "not-a-token".to_string())),
    ];
    for (name, make) in &cases {
        let login = w.login("alice@acme.example");
        let token = make(&login);
        let r = w.finish(&login, &token);
        assert_eq!(r.header("x-edge-auth-error"), Some("id_token_invalid"), "{name}: {}", describe(&r));
        assert_callback_refused(&r, 400, "id_token_invalid");
    }
    w.assert_logs_clean();
}

#[test]
fn none_and_hmac_algorithms_are_refused_before_any_key_is_used() {
    let w = World::new();
    let hmac_secrets: Vec<Vec<u8>> = vec![
        CLIENT_SECRET.as_bytes().to_vec(),
        w.acme.jwk(Key::Es).to_string().into_bytes(),
        w.acme.es.public_key().as_ref().to_vec(),
    ];
    type MakeToken = Box<dyn Fn(&Value) -> String>;
    let mut tokens: Vec<MakeToken> = vec![
        Box::new(|c: &Value| forge(&json!({"alg": "none"}), c, |_| Vec::new())),
        Box::new(|c: &Value| forge(&json!({"alg": "none", "kid": "acme-es-1"}), c, |_| vec![0u8; 64])),
        Box::new(|c: &Value| forge(&json!({"alg": "None"}), c, |_| vec![1u8; 64])),
    ];
    for secret in hmac_secrets {
        for alg in ["HS256", "HS512"] {
            let secret = secret.clone();
            tokens.push(Box::new(move |c: &Value| {
                let hmac_alg = if alg == "HS256" { ring::hmac::HMAC_SHA256 } else { ring::hmac::HMAC_SHA512 };
                let key = ring::hmac::Key::new(hmac_alg, &secret);
                forge(&json!({"alg": alg, "kid": "acme-es-1", "typ": "JWT"}), c, |input| {
                    ring::hmac::sign(&key, input).as_ref().to_vec()
                })
            }));
        }
    }
    for make in &tokens {
        let login = w.login("alice@acme.example");
        let r = w.finish(&login, &make(&w.claims(&login)));
        assert_callback_refused(&r, 400, "id_token_invalid");
    }
    assert_eq!(w.p.verify_calls.get(), 0, "no signature check was even attempted");
    assert_eq!(w.p.count(&jwks_url(ISSUER)), 0, "no key was even fetched");
    w.assert_logs_clean();
}

// ---- IdP answers -------------------------------------------------------------------------------------

#[test]
fn idp_error_responses() {
    let w = World::new();
    for (error, status) in [
        ("access_denied", 403),
        ("temporarily_unavailable", 503),
        ("server_error", 502),
        ("unauthorized_client", 502),
        ("login_required", 401),
        ("<script>alert(1)</script>", 502),
    ] {
        let login = w.login("alice@acme.example");
        let r = w.callback(
            &login,
            &[("error", error), ("error_description", "the user said no"), ("state", login.state())],
            &login.cookie(),
        );
        assert_callback_refused(&r, status, "idp_error");
        assert!(!r.body.contains("<script>"), "the IdP's error is not echoed raw");
    }
    assert_eq!(w.token_requests(ISSUER).len(), 0);
    w.assert_logs_clean();
}

#[test]
fn rfc9207_iss_parameter_when_advertised() {
    let w = World::new();
    w.edit_discovery(|d| d["authorization_response_iss_parameter_supported"] = json!(true));
    let state_and_code =
        |l: &Login| vec![("code".to_string(), CODE.to_string()), ("state".to_string(), l.state().to_string())];
    for iss in [None, Some("https://evil.example"), Some(OTHER_ISSUER), Some("https://idp.acme.example/"), Some("")] {
        let login = w.login("alice@acme.example");
        w.serve_token(&login, &w.acme.sign(Key::Es, &w.claims(&login)));
        let mut pairs = state_and_code(&login);
        if let Some(i) = iss {
            pairs.push(("iss".into(), i.into()));
        }
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = w.callback(&login, &pairs, &login.cookie());
        assert_callback_refused(&r, 400, "issuer_mismatch");
    }
    // An error response without iss is refused the same way (mix-up defence applies to errors too).
    let login = w.login("alice@acme.example");
    let r = w.callback(&login, &[("error", "access_denied"), ("state", login.state())], &login.cookie());
    assert_callback_refused(&r, 400, "issuer_mismatch");
    assert_eq!(w.token_requests(ISSUER).len(), 0, "no code was redeemed");
    // With the right iss, the login completes.
    let login = w.login("alice@acme.example");
    w.serve_token(&login, &w.acme.sign(Key::Es, &w.claims(&login)));
    let r = w.callback(&login, &[("code", CODE), ("state", login.state()), ("iss", ISSUER)], &login.cookie());
    assert_signed_in(&r, "/docs");
    w.assert_logs_clean();
}

#[test]
fn rfc9207_iss_parameter_when_not_advertised() {
    let w = World::new();
    // Present but wrong: refused even though the IdP did not promise it.
    let login = w.login("alice@acme.example");
    w.serve_token(&login, &w.acme.sign(Key::Es, &w.claims(&login)));
    let r = w.callback(&login, &[("code", CODE), ("state", login.state()), ("iss", OTHER_ISSUER)], &login.cookie());
    assert_callback_refused(&r, 400, "issuer_mismatch");
    // Present and right: fine.
    let login = w.login("alice@acme.example");
    w.serve_token(&login, &w.acme.sign(Key::Es, &w.claims(&login)));
    let r = w.callback(&login, &[("code", CODE), ("state", login.state()), ("iss", ISSUER)], &login.cookie());
    assert_signed_in(&r, "/docs");
    w.assert_logs_clean();
}

#[test]
fn token_endpoint_refusals() {
    let w = World::new();
    let cases: Vec<(Canned, u16, &str)> = vec![
        (
            json_response(400, &json!({"error": "invalid_grant", "error_description": "code expired"})),
            502,
            "token_exchange_failed",
        ),
        (json_response(401, &json!({"error": "invalid_client"})), 502, "token_exchange_failed"),
        (Ok(HttpResponse::new(500, b"<html>oops</html>".to_vec())), 502, "token_exchange_failed"),
        (
            json_response(200, &json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer"})),
            502,
            "token_exchange_failed",
        ),
        (json_response(200, &json!({"id_token": "a.b.c", "token_type": "mac"})), 502, "token_exchange_failed"),
        (network_error(), 502, "idp_unreachable"),
    ];
    for (answer, status, code) in cases {
        let login = w.login("alice@acme.example");
        w.p.route(&token_url(ISSUER), vec![answer]);
        let r = w.callback(&login, &[("code", CODE), ("state", login.state())], &login.cookie());
        assert_callback_refused(&r, status, code);
    }
    w.assert_logs_clean();
}

// ---- provider metadata and keys ----------------------------------------------------------------------

#[test]
fn unknown_kid_refetches_jwks_exactly_once() {
    let w = World::new();
    w.sign_in();
    assert_eq!(w.p.count(&jwks_url(ISSUER)), 1);
    // The IdP rotates to es-2 and publishes it; our cached set does not have it yet.
    w.p.route(&jwks_url(ISSUER), vec![json_response(200, &w.acme.jwks(&[Key::Es, Key::EsNext]))]);
    let login = w.login("alice@acme.example");
    let r = w.finish_with_key(&login, Key::EsNext);
    assert_signed_in(&r, "/docs");
    assert_eq!(w.p.count(&jwks_url(ISSUER)), 2, "exactly one refetch");
    // The first fetch may be served by a cache; the refetch must reach the IdP (the platform's Cache API
    // layer obeys `Cache-Control: no-cache`).
    let fetches = w.p.requests_to(&jwks_url(ISSUER));
    let no_cache = |r: &HttpRequest| r.headers.iter().any(|(k, v)| *k == "cache-control" && v == "no-cache");
    assert!(!no_cache(&fetches[0]));
    assert!(no_cache(&fetches[1]));
    // The refreshed set is cached: the next es-2 token needs no fetch.
    let login = w.login("alice@acme.example");
    assert_signed_in(&w.finish_with_key(&login, Key::EsNext), "/docs");
    assert_eq!(w.p.count(&jwks_url(ISSUER)), 2);
    w.assert_logs_clean();
}

#[test]
fn unknown_kid_on_a_cold_cache_refetches_once_past_the_caches() {
    // The ordinary fetch of a cold isolate may be answered by the location's cache (an older set): an unknown
    // kid then costs one refetch past every cache (the worker: `cache-control: no-cache`), rate-limited.
    let w = World::new();
    w.p.route(
        &jwks_url(ISSUER),
        vec![json_response(200, &w.acme.jwks(&[Key::Es])), json_response(200, &w.acme.jwks(&[Key::Es, Key::EsNext]))],
    );
    let login = w.login("alice@acme.example");
    assert_signed_in(&w.finish_with_key(&login, Key::EsNext), "/docs");
    let fetches = w.p.requests_to(&jwks_url(ISSUER));
    assert_eq!(fetches.len(), 2);
    assert_eq!(fetches[1].cache, CachePolicy::DocumentRefetch);
    // A kid the IdP never published: refused, and within the cooldown no further fetch.
    let w = World::new();
    for _ in 0..3 {
        let login = w.login("alice@acme.example");
        assert_callback_refused(&w.finish_with_key(&login, Key::EsNext), 400, "id_token_invalid");
    }
    assert_eq!(w.p.count(&jwks_url(ISSUER)), 2, "the ordinary fetch and one refetch");
    w.assert_logs_clean();
}

#[test]
fn unknown_kid_refetch_is_rate_limited() {
    let w = World::new();
    w.sign_in();
    // A token with a kid the IdP does not publish: one refetch, then refusal.
    let login = w.login("alice@acme.example");
    let r = w.finish_with_key(&login, Key::EsNext);
    assert_callback_refused(&r, 400, "id_token_invalid");
    assert_eq!(w.p.count(&jwks_url(ISSUER)), 2);
    // Within the 60 s cooldown, another unknown kid causes no fetch at all and is refused — even if the IdP
    // has meanwhile published the key.
    w.p.route(&jwks_url(ISSUER), vec![json_response(200, &w.acme.jwks(&[Key::Es, Key::EsNext]))]);
    w.p.advance(30);
    for _ in 0..3 {
        let login = w.login("alice@acme.example");
        let r = w.finish_with_key(&login, Key::EsNext);
        assert_callback_refused(&r, 400, "id_token_invalid");
    }
    assert_eq!(w.p.count(&jwks_url(ISSUER)), 2, "no fetch during the cooldown");
    // After the cooldown, one more refetch finds the key.
    w.p.advance(31);
    let login = w.login("alice@acme.example");
    assert_signed_in(&w.finish_with_key(&login, Key::EsNext), "/docs");
    assert_eq!(w.p.count(&jwks_url(ISSUER)), 3);
    w.assert_logs_clean();
}

#[test]
fn discovery_with_another_issuer_is_idp_unreachable() {
    for edit in [
        Box::new(|d: &mut Value| d["issuer"] = json!("https://evil.example")) as Box<dyn Fn(&mut Value)>,
        Box::new(|d: &mut Value| d["issuer"] = json!(format!("{ISSUER}/"))),
        Box::new(|d: &mut Value| d["token_endpoint"] = json!("http://idp.acme.example/token")),
        Box::new(|d: &mut Value| d["code_challenge_methods_supported"] = json!(["plain"])),
        Box::new(|d: &mut Value| *d = json!(["not", "metadata"])),
    ] {
        let w = World::new();
        w.edit_discovery(edit);
        let r = w.get(&url_with(&format!("{SITE}/auth/login"), &[("email", "alice@acme.example")]), "");
        assert_refused(&r, 502, "idp_unreachable");
        assert!(set_cookies(&r).is_empty(), "no transaction is started: {}", describe(&r));
        w.assert_logs_clean();
    }
    for answer in [network_error(), Ok(HttpResponse::new(500, Vec::new()))] {
        let w = World::new();
        w.p.route(&discovery_url(ISSUER), vec![answer]);
        let r = w.get(&url_with(&format!("{SITE}/auth/login"), &[("email", "alice@acme.example")]), "");
        assert_refused(&r, 502, "idp_unreachable");
        w.assert_logs_clean();
    }
}

#[test]
fn stale_discovery_and_jwks_are_used_when_the_idp_is_down() {
    for outage in [network_error(), Ok(HttpResponse::new(503, b"down".to_vec()))] {
        let w = World::new();
        w.sign_in();
        // The IdP's metadata endpoints fail; the cached copies are past their hour and past the 24 h stale
        // window, so the requests themselves try the IdP.
        w.p.route(&discovery_url(ISSUER), vec![outage.clone()]);
        w.p.route(&jwks_url(ISSUER), vec![outage]);
        w.auto_background.set(false);
        w.p.advance(3600 + 86_400);
        let login = w.login("alice@acme.example");
        assert_eq!(w.p.count(&discovery_url(ISSUER)), 2, "the request tried the IdP");
        assert_eq!(login.issuer(), ISSUER);
        assert_signed_in(&w.finish_with_key(&login, Key::Es), "/docs");
        assert_eq!(w.p.count(&jwks_url(ISSUER)), 2, "the request tried the IdP");
        assert!(!w.providers.refresh_pending(), "nothing left for the background");
        let logs = w.p.logs();
        let fetch_failed = w.p.events_named("idp_fetch_failed");
        let told = |document: &str| {
            fetch_failed.iter().any(|e| {
                e["document"] == document && e["stale"] == true && e["issuer"] == ISSUER && e["error_class"].is_string()
            })
        };
        assert!(told("discovery") && told("jwks"), "the operator is told: {logs:?}");
        assert!(fetch_failed.iter().any(|e| e["document"] == "discovery" && e["connector"] == "acme"), "{logs:?}");
        w.assert_logs_clean();
    }
}

// ---- freshness from Cache-Control, stale-while-revalidate --------------------------------------------

/// The path of the authorization endpoint a login redirected to.
fn authorize_path(login: &Login) -> String {
    login.location.path().to_string()
}

/// Discovery of acme, with another authorization endpoint (to tell an old document from a new one).
fn discovery_v2(w: &World) -> Value {
    let mut d = w.acme.discovery();
    d["authorization_endpoint"] = json!(format!("{ISSUER}/authorize-v2"));
    d
}

#[test]
fn in_memory_freshness_follows_the_platforms_fresh_for() {
    // (what the platform reports, how long the document is then fresh in memory)
    let cases = [
        (Some(600), 600, "Cache-Control: max-age=600 (as the platform bounded it)"),
        (Some(20), 20, "a Cache API copy with 20 s left: not raised to the floor"),
        (Some(3600), 3600, "no Cache-Control: the default hour"),
        (None, 300, "no-store: the 5 min floor"),
        (Some(10 * 86_400), 86_400, "capped at a day"),
    ];
    for (fresh_for, fresh_seconds, why) in cases {
        let w = World::new();
        w.p.route(&discovery_url(ISSUER), vec![fresh_json(&w.acme.discovery(), fresh_for)]);
        w.login("alice@acme.example");
        assert_eq!(w.p.count(&discovery_url(ISSUER)), 1, "{why}");
        w.p.advance(fresh_seconds - 1);
        w.login("alice@acme.example");
        assert_eq!(w.p.count(&discovery_url(ISSUER)), 1, "still fresh: {why}");
        w.p.advance(1);
        w.login("alice@acme.example");
        assert_eq!(w.p.count(&discovery_url(ISSUER)), 2, "refreshed once at expiry: {why}");
        w.login("alice@acme.example");
        assert_eq!(w.p.count(&discovery_url(ISSUER)), 2, "and fresh again: {why}");
        assert!(w.p.logs().is_empty(), "{:?}", w.p.logs());
    }
}

#[test]
fn max_age_600_is_honoured_for_discovery_and_jwks() {
    let w = World::new();
    w.p.route(&discovery_url(ISSUER), vec![fresh_json(&w.acme.discovery(), Some(600))]);
    w.p.route(&jwks_url(ISSUER), vec![fresh_json(&w.acme.default_jwks(), Some(600))]);
    w.sign_in();
    w.p.advance(599);
    w.sign_in();
    assert_eq!((w.p.count(&discovery_url(ISSUER)), w.p.count(&jwks_url(ISSUER))), (1, 1), "fresh for 600 s");
    w.p.advance(2);
    w.sign_in();
    assert_eq!((w.p.count(&discovery_url(ISSUER)), w.p.count(&jwks_url(ISSUER))), (2, 2), "refetched after 600 s");
    w.sign_in();
    assert_eq!((w.p.count(&discovery_url(ISSUER)), w.p.count(&jwks_url(ISSUER))), (2, 2));
    w.assert_logs_clean();
}

#[test]
fn past_freshness_the_stale_discovery_is_served_and_refreshed_once_in_the_background() {
    let w = World::new();
    w.p.route(&discovery_url(ISSUER), vec![fresh_json(&w.acme.discovery(), Some(600))]);
    w.auto_background.set(false);
    assert_eq!(authorize_path(&w.login("alice@acme.example")), "/authorize");
    // The IdP publishes a new document; ours is 601 s old.
    w.p.route(&discovery_url(ISSUER), vec![fresh_json(&discovery_v2(&w), Some(600))]);
    w.p.advance(601);
    for _ in 0..3 {
        let login = w.login("alice@acme.example");
        assert_eq!(authorize_path(&login), "/authorize", "answered at once from the stale document");
        assert_eq!(w.p.count(&discovery_url(ISSUER)), 1, "no request waited for the IdP");
    }
    assert!(w.providers.refresh_pending(), "a background refresh is due");
    w.run_background();
    assert_eq!(w.p.count(&discovery_url(ISSUER)), 2, "exactly one refetch for the three stale requests");
    assert!(!w.providers.refresh_pending());
    assert_eq!(authorize_path(&w.login("alice@acme.example")), "/authorize-v2", "the new document is used");
    w.run_background();
    assert_eq!(w.p.count(&discovery_url(ISSUER)), 2);
    assert!(w.p.logs().is_empty(), "{:?}", w.p.logs());
}

#[test]
fn past_freshness_the_old_keys_verify_while_one_background_refetch_gets_the_new_ones() {
    let w = World::new();
    w.p.route(&jwks_url(ISSUER), vec![fresh_json(&w.acme.jwks(&[Key::Es]), Some(600))]);
    w.sign_in();
    w.auto_background.set(false);
    // The IdP rotated to es-2 and retired es-1; our set is 601 s old.
    w.p.route(&jwks_url(ISSUER), vec![fresh_json(&w.acme.jwks(&[Key::EsNext]), Some(600))]);
    w.p.advance(601);
    for _ in 0..2 {
        let login = w.login("alice@acme.example");
        assert_signed_in(&w.finish_with_key(&login, Key::Es), "/docs");
        assert_eq!(w.p.count(&jwks_url(ISSUER)), 1, "the stale set verified without a request to the IdP");
    }
    w.run_background();
    assert_eq!(w.p.count(&jwks_url(ISSUER)), 2, "exactly one refetch");
    let refetch = &w.p.requests_to(&jwks_url(ISSUER))[1];
    assert!(!refetch.headers.iter().any(|(k, _)| *k == "cache-control"), "through the location's cache");
    // The refreshed set has the new key: no unknown-kid refetch is needed for it.
    let login = w.login("alice@acme.example");
    assert_signed_in(&w.finish_with_key(&login, Key::EsNext), "/docs");
    w.run_background();
    assert_eq!(w.p.count(&jwks_url(ISSUER)), 2);
    assert_eq!(w.p.count(&discovery_url(ISSUER)), 1, "discovery (1 h) is still fresh");
    w.assert_logs_clean();
}

#[test]
fn a_failed_background_refresh_keeps_the_stale_copy_and_backs_off() {
    let w = World::new();
    w.p.route(&discovery_url(ISSUER), vec![fresh_json(&w.acme.discovery(), Some(600))]);
    w.p.route(&jwks_url(ISSUER), vec![fresh_json(&w.acme.default_jwks(), Some(600))]);
    w.sign_in();
    // The IdP goes down; everything we have is 601 s old.
    w.p.route(&discovery_url(ISSUER), vec![network_error()]);
    w.p.route(&jwks_url(ISSUER), vec![Ok(HttpResponse::new(503, b"down".to_vec()))]);
    w.p.advance(601);
    w.sign_in();
    let counts = || (w.p.count(&discovery_url(ISSUER)), w.p.count(&jwks_url(ISSUER)));
    assert_eq!(counts(), (2, 2), "one background attempt each");
    let logs = w.p.logs();
    let told = |document: &str, status: Option<u64>| {
        w.p.events_named("idp_fetch_failed").iter().any(|e| {
            e["document"] == document
                && e["stale"] == true
                && e["status"].as_u64() == status
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("background refresh failed, using the cached copy"))
        })
    };
    assert!(told("discovery", None) && told("jwks", Some(503)), "{logs:?}");
    // Sign-ins keep working from the stale copies, without asking the IdP on every request.
    for _ in 0..5 {
        w.p.advance(5);
        w.sign_in();
    }
    assert_eq!(counts(), (2, 2), "no retry within 30 s");
    w.p.advance(5);
    w.sign_in();
    assert_eq!(counts(), (3, 3), "one retry after 30 s");
    // The IdP is back, with a new document: the next retry brings it.
    w.p.route(&discovery_url(ISSUER), vec![fresh_json(&discovery_v2(&w), Some(600))]);
    w.p.route(&jwks_url(ISSUER), vec![fresh_json(&w.acme.default_jwks(), Some(600))]);
    w.p.advance(30);
    assert_eq!(authorize_path(&w.login("alice@acme.example")), "/authorize", "still the stale one, refreshed after");
    assert_eq!(authorize_path(&w.login("alice@acme.example")), "/authorize-v2");
    w.sign_in();
    assert_eq!(counts(), (4, 4));
    w.assert_logs_clean();
}

#[test]
fn past_the_stale_window_the_refetch_is_in_the_foreground() {
    let w = World::new();
    w.p.route(&discovery_url(ISSUER), vec![fresh_json(&w.acme.discovery(), Some(600))]);
    w.auto_background.set(false);
    w.login("alice@acme.example");
    w.p.route(&discovery_url(ISSUER), vec![fresh_json(&discovery_v2(&w), Some(600))]);
    // 24 h past freshness: the stale window is over.
    w.p.advance(600 + 86_400);
    let login = w.login("alice@acme.example");
    assert_eq!(authorize_path(&login), "/authorize-v2", "the request waited for the new document");
    assert_eq!(w.p.count(&discovery_url(ISSUER)), 2);
    assert!(!w.providers.refresh_pending());
    assert!(w.p.logs().is_empty(), "{:?}", w.p.logs());
}

// ---- login routing -----------------------------------------------------------------------------------

#[test]
fn unknown_domain_and_invalid_email() {
    let w = World::new();
    let login_url = |email: &str| url_with(&format!("{SITE}/auth/login"), &[("email", email), ("return_to", "/docs")]);
    let r = w.get(&login_url("mallory@unknown.example"), "");
    assert_refused(&r, 403, "unknown_domain");
    assert!(set_cookies(&r).is_empty());
    // Subdomains are not owned implicitly.
    assert_refused(&w.get(&login_url("eve@mail.acme.example"), ""), 403, "unknown_domain");
    for bad in ["alice", "@acme.example", "alice@", "al ice@acme.example"] {
        let r = w.get(&login_url(bad), "");
        assert_refused(&r, 400, "invalid_email");
        assert!(set_cookies(&r).is_empty());
    }
    assert!(w.p.requests.borrow().is_empty(), "no IdP was contacted");
    w.assert_logs_clean();
}

#[test]
fn login_by_connector_id() {
    let w = World::new();
    let login = w.login_at(SITE, &[("connector", "acme"), ("return_to", "/reports")]);
    assert_eq!(login.issuer(), ISSUER);
    assert_eq!(login.params["client_id"], CLIENT_ID);
    assert!(!login.params.contains_key("login_hint"));
    assert_signed_in(&w.finish_with_key(&login, Key::Es), "/reports");

    let login = w.login_at(SITE, &[("connector", "other")]);
    assert_eq!(login.issuer(), OTHER_ISSUER);
    assert_signed_in(&w.finish_with_key(&login, Key::Es), "/");

    for id in ["nope", "ACME", "acme "] {
        let r = w.get(&url_with(&format!("{SITE}/auth/login"), &[("connector", id)]), "");
        assert_refused(&r, 404, "unknown_connector");
        assert!(set_cookies(&r).is_empty());
    }
    w.assert_logs_clean();
}

#[test]
fn unsafe_return_to_lands_on_root() {
    let w = World::new();
    for bad in [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example",
        "/%2F%2Fevil.example",
        "/%2fevil.example",
        "/%5Cevil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/\t/evil.example",
        "",
    ] {
        let login = w.login_at(SITE, &[("email", "alice@acme.example"), ("return_to", bad)]);
        let r = w.finish_with_key(&login, Key::Es);
        assert_signed_in(&r, "/");
    }
    for good in ["/docs/a?b=c&d=e", "/", "/%E2%9C%93"] {
        let login = w.login_at(SITE, &[("email", "alice@acme.example"), ("return_to", good)]);
        assert_signed_in(&w.finish_with_key(&login, Key::Es), good);
    }
    w.assert_logs_clean();
}

// ---- logout ------------------------------------------------------------------------------------------

fn logout_request(cookie: &str, origin: Option<&str>, sec_fetch_site: Option<&str>) -> Request {
    let mut req = request(Method::Post, &format!("{SITE}/auth/logout"), cookie);
    req.origin_header = origin.map(String::from);
    req.sec_fetch_site = sec_fetch_site.map(String::from);
    req
}

fn assert_session_deleted(r: &Response) {
    let line = set_cookie_line(r, SESSION_COOKIE).unwrap_or_else(|| panic!("session not deleted: {}", describe(r)));
    assert_eq!(cookie_value(line), "");
    assert_cookie_attributes(line, 0, true);
}

#[test]
fn logout_redirects_to_the_end_session_endpoint() {
    let w = World::new();
    let cookie = session_cookie_header(&w.sign_in());
    for (origin, site) in [(Some(SITE), None), (None, Some("same-origin"))] {
        let r = w.handle(&logout_request(&cookie, origin, site));
        assert_eq!(r.status, 302, "{}", describe(&r));
        let location = Url::parse(r.header("location").unwrap()).unwrap();
        assert_eq!(
            format!("{}{}", location.origin().ascii_serialization(), location.path()),
            format!("{ISSUER}/logout")
        );
        let q = query_map(&location);
        assert_eq!(q.get("client_id").map(String::as_str), Some(CLIENT_ID));
        assert_eq!(q.get("post_logout_redirect_uri").map(String::as_str), Some("https://site.example/auth/signed-out"));
        assert_eq!(q.get("post_logout_redirect_uri"), Some(&site_uris::post_logout_redirect_uri(SITE)));
        assert_session_deleted(&r);
    }
    // Without a session, logout lands on our signed-out page.
    let r = w.handle(&logout_request("", Some(SITE), None));
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/auth/signed-out"));
    assert_session_deleted(&r);
    // Without an end_session_endpoint too.
    let w = World::new();
    w.edit_discovery(|d| {
        d.as_object_mut().unwrap().remove("end_session_endpoint");
    });
    let cookie = session_cookie_header(&w.sign_in());
    let r = w.handle(&logout_request(&cookie, Some(SITE), None));
    assert_eq!(r.header("location"), Some("/auth/signed-out"));
    assert_session_deleted(&r);
    w.assert_logs_clean();
}

#[test]
fn logout_without_same_origin_is_csrf() {
    let w = World::new();
    let cookie = session_cookie_header(&w.sign_in());
    for (origin, site) in [
        (Some("https://evil.example"), None),
        (Some("https://evil.example"), Some("same-origin")),
        (Some("null"), None),
        (Some("http://site.example"), None),
        (Some("https://site.example.evil.example"), None),
        (None, None),
        (None, Some("cross-site")),
        (None, Some("same-site")),
        (None, Some("none")),
    ] {
        let r = w.handle(&logout_request(&cookie, origin, site));
        assert_refused(&r, 403, "csrf");
        assert!(set_cookies(&r).is_empty(), "the session is left alone: {}", describe(&r));
    }
    // GET is a confirmation page that changes nothing.
    let r = w.get(&format!("{SITE}/auth/logout"), &cookie);
    assert_eq!(r.status, 200);
    assert!(set_cookies(&r).is_empty());
    assert!(r.body.contains(r#"method="post""#));
    assert!(authenticate(&cookie, Transport::Https, &w.keys, w.now()).is_some());
    w.assert_logs_clean();
}

// ---- transports --------------------------------------------------------------------------------------

#[test]
fn plain_http_is_upgraded_to_https() {
    let w = World::new();
    for (from, to) in [
        (
            "http://site.example/auth/login?email=alice%40acme.example&return_to=%2Fdocs",
            "https://site.example/auth/login?email=alice%40acme.example&return_to=%2Fdocs",
        ),
        ("http://site.example:8080/auth/callback?code=x&state=y", "https://site.example/auth/callback?code=x&state=y"),
        ("http://10.0.0.1/auth/me", "https://10.0.0.1/auth/me"),
    ] {
        let r = w.get(from, "");
        assert_eq!(r.status, 302, "{from}");
        assert_eq!(r.header("location"), Some(to));
        assert!(set_cookies(&r).is_empty());
    }
    let r = w.handle(
        &logout_request("", Some("http://site.example"), None).clone_with_url("http://site.example/auth/logout"),
    );
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("https://site.example/auth/logout"));
    assert!(w.p.requests.borrow().is_empty(), "nothing was fetched");
    w.assert_logs_clean();
}

trait WithUrl {
    fn clone_with_url(&self, url: &str) -> Request;
}

impl WithUrl for Request {
    fn clone_with_url(&self, url: &str) -> Request {
        let mut r = self.clone();
        r.url = Url::parse(url).unwrap();
        r
    }
}

#[test]
fn loopback_http_uses_unprefixed_cookies_without_secure() {
    for site in ["http://127.0.0.1:8787", "http://localhost:8787"] {
        let w = World::new();
        let login = w.login_at(site, &[("email", "alice@acme.example"), ("return_to", "/docs")]);
        assert_eq!(login.tx_name, "edge-auth-tx");
        assert_cookie_attributes(&login.tx_line, 600, false);
        assert_eq!(login.params["redirect_uri"], format!("{site}/auth/callback"));
        // A prefixed cookie is not the loopback transaction.
        let r =
            w.callback(&login, &[("code", CODE), ("state", login.state())], &format!("{TX_COOKIE}={}", login.tx_value));
        assert_refused(&r, 400, "login_expired");

        let r = w.finish_with_key(&login, Key::Es);
        assert_eq!(r.status, 302, "{}", describe(&r));
        assert_eq!(r.header("location"), Some("/docs"));
        let tx = set_cookie_line(&r, "edge-auth-tx").unwrap();
        assert_cookie_attributes(tx, 0, false);
        let session = set_cookie_line(&r, "edge-auth-session").unwrap();
        assert_cookie_attributes(session, SESSION_LIFETIME, false);
        assert!(set_cookie_line(&r, SESSION_COOKIE).is_none());
        assert_eq!(form_of(&w.token_requests(ISSUER)[0])["redirect_uri"], format!("{site}/auth/callback"));

        let header = format!("edge-auth-session={}", cookie_value(session));
        let s = authenticate(&header, Transport::LoopbackHttp, &w.keys, w.now()).unwrap();
        assert_eq!(s.email, "alice@acme.example");
        assert!(authenticate(&header, Transport::Https, &w.keys, w.now()).is_none());
        // The same value under the https name is not a session either (the name is bound into the MAC).
        let renamed = format!("{SESSION_COOKIE}={}", cookie_value(session));
        assert!(authenticate(&renamed, Transport::Https, &w.keys, w.now()).is_none());

        let me = w.get(&format!("{site}/auth/me"), &header);
        assert_eq!(me.status, 200);
        let mut req = request(Method::Post, &format!("{site}/auth/logout"), &header);
        req.origin_header = Some(site.to_string());
        let out = w.handle(&req);
        assert_eq!(out.status, 302);
        assert_cookie_attributes(set_cookie_line(&out, "edge-auth-session").unwrap(), 0, false);
        w.assert_logs_clean();
    }
}

// ---- sessions ----------------------------------------------------------------------------------------

#[test]
fn me_with_and_without_session() {
    let w = World::new();
    let cookie = session_cookie_header(&w.sign_in());
    let r = w.get(&format!("{SITE}/auth/me"), &format!("theme=dark; {cookie}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let me: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        me,
        json!({"sub": "acme:u-alice", "email": "alice@acme.example", "name": "Alice Example", "connector": "acme",
               "iss": ISSUER, "exp": w.now() + SESSION_LIFETIME, "groups": []})
    );

    for cookie in ["", "theme=dark", "__Host-edge-auth-session=", "edge-auth-session=x"] {
        let r = w.get(&format!("{SITE}/auth/me"), cookie);
        assert_eq!(r.status, 401);
        assert_eq!(r.header("x-edge-auth-error"), Some("unauthenticated"));
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["error"], "unauthenticated");
    }
    // The session ends at exp.
    w.p.advance(SESSION_LIFETIME - 1);
    assert_eq!(w.get(&format!("{SITE}/auth/me"), &cookie).status, 200);
    w.p.advance(1);
    assert_eq!(w.get(&format!("{SITE}/auth/me"), &cookie).status, 401);
    assert!(authenticate(&cookie, Transport::Https, &w.keys, w.now()).is_none());
    w.assert_logs_clean();
}

#[test]
fn session_key_rotation() {
    let w = World::build("", K1);
    let cookie = session_cookie_header(&w.sign_in());
    let original = authenticate(&cookie, Transport::Https, &w.keys, w.now()).unwrap();
    let rotated = KeyRing::from_secret(&format!("{K2},{K1}")).unwrap();
    assert_eq!(authenticate(&cookie, Transport::Https, &rotated, w.now()), Some(original));
    let me = respond(w.handle_with(&rotated, &request(Method::Get, &format!("{SITE}/auth/me"), &cookie)));
    assert_eq!(me.status, 200);
    // Dropping K1 logs its sessions out.
    let k2_only = KeyRing::from_secret(K2).unwrap();
    assert!(authenticate(&cookie, Transport::Https, &k2_only, w.now()).is_none());
    let me = respond(w.handle_with(&k2_only, &request(Method::Get, &format!("{SITE}/auth/me"), &cookie)));
    assert_eq!(me.status, 401);
    assert!(authenticate(&cookie, Transport::Https, &KeyRing::from_secret(K3).unwrap(), w.now()).is_none());

    // New sessions are sealed with the first key of the ring.
    let w2 = World::build("", &format!("{K2},{K1}"));
    let cookie = session_cookie_header(&w2.sign_in());
    assert!(authenticate(&cookie, Transport::Https, &k2_only, w2.now()).is_some());
    assert!(authenticate(&cookie, Transport::Https, &KeyRing::from_secret(K1).unwrap(), w2.now()).is_none());
    w.assert_logs_clean();
    w2.assert_logs_clean();
}

#[test]
fn tampered_session_cookie_is_refused() {
    let w = World::new();
    let value = cookie_value(session_line(&w.sign_in()));
    let (payload_b64, tag) = value.strip_prefix("v1.").unwrap().split_once('.').unwrap();
    let mut forged_claims: Value = serde_json::from_slice(&b64url_decode(payload_b64)).unwrap();
    forged_claims["email"] = json!("ceo@acme.example");
    forged_claims["sub"] = json!("u-ceo");
    let flip = |s: &str, i: usize| {
        let mut b = s.as_bytes().to_vec();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    let candidates = vec![
        format!("v1.{}.{tag}", flip(payload_b64, 10)),
        format!("v1.{payload_b64}.{}", flip(tag, 5)),
        format!("v1.{}.{tag}", b64url(forged_claims.to_string())),
        format!("v1.{payload_b64}."),
        format!("v1.{payload_b64}"),
        format!("v2.{payload_b64}.{tag}"),
        value[..value.len() - 1].to_string(),
        w.keys.seal(Purpose::LoginTransaction, SESSION_COOKIE, &b64url_decode(payload_b64)),
        KeyRing::from_secret(K2).unwrap().seal(Purpose::Session, SESSION_COOKIE, forged_claims.to_string().as_bytes()),
    ];
    for forged in candidates {
        let header = format!("{SESSION_COOKIE}={forged}");
        assert!(authenticate(&header, Transport::Https, &w.keys, w.now()).is_none(), "{forged}");
        let r = w.get(&format!("{SITE}/auth/me"), &header);
        assert_eq!(r.status, 401, "{forged}");
    }
    // Control: the untouched cookie works.
    assert!(authenticate(&format!("{SESSION_COOKIE}={value}"), Transport::Https, &w.keys, w.now()).is_some());
    w.assert_logs_clean();
}

#[test]
fn logs_of_a_busy_day_hold_no_secrets() {
    // Many outcomes in one world, then one sweep over every log line.
    let w = World::new();
    w.sign_in();
    let login = w.login("alice@acme.example");
    let r = w.finish(&login, &flip_signature_byte(&w.acme.sign(Key::Es, &w.claims(&login))));
    assert_callback_refused(&r, 400, "id_token_invalid");
    let login = w.login("alice@acme.example");
    w.p.route(
        &token_url(ISSUER),
        vec![json_response(400, &json!({"error": "invalid_grant", "error_description": CODE}))],
    );
    let r = w.callback(&login, &[("code", CODE), ("state", login.state())], &login.cookie());
    assert_callback_refused(&r, 502, "token_exchange_failed");
    let login = w.login("alice@acme.example");
    let r = w.callback(&login, &[("code", CODE), ("state", "forged")], &login.cookie());
    assert_callback_refused(&r, 400, "state_mismatch");
    let login = w.login("alice@acme.example");
    let mut c = w.claims(&login);
    c["email"] = json!("x@other.example");
    assert_callback_refused(&w.finish(&login, &w.acme.sign(Key::Es, &c)), 403, "email_domain_mismatch");
    assert!(w.p.logs().len() >= 4, "{:?}", w.p.logs());
    w.assert_logs_clean();
}

// ---- concurrency within one isolate -------------------------------------------------------------------

#[test]
fn concurrent_logins_interleave_without_mixing_transactions() {
    let w = World::new();
    w.sign_in();
    w.p.yield_on_send.set(true);
    let a = w.login("alice@acme.example");
    let b = w.login("alice@acme.example");
    let mut ca = w.claims(&a);
    ca["sub"] = json!("u-a");
    let mut cb = w.claims(&b);
    cb["sub"] = json!("u-b");
    let (ta, tb) = (w.acme.sign(Key::Es, &ca), w.acme.sign(Key::Ed, &cb));
    w.issued.borrow_mut().extend([ta.clone(), tb.clone()]);
    let answer =
        |t: &str| json_response(200, &json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "id_token": t}));
    w.p.route(&token_url(ISSUER), vec![answer(&ta), answer(&tb)]);
    let flow = Flow { config: &w.config, keys: &w.keys, platform: &w.p, providers: &w.providers };
    let req = |l: &Login| {
        request(
            Method::Get,
            &url_with(&format!("{SITE}/auth/callback"), &[("code", CODE), ("state", l.state())]),
            &l.cookie(),
        )
    };
    let (ra, rb) = (req(&a), req(&b));
    let (oa, ob) = pollster::block_on(join2(flow.handle(&ra), flow.handle(&rb)));
    let (ra, rb) = (respond(oa), respond(ob));
    assert_signed_in(&ra, "/docs");
    assert_signed_in(&rb, "/docs");
    let sub = |r: &Response| authenticate(&session_cookie_header(r), Transport::Https, &w.keys, w.now()).unwrap().sub;
    assert_eq!((sub(&ra).as_str(), sub(&rb).as_str()), ("u-a", "u-b"));
    w.assert_logs_clean();
}

/// Review of issue 10 (§4/§8): after the IdP rotated its key, the location's cache still holds the old key set
/// (fresh for up to 24 h). A cold isolate's first sign-ins lead (or wait for) an ordinary fetch that the cache
/// answers with that old set; taking it for "just fetched from the IdP", they refused the new `kid` without the
/// one refetch past every cache — every cold isolate's first burst after a rotation failed.
#[test]
fn a_rotated_key_is_refetched_past_the_location_cache_on_a_cold_isolate() {
    let w = World::new();
    let old = w.acme.default_jwks();
    w.p.location_cache.borrow_mut().insert(
        jwks_url(ISSUER),
        HttpResponse { status: 200, body: old.to_string().into_bytes(), fresh_for: Some(3000) },
    );
    w.p.route(&jwks_url(ISSUER), vec![json_response(200, &w.acme.jwks(&[Key::Es, Key::EsNext]))]);
    // One sign-in alone.
    let login = w.login("alice@acme.example");
    assert_signed_in(&w.finish_with_key(&login, Key::EsNext), "/docs");
    assert_eq!(w.p.count(&jwks_url(ISSUER)), 1, "the one refetch past the cache");
    // A burst on another cold isolate: every sign-in succeeds, one refetch for all.
    const N: usize = 5;
    let logins: Vec<Login> = (0..N).map(|_| w.login("alice@acme.example")).collect();
    let answers: Vec<Canned> = logins
        .iter()
        .map(|l| {
            let t = w.acme.sign(Key::EsNext, &w.claims(l));
            w.issued.borrow_mut().push(t.clone());
            json_response(200, &json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "id_token": t}))
        })
        .collect();
    w.p.route(&token_url(ISSUER), answers);
    w.p.yield_on_send.set(true);
    let cold = IsolateCache::default();
    let flow = Flow { config: &w.config, keys: &w.keys, platform: &w.p, providers: &cold };
    let requests: Vec<Request> = logins
        .iter()
        .map(|l| {
            request(
                Method::Get,
                &url_with(&format!("{SITE}/auth/callback"), &[("code", CODE), ("state", l.state())]),
                &l.cookie(),
            )
        })
        .collect();
    let outcomes = pollster::block_on(join_all(requests.iter().map(|r| flow.handle(r))));
    for o in outcomes {
        assert_signed_in(&respond(o), "/docs");
    }
    assert_eq!(w.p.count(&jwks_url(ISSUER)), 2, "one refetch for the whole burst");
    w.assert_logs_clean();
}

/// Review of issue 10 (§4): the platform keeps any `200` answer to a document request in the location's cache
/// (for as long as its `Cache-Control` says, up to a day) — also one the IdP answered with a maintenance page
/// or a truncated document. Every cold isolate of the location then read that copy and failed, long after the
/// IdP was fine again. A document that does not parse is now asked for once more, past every cache.
#[test]
fn an_unusable_document_in_the_location_cache_is_refetched_past_it() {
    let w = World::new();
    let garbage = HttpResponse { status: 200, body: b"<html>maintenance</html>".to_vec(), fresh_for: Some(80_000) };
    w.p.location_cache.borrow_mut().insert(discovery_url(ISSUER), garbage.clone());
    w.p.location_cache.borrow_mut().insert(jwks_url(ISSUER), garbage);
    w.sign_in();
    let (discovery, jwks) = (w.p.requests_to(&discovery_url(ISSUER)), w.p.requests_to(&jwks_url(ISSUER)));
    assert_eq!((discovery.len(), jwks.len()), (1, 1), "one request each, past the cache");
    assert!([&discovery[0], &jwks[0]].iter().all(|r| r.cache == CachePolicy::DocumentRefetch));
    // The IdP really answers garbage: refused, with one extra request per document and fetch.
    let w = World::new();
    w.p.route(&discovery_url(ISSUER), vec![json_response(200, &json!(["not", "metadata"]))]);
    let r = w.get(&url_with(&format!("{SITE}/auth/login"), &[("email", "alice@acme.example")]), "");
    assert_refused(&r, 502, "idp_unreachable");
    assert_eq!(w.p.count(&discovery_url(ISSUER)), 2);
    w.assert_logs_clean();
}

/// SPEC §4: "An unknown `kid` causes at most one JWKS refetch (coalesced, rate-limited)". Two sign-ins in
/// the same isolate right after the IdP rotated its key: the first starts the refetch; the second, arriving
/// while that fetch is in flight, should wait for it (coalescing) and succeed. Instead it finds the cooldown
/// already armed, uses the old cached set and is refused with id_token_invalid.
#[test]
fn concurrent_unknown_kid_refetch_is_coalesced() {
    let w = World::new();
    w.sign_in();
    assert_eq!(w.p.count(&jwks_url(ISSUER)), 1);
    // The IdP rotates to es-2.
    w.p.route(&jwks_url(ISSUER), vec![json_response(200, &w.acme.jwks(&[Key::Es, Key::EsNext]))]);
    w.p.yield_on_send.set(true);
    let a = w.login("alice@acme.example");
    let b = w.login("alice@acme.example");
    let (ta, tb) = (w.acme.sign(Key::EsNext, &w.claims(&a)), w.acme.sign(Key::EsNext, &w.claims(&b)));
    w.issued.borrow_mut().extend([ta.clone(), tb.clone()]);
    let answer =
        |t: &str| json_response(200, &json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "id_token": t}));
    w.p.route(&token_url(ISSUER), vec![answer(&ta), answer(&tb)]);
    let flow = Flow { config: &w.config, keys: &w.keys, platform: &w.p, providers: &w.providers };
    let req = |l: &Login| {
        request(
            Method::Get,
            &url_with(&format!("{SITE}/auth/callback"), &[("code", CODE), ("state", l.state())]),
            &l.cookie(),
        )
    };
    let (ra, rb) = (req(&a), req(&b));
    let (oa, ob) = pollster::block_on(join2(flow.handle(&ra), flow.handle(&rb)));
    let (ra, rb) = (respond(oa), respond(ob));
    assert_eq!(w.p.count(&jwks_url(ISSUER)), 2, "one refetch, shared by both sign-ins");
    // Today: the first gets 302, the second 400 id_token_invalid.
    assert_eq!(
        (ra.header("x-edge-auth-error"), rb.header("x-edge-auth-error")),
        (None, None),
        "first: {}; second: {}",
        describe(&ra),
        describe(&rb)
    );
    assert_signed_in(&ra, "/docs");
    assert_signed_in(&rb, "/docs");
    w.assert_logs_clean();
}

/// Issue 10 §8: a burst of sign-ins on a cold isolate asks the IdP once for each document. N concurrent logins
/// on a fresh isolate fetch the discovery document once (not once per login); N concurrent callbacks on another
/// fresh isolate (the logins went elsewhere) fetch the discovery document once and the key set once; every
/// sign-in succeeds with its own identity.
#[test]
fn a_burst_on_a_cold_isolate_fetches_each_document_once() {
    const N: usize = 25;
    let w = World::new();
    w.p.yield_on_send.set(true);
    let flow = Flow { config: &w.config, keys: &w.keys, platform: &w.p, providers: &w.providers };
    let login_url = url_with(&format!("{SITE}/auth/login"), &[("email", "alice@acme.example"), ("return_to", "/docs")]);
    let requests: Vec<Request> = (0..N).map(|_| request(Method::Get, &login_url, "")).collect();
    let outcomes = pollster::block_on(join_all(requests.iter().map(|r| flow.handle(r))));
    let logins: Vec<Login> = outcomes.into_iter().map(|o| login_of(&respond(o), SITE)).collect();
    assert_eq!(w.p.count(&discovery_url(ISSUER)), 1, "one discovery request for {N} concurrent logins");
    assert_eq!(w.p.requests.borrow().len(), 1, "and nothing else");

    // The callbacks reach another, cold isolate.
    let cold = IsolateCache::default();
    let flow = Flow { config: &w.config, keys: &w.keys, platform: &w.p, providers: &cold };
    let answers = logins
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut c = w.claims(l);
            c["sub"] = json!(format!("u-{i}"));
            let token = w.acme.sign(Key::Es, &c);
            w.issued.borrow_mut().push(token.clone());
            json_response(200, &json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "id_token": token}))
        })
        .collect();
    w.p.route(&token_url(ISSUER), answers);
    let callbacks: Vec<Request> = logins
        .iter()
        .map(|l| {
            let url = url_with(&format!("{SITE}/auth/callback"), &[("code", CODE), ("state", l.state())]);
            request(Method::Get, &url, &l.cookie())
        })
        .collect();
    let outcomes = pollster::block_on(join_all(callbacks.iter().map(|r| flow.handle(r))));
    assert_eq!(w.p.count(&discovery_url(ISSUER)), 2, "one more discovery request, for {N} concurrent callbacks");
    assert_eq!(w.p.count(&jwks_url(ISSUER)), 1, "one key-set request for {N} concurrent callbacks");
    assert_eq!(w.token_requests(ISSUER).len(), N, "one token request per sign-in");
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let r = respond(outcome);
        assert_signed_in(&r, "/docs");
        let session = authenticate(&session_cookie_header(&r), Transport::Https, &w.keys, w.now()).unwrap();
        assert_eq!(session.sub, format!("u-{i}"), "each sign-in gets its own identity");
    }
    assert!(w.p.logs().is_empty(), "{:?}", w.p.logs());
    w.assert_logs_clean();
}

/// The request leading a discovery fetch is dropped half-way (the visitor went away): the request waiting for
/// that fetch gets an error at once instead of hanging, and the next login fetches again.
#[test]
fn a_dropped_discovery_fetch_does_not_hang_its_waiters() {
    let w = World::new();
    w.p.yield_on_send.set(true);
    let flow = Flow { config: &w.config, keys: &w.keys, platform: &w.p, providers: &w.providers };
    let login_url = url_with(&format!("{SITE}/auth/login"), &[("email", "alice@acme.example"), ("return_to", "/docs")]);
    let (first, second) = (request(Method::Get, &login_url, ""), request(Method::Get, &login_url, ""));
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut leader = Box::pin(flow.handle(&first));
    assert!(leader.as_mut().poll(&mut cx).is_pending(), "the discovery request is in flight");
    let mut waiter = Box::pin(flow.handle(&second));
    assert!(waiter.as_mut().poll(&mut cx).is_pending(), "the second login waits for the first one's fetch");
    assert_eq!(w.p.count(&discovery_url(ISSUER)), 1);
    drop(leader);
    let Poll::Ready(outcome) = waiter.as_mut().poll(&mut cx) else { panic!("the waiter hangs") };
    assert_refused(&respond(outcome), 502, "idp_unreachable");
    assert!(w.p.logs().iter().any(|l| l.contains("abandoned")), "{:?}", w.p.logs());
    // Nothing is left in flight: the next login fetches and succeeds.
    w.p.yield_on_send.set(false);
    let login = w.login("alice@acme.example");
    assert_eq!(login.location.path(), "/authorize");
    assert_eq!(w.p.count(&discovery_url(ISSUER)), 2);
    w.assert_logs_clean();
}

/// The request leading a discovery fetch never finishes and is never dropped (in workerd: its request was
/// cancelled): waiters give up after the in-flight limit instead of waiting forever, and the next login fetches
/// again instead of waiting for the dead fetch.
#[test]
fn a_fetch_that_never_finishes_is_given_up() {
    let w = World::new();
    w.p.yield_on_send.set(true);
    let flow = Flow { config: &w.config, keys: &w.keys, platform: &w.p, providers: &w.providers };
    let login_url = url_with(&format!("{SITE}/auth/login"), &[("email", "alice@acme.example"), ("return_to", "/docs")]);
    let (first, second) = (request(Method::Get, &login_url, ""), request(Method::Get, &login_url, ""));
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut leader = Box::pin(flow.handle(&first));
    assert!(leader.as_mut().poll(&mut cx).is_pending());
    std::mem::forget(leader); // never polled again, never dropped
    let mut waiter = Box::pin(flow.handle(&second));
    for _ in 0..3 {
        assert!(waiter.as_mut().poll(&mut cx).is_pending(), "within the limit, the waiter waits");
    }
    w.p.advance(edge_auth::core::flow::IN_FLIGHT_LIMIT_SECONDS);
    let Poll::Ready(outcome) = waiter.as_mut().poll(&mut cx) else { panic!("the waiter waits forever") };
    assert_refused(&respond(outcome), 502, "idp_unreachable");
    assert!(w.p.logs().iter().any(|l| l.contains("did not finish")), "{:?}", w.p.logs());
    w.p.yield_on_send.set(false);
    let login = w.login("alice@acme.example");
    assert_eq!(login.location.path(), "/authorize");
    assert_eq!(w.p.count(&discovery_url(ISSUER)), 2, "the next login fetched again");
    w.assert_logs_clean();
}

// ---- odd requests ------------------------------------------------------------------------------------

#[test]
fn odd_requests_get_clear_errors() {
    let w = World::new();
    let cases: Vec<(Method, &str, u16, &str)> = vec![
        (Method::Post, "/auth/login", 405, "method_not_allowed"),
        (Method::Other, "/auth/callback", 405, "method_not_allowed"),
        (Method::Post, "/auth/me", 405, "method_not_allowed"),
        (Method::Get, "/auth/nope", 404, "not_found"),
        (Method::Get, "/auth", 404, "not_found"),
        (Method::Post, "/auth/static/login", 405, "method_not_allowed"),
    ];
    for (method, path, status, code) in cases {
        let r = w.handle(&request(method, &format!("{SITE}{path}"), ""));
        assert_refused(&r, status, code);
    }
    let me = w.handle(&request(Method::Post, &format!("{SITE}/auth/me"), ""));
    assert_eq!(me.header("content-type"), Some("application/json"), "/auth/me errors are JSON");
    assert_eq!(
        w.handle_with(&w.keys, &request(Method::Get, &format!("{SITE}/auth/static/style.css"), "")),
        Outcome::ServeAuthStatic {
            headers: vec![
                ("content-security-policy", edge_auth::core::flow::LOGIN_PAGE_CSP.to_string()),
                ("x-content-type-options", "nosniff".to_string()),
                ("referrer-policy", "no-referrer".to_string()),
            ]
        }
    );
    let Outcome::Respond(page) = w.handle_with(&w.keys, &request(Method::Get, &format!("{SITE}/auth/signed-out"), ""))
    else {
        panic!("the signed-out page is rendered")
    };
    assert_eq!(page.status, 200);
    assert!(page.body.contains("You have signed out"));
    // Internationalised and odd addresses route or fail cleanly.
    let r = w.get(&url_with(&format!("{SITE}/auth/login"), &[("email", "jürgen@bücher.example")]), "");
    assert_refused(&r, 400, "invalid_email");
    let r = w.get(&url_with(&format!("{SITE}/auth/login"), &[("email", "jürgen@xn--bcher-kva.example")]), "");
    assert_refused(&r, 403, "unknown_domain");
    let r =
        w.get(&url_with(&format!("{SITE}/auth/login"), &[("email", &format!("{}@acme.example", "a".repeat(400)))]), "");
    assert_refused(&r, 400, "invalid_email");
    // Garbage cookies and parameters on the callback.
    let login = w.login("alice@acme.example");
    let junk = format!("{TX_COOKIE}=v1.{}.{}; ==;;; {TX_COOKIE}=\"\"; x", "A".repeat(5000), "B".repeat(43));
    let r = w.callback(&login, &[("code", "\u{0}\u{202e}"), ("state", "\u{1F600}")], &junk);
    assert_callback_refused(&r, 400, "login_expired");
    // A valid transaction cookie among junk ones is still found.
    let r = w.finish(&login, &w.acme.sign(Key::Es, &w.claims(&login)));
    assert_signed_in(&r, "/docs");
    w.assert_logs_clean();
}

// ---- claims bound to the IdP that asserted them ---------------------------------------------------------

/// Sign in through `email`'s connector with the IdP asserting `sub` and `groups`; the session cookie header.
fn sign_in_as(w: &World, email: &str, sub: &str, groups: &[&str]) -> String {
    let login = w.login(email);
    let mut claims = w.claims(&login);
    claims["sub"] = json!(sub);
    claims["groups"] = json!(groups);
    let token = w.idp(&login.issuer()).sign(Key::Es, &claims);
    let r = w.finish(&login, &token);
    assert_signed_in(&r, "/docs");
    session_cookie_header(&r)
}

fn gate_at(w: &World, path: &str, cookie: &str) -> Gate {
    gate(
        &w.config,
        &w.keys,
        &w.providers,
        &w.p,
        GateRequest { path, cookie_header: cookie, transport: Transport::Https, now: w.now() },
    )
}

#[test]
fn a_group_grant_admits_only_the_connector_it_names() {
    let w = World::with_policies(json!([{"path": "/admin/*", "groups": ["acme:admins"]}]));
    // Both IdPs assert "admins"; only acme's grant counts.
    let alice = sign_in_as(&w, "alice@acme.example", "u-alice", &["admins"]);
    let bob = sign_in_as(&w, "bob@other.example", "u-bob", &["admins"]);
    assert!(matches!(gate_at(&w, "/admin/users", &alice), Gate::Allowed { .. }));
    match gate_at(&w, "/admin/users", &bob) {
        Gate::Forbidden(s) => assert!(s.groups.is_empty(), "other's admins is not kept: {:?}", s.groups),
        other => panic!("the other IdP's admins must not get in: {other:?}"),
    }
    assert!(matches!(gate_at(&w, "/docs", &bob), Gate::Allowed { .. }), "no rule: any session");
    w.assert_logs_clean();
}

#[test]
fn a_plain_group_with_two_connectors_is_a_configuration_error() {
    let mut json: Value = serde_json::from_str(&config_json("")).unwrap();
    json["policies"] = json!([{"path": "/admin/*", "groups": ["admins"]}]);
    let e = Config::from_json(&json.to_string()).unwrap_err();
    assert_eq!(e.field, "policies[0].groups[0]");
    assert!(e.to_string().contains("acme:admins"), "{e}");
}

#[test]
fn the_same_sub_from_two_connectors_is_two_users() {
    let w = World::with_policies(json!([]));
    let alice = sign_in_as(&w, "alice@acme.example", "u-same", &[]);
    let bob = sign_in_as(&w, "bob@other.example", "u-same", &[]);
    let me = |cookie: &str| -> Value {
        let r = w.get(&format!("{SITE}/auth/me"), cookie);
        assert_eq!(r.status, 200, "{}", describe(&r));
        serde_json::from_str(&r.body).unwrap()
    };
    let (a, b) = (me(&alice), me(&bob));
    assert_eq!(a["sub"], "acme:u-same");
    assert_eq!(b["sub"], "other:u-same");
    assert_eq!((a["connector"].as_str(), b["connector"].as_str()), (Some("acme"), Some("other")));
    // The raw sub stays in the session, for logout tokens and revocations.
    let s = authenticate(&alice, Transport::Https, &w.keys, w.now()).unwrap();
    assert_eq!(s.sub, "u-same");
    w.assert_logs_clean();
}

#[test]
fn an_idp_asserting_an_ambiguous_address_gets_no_session() {
    for email in ["\"bob@other.example\"@acme.example", "bob@other.example@acme.example", "a(b)@acme.example"] {
        let w = World::new();
        let login = w.login("alice@acme.example");
        let mut claims = w.claims(&login);
        claims["email"] = json!(email);
        let token = w.acme.sign(Key::Es, &claims);
        let r = w.finish(&login, &token);
        assert_callback_refused(&r, 400, "id_token_invalid");
        assert!(w.p.logs().iter().any(|l| l.contains("plain address")), "{email}: {:?}", w.p.logs());
    }
}

#[test]
fn an_ambiguous_address_is_refused_at_routing() {
    let w = World::new();
    for email in ["\"a@b\"@acme.example", "x@other.example@acme.example", "al\\ice@acme.example"] {
        let r = w.get(&url_with(&format!("{SITE}/auth/login"), &[("email", email)]), "");
        assert_refused(&r, 400, "invalid_email");
    }
}

// ---- sign-out by the IdP: front-channel forms, bounds, and sessions that stay reachable ---------------

/// A GUID-shaped Entra tenant id.
const CORP_TENANT: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
const EVENT_BACKCHANNEL: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The world with an `entra` connector `corp` besides acme and other (none of them is contacted by a
/// front-channel logout with `sid` alone).
fn world_with_entra() -> World {
    let mut w = World::new();
    // config_json's argument lands at the end of acme's object: close it and add the Entra connector.
    let entra = format!(
        r#"}},{{"id":"corp","kind":"entra","tenant":"{CORP_TENANT}","client_id":"corp-app",
            "client_secret_binding":"ACME_CLIENT_SECRET","domains":["corp.example"]"#
    );
    w.config = Config::from_json(&config_json(&entra)).unwrap();
    assert_eq!(w.config.connectors.len(), 3);
    w
}

/// A session cookie header (sealed with the world's keys) for a session of `connector`/`iss` with `sid`.
fn session_cookie(w: &World, connector: &str, iss: &str, sid: Option<&str>) -> String {
    let now = w.now();
    let session = Session {
        sub: format!("sub-of-{connector}"),
        email: "someone@acme.example".into(),
        name: None,
        connector: connector.into(),
        iss: iss.into(),
        iat: now,
        exp: now + SESSION_LIFETIME,
        sid: sid.map(str::to_string),
        renewed_at: now,
        groups: vec![],
    };
    format!("{SESSION_COOKIE}={}", session.seal(&w.keys, SESSION_COOKIE))
}

/// A connector taken out of AUTH_CONFIG (or renamed) ends the sessions it issued: they are refused by the gate
/// and /auth/me as soon as the configuration without it is loaded, not when they expire.
#[test]
fn sessions_of_a_connector_no_longer_configured_are_refused() {
    let w = World::new();
    let kept = session_cookie(&w, "acme", ISSUER, None);
    let removed = session_cookie(&w, "acme-old", ISSUER, None);
    assert!(matches!(gate_at(&w, "/docs", &kept), Gate::Allowed { .. }));
    assert_eq!(me_status(&w, &kept), 200);
    assert!(matches!(gate_at(&w, "/docs", &removed), Gate::Unauthenticated));
    assert_eq!(me_status(&w, &removed), 401);
}

fn me_status(w: &World, cookie: &str) -> u16 {
    w.get(&format!("{SITE}/auth/me"), cookie).status
}

fn frontchannel(w: &World, pairs: &[(&str, &str)], cookie: &str) -> Response {
    // The URL `edge-auth-check --site` prints to register: every front-channel test goes through it.
    w.get(&url_with(&site_uris::frontchannel_logout_uri(SITE), pairs), cookie)
}

/// Whether the response deletes the visitor's session cookie.
fn clears_session(r: &Response) -> bool {
    set_cookie_line(r, SESSION_COOKIE).is_some_and(|l| cookie_value(l).is_empty())
}

#[test]
fn frontchannel_with_sid_alone_ends_the_entra_session_scoped_to_entra_connectors() {
    let w = world_with_entra();
    // Entra's issuers name the tenant; the session carries the tenant's issuer.
    let entra_iss = format!("https://login.microsoftonline.com/{CORP_TENANT}/v2.0");
    let entra = session_cookie(&w, "corp", &entra_iss, Some("entra-sid-1"));
    let other_entra_session = session_cookie(&w, "corp", &entra_iss, Some("entra-sid-2"));
    // The same sid value in a session of a non-Entra connector is another IdP's session.
    let acme = session_cookie(&w, "acme", ISSUER, Some("entra-sid-1"));
    for c in [&entra, &other_entra_session, &acme] {
        assert_eq!(me_status(&w, c), 200);
    }
    let r = frontchannel(&w, &[("sid", "entra-sid-1")], &entra);
    assert_eq!(r.status, 200, "{}", describe(&r));
    assert!(clears_session(&r), "the visitor's own session is the one named: {}", describe(&r));
    assert_eq!(me_status(&w, &entra), 401, "the Entra session ended");
    assert_eq!(me_status(&w, &other_entra_session), 200);
    assert_eq!(me_status(&w, &acme), 200, "only sessions signed in through an Entra connector");
    let recorded = w.p.revocations.borrow();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].0.kind, RevocationKind::ConnectorSid);
    assert_eq!(recorded[0].0.connector, "corp");
    assert_eq!(recorded[0].1, SESSION_LIFETIME + 300, "kept as long as a session it ends can live");
}

#[test]
fn frontchannel_with_sid_alone_is_400_without_an_entra_connector() {
    let w = World::new();
    let acme = session_cookie(&w, "acme", ISSUER, Some("s1"));
    for pairs in [vec![("sid", "s1")], vec![("iss", ISSUER)], vec![("iss", ISSUER), ("sid", "")]] {
        let r = frontchannel(&w, &pairs, &acme);
        assert_eq!(r.status, 400, "{pairs:?}: {}", describe(&r));
        assert!(!clears_session(&r));
    }
    let long = "x".repeat(MAX_SID_LEN + 1);
    assert_eq!(frontchannel(&w, &[("iss", ISSUER), ("sid", &long)], &acme).status, 400);
    assert_eq!(frontchannel(&w, &[("iss", "https://evil.example"), ("sid", "s1")], &acme).status, 400);
    assert!(w.p.revocations.borrow().is_empty());
    assert_eq!(me_status(&w, &acme), 200);
    // With the iss, as before.
    let r = frontchannel(&w, &[("iss", ISSUER), ("sid", "s1")], &acme);
    assert_eq!(r.status, 200, "{}", describe(&r));
    assert_eq!(me_status(&w, &acme), 401);
}

#[test]
fn frontchannel_clears_the_visitors_cookie_only_when_it_is_the_session_named() {
    let w = world_with_entra();
    let visitor = session_cookie(&w, "acme", ISSUER, Some("visitor-sid"));
    // A cross-site page makes the visitor's browser send a front-channel logout with a made-up sid (or the
    // visitor's sid with another issuer, or sid alone while the visitor is not an Entra user).
    for pairs in [
        vec![("iss", ISSUER), ("sid", "made-up")],
        vec![("iss", OTHER_ISSUER), ("sid", "visitor-sid")],
        vec![("sid", "visitor-sid")],
    ] {
        let r = frontchannel(&w, &pairs, &visitor);
        assert_eq!(r.status, 200, "{pairs:?}: {}", describe(&r));
        assert!(!clears_session(&r), "{pairs:?}: the visitor was signed out: {}", describe(&r));
        assert_eq!(me_status(&w, &visitor), 200, "{pairs:?}");
    }
    let r = frontchannel(&w, &[("iss", ISSUER), ("sid", "visitor-sid")], &visitor);
    assert!(clears_session(&r), "{}", describe(&r));
    assert_eq!(me_status(&w, &visitor), 401);
}

#[test]
fn frontchannel_rate_limit_answers_429_after_the_burst_per_connector() {
    let w = world_with_entra();
    let bystander = session_cookie(&w, "acme", ISSUER, Some("bystander"));
    for i in 0..RATE_BURST {
        let r = frontchannel(&w, &[("iss", ISSUER), ("sid", &format!("flood-{i}"))], "");
        assert_eq!(r.status, 200, "request {i}: {}", describe(&r));
    }
    let r = frontchannel(&w, &[("iss", ISSUER), ("sid", "bystander")], "");
    assert_eq!(r.status, 429, "{}", describe(&r));
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(me_status(&w, &bystander), 200, "nothing written beyond the limit");
    assert!(
        w.p.events_named("revocation").iter().any(|e| e["connector"] == "acme"
            && e["reason"] == "rate_limited"
            && e["channel"] == "front_channel"
            && e["outcome"] == "failure"),
        "{:?}",
        w.p.logs()
    );
    // Other connectors have their own bucket.
    assert_eq!(frontchannel(&w, &[("sid", "entra-1")], "").status, 200);
    // A second later, the refill.
    w.p.advance(1);
    for i in 0..RATE_PER_SECOND {
        assert_eq!(frontchannel(&w, &[("iss", ISSUER), ("sid", &format!("later-{i}"))], "").status, 200);
    }
    assert_eq!(frontchannel(&w, &[("iss", ISSUER), ("sid", "later-x")], "").status, 429);
    assert_eq!(w.p.revocations.borrow().len() as u64, RATE_BURST + 1 + RATE_PER_SECOND);
}

/// A back-channel logout token from acme for `sid`.
fn logout_token(w: &World, sid: &str, jti: &str) -> String {
    let now = w.now();
    let header = json!({"alg": "ES256", "kid": w.acme.kid(Key::Es), "typ": "logout+jwt"});
    let claims = json!({"iss": ISSUER, "aud": CLIENT_ID, "iat": now, "exp": now + 120, "jti": jti,
                        "events": {EVENT_BACKCHANNEL: {}}, "sid": sid});
    w.acme.sign_with_header(Key::Es, &header, &claims)
}

fn backchannel(w: &World, token: &str) -> Response {
    // The URL `edge-auth-check --site` prints to register: every back-channel test goes through it.
    let mut req = request(Method::Post, &site_uris::backchannel_logout_uri(SITE), "");
    req.form = vec![("logout_token".to_string(), token.to_string())];
    w.handle(&req)
}

/// Back-channel logout chooses its key as the callback does (one `Flow::signing_key`): a logout token signed with
/// a key the IdP has published since costs exactly one refetch past every cache, then verifies; a `kid` the IdP
/// never published is refused after that one refetch, and the cooldown holds for the next token.
#[test]
fn a_backchannel_logout_token_with_a_rotated_key_refetches_the_key_set_once() {
    let w = World::new();
    w.sign_in();
    assert_eq!(w.p.count(&jwks_url(ISSUER)), 1);
    let alice = session_cookie(&w, "acme", ISSUER, Some("alice-sid"));
    w.p.route(&jwks_url(ISSUER), vec![json_response(200, &w.acme.jwks(&[Key::Es, Key::EsNext]))]);
    let now = w.now();
    let claims = |jti: &str| {
        json!({"iss": ISSUER, "aud": CLIENT_ID, "iat": now, "exp": now + 120, "jti": jti,
               "events": {EVENT_BACKCHANNEL: {}}, "sid": "alice-sid"})
    };
    let header = json!({"alg": "ES256", "kid": w.acme.kid(Key::EsNext), "typ": "logout+jwt"});
    let r = backchannel(&w, &w.acme.sign_with_header(Key::EsNext, &header, &claims("rotated-1")));
    assert_eq!(r.status, 200, "{}", describe(&r));
    let fetches = w.p.requests_to(&jwks_url(ISSUER));
    assert_eq!(fetches.len(), 2, "exactly one refetch");
    assert_eq!(fetches[1].cache, CachePolicy::DocumentRefetch, "past every cache");
    assert_eq!(me_status(&w, &alice), 401, "the session is ended");
    w.assert_logs_clean();

    let w = World::new();
    w.sign_in();
    let header = json!({"alg": "ES256", "kid": "never-published", "typ": "logout+jwt"});
    for jti in ["unknown-1", "unknown-2"] {
        let r = backchannel(&w, &w.acme.sign_with_header(Key::Es, &header, &claims(jti)));
        assert_eq!(r.status, 400, "{}", describe(&r));
    }
    assert_eq!(w.p.count(&jwks_url(ISSUER)), 2, "the ordinary fetch and one refetch (then the cooldown)");
    let logs = w.p.logs();
    assert!(logs.iter().all(|l| l.contains("back-channel logout refused: no key for the logout token")), "{logs:?}");
    assert_eq!(logs.len(), 2, "{logs:?}");
}

/// Load the shared store into the isolate as the Workers shell does on a fresh isolate.
fn load_store(w: &World) {
    assert_eq!(w.providers.revocations.plan_reload(w.now()), Reload::Wait);
    pollster::block_on(w.providers.revocations.reload(&w.p, w.now()));
}

/// Fill the shared store with `count` revocations of acme's made-up sids `flood-0`… (written by other
/// isolates), `unauthenticated` as front-channel entries are.
fn flood_store(w: &World, count: usize, unauthenticated: bool) {
    let now = w.now();
    for i in 0..count {
        w.p.log_append(Revocation {
            kind: RevocationKind::Sid,
            iss: ISSUER.into(),
            value: format!("flood-{i}"),
            at: now,
            connector: "acme".into(),
            unauthenticated,
            until: now + 3600,
        });
    }
}

#[test]
fn at_the_count_limit_new_revocations_are_refused_with_503_and_a_log_line() {
    let w = world_with_entra();
    // A flood has filled acme's share of the store (written by other isolates).
    flood_store(&w, LOG_LIMITS.per_connector, false);
    load_store(&w);
    let alice = session_cookie(&w, "acme", ISSUER, Some("alice-sid"));
    let flooded = session_cookie(&w, "acme", ISSUER, Some("flood-7"));
    assert_eq!(me_status(&w, &flooded), 401, "what the store holds is enforced");
    assert_eq!(me_status(&w, &alice), 200, "legitimate sessions keep working");
    let recorded_before = w.p.revocations.borrow().len();

    let r = frontchannel(&w, &[("iss", ISSUER), ("sid", "alice-sid")], &alice);
    assert_eq!(r.status, 503, "{}", describe(&r));
    assert!(!clears_session(&r));
    let r = backchannel(&w, &logout_token(&w, "alice-sid", "jti-1"));
    assert_eq!(r.status, 503, "the IdP learns the logout was not recorded: {}", describe(&r));
    let logs = w.p.logs();
    let full = |channel: &str| {
        w.p.events_named("revocation").iter().any(|e| {
            e["channel"] == channel
                && e["connector"] == "acme"
                && e["reason"] == "log_full"
                && e["message"].as_str().is_some_and(|m| m.contains("10000"))
        })
    };
    assert!(full("front_channel") && full("back_channel"), "{logs:?}");
    assert_eq!(w.p.revocations.borrow().len(), recorded_before, "nothing accepted and forgotten");
    // Our own sign-out at the limit still deletes the cookie (and says in the log that a copy stays valid).
    let mut own = request(Method::Post, &format!("{SITE}/auth/logout"), &alice);
    own.origin_header = Some(SITE.to_string());
    let r = w.handle(&own);
    assert_eq!(r.status, 302, "{}", describe(&r));
    assert!(clears_session(&r), "{}", describe(&r));
    assert!(
        w.p.events_named("revocation").iter().any(|e| e["channel"] == "logout"
            && e["outcome"] == "failure"
            && e["reason"] == "refused"
            && e["connector"] == "acme"
            && e["session_id"] == "alice-sid"),
        "{:?}",
        w.p.logs()
    );
    // A revocation the store already holds is no new entry: still answered.
    assert_eq!(frontchannel(&w, &[("iss", ISSUER), ("sid", "flood-3")], "").status, 200);
    // Another connector keeps its room.
    let bob = session_cookie(&w, "other", OTHER_ISSUER, Some("bob-sid"));
    assert_eq!(frontchannel(&w, &[("iss", OTHER_ISSUER), ("sid", "bob-sid")], &bob).status, 200);
    assert_eq!(me_status(&w, &bob), 401);
    w.assert_logs_clean();
}

/// Review of issue 10 (§5): a back-channel logout the store could not take (count limit, store error) was
/// answered 503/500, but its `jti` was already spent: the IdP's retry of the same token got 400 "replayed" and
/// the logout was lost — accepted and forgotten after all.
#[test]
fn a_backchannel_logout_that_was_not_recorded_can_be_retried() {
    let w = world_with_entra();
    flood_store(&w, LOG_LIMITS.per_connector, false);
    load_store(&w);
    let alice = session_cookie(&w, "acme", ISSUER, Some("alice-sid"));
    let token = logout_token(&w, "alice-sid", "jti-retried");
    assert_eq!(backchannel(&w, &token).status, 503);
    // The flood's entries expire (the log's alarm deletes them); the IdP retries the same token.
    w.p.stored.borrow_mut().clear();
    w.p.advance(REFRESH_SECONDS);
    pollster::block_on(w.providers.revocations.reload(&w.p, w.now()));
    let r = backchannel(&w, &token);
    assert_eq!(r.status, 200, "the retry is recorded: {}", describe(&r));
    assert_eq!(me_status(&w, &alice), 401);
    // A recorded token stays single-use.
    assert_eq!(backchannel(&w, &token).status, 400);
    // The store failing is retried the same way.
    let token = logout_token(&w, "alice-sid-2", "jti-store-failed");
    w.p.record_fails.set(true);
    assert_eq!(backchannel(&w, &token).status, 500);
    w.p.record_fails.set(false);
    assert_eq!(backchannel(&w, &token).status, 200);
}

/// Review of issue 10 (§5): front-channel logout is an unauthenticated GET; a flood of made-up `sid`s filled a
/// connector's whole count limit, after which the IdP's *signed* back-channel logouts and our own sign-outs
/// were refused (503) for a session lifetime. Unauthenticated entries now have half the room; the rest stays
/// for the authenticated channels.
#[test]
fn a_frontchannel_flood_cannot_use_up_the_room_of_signed_logouts() {
    let w = world_with_entra();
    // What a front-channel write stores is marked as such; a back-channel one is not.
    assert_eq!(frontchannel(&w, &[("iss", ISSUER), ("sid", "one")], "").status, 200);
    assert_eq!(frontchannel(&w, &[("sid", "two")], "").status, 200);
    assert!(w.p.revocations.borrow().iter().all(|(r, _)| r.unauthenticated));
    assert_eq!(backchannel(&w, &logout_token(&w, "three", "jti-3")).status, 200);
    assert!(!w.p.revocations.borrow().last().unwrap().0.unauthenticated);
    // A flood (from many isolates) has written as many front-channel entries for acme as it may.
    flood_store(&w, LOG_LIMITS.unauthenticated_per_connector, true);
    load_store(&w);
    let r = frontchannel(&w, &[("iss", ISSUER), ("sid", "more")], "");
    assert_eq!(r.status, 503, "the flood stops here: {}", describe(&r));
    // The signed channel and our own sign-out still have room.
    let alice = session_cookie(&w, "acme", ISSUER, Some("alice-sid"));
    let r = backchannel(&w, &logout_token(&w, "alice-sid", "jti-alice"));
    assert_eq!(r.status, 200, "{}", describe(&r));
    assert_eq!(me_status(&w, &alice), 401);
    let carol = session_cookie(&w, "acme", ISSUER, Some("carol-sid"));
    let mut own = request(Method::Post, &format!("{SITE}/auth/logout"), &carol);
    own.origin_header = Some(SITE.to_string());
    let before = w.p.revocations.borrow().len();
    assert_eq!(w.handle(&own).status, 302);
    assert_eq!(w.p.revocations.borrow().len(), before + 1, "our own sign-out is recorded");
    assert_eq!(me_status(&w, &carol), 401, "a copied cookie stops working");
}

/// Review of issue 13: `POST /auth/logout` recorded the session's revocation on every call, even when the
/// isolate already held it: anyone with one session cookie (a stolen copy, even one already signed out and so
/// revoked) could repeat it without limit — no rate limit on this path, each call one request to the single
/// revocation log (which serves on the order of a thousand a second), each a repeat the log numbers anew for every
/// isolate to read again. Saturating the one object is enough to make every isolate's reloads time out and the
/// whole network fail closed within 5 minutes. A revocation this isolate already holds is not written again.
#[test]
fn a_repeated_sign_out_of_a_revoked_session_does_not_call_the_log_again() {
    let w = World::new();
    let alice = session_cookie(&w, "acme", ISSUER, Some("alice-sid"));
    let sign_out = || {
        let mut own = request(Method::Post, &format!("{SITE}/auth/logout"), &alice);
        own.origin_header = Some(SITE.to_string());
        assert_eq!(w.handle(&own).status, 302);
    };
    sign_out();
    assert_eq!(w.p.record_calls.get(), 1, "the first sign-out is recorded");
    assert_eq!(me_status(&w, &alice), 401, "a copied cookie stops working");
    for _ in 0..100 {
        sign_out();
    }
    assert_eq!(w.p.record_calls.get(), 1, "the copy, signed out again and again, reaches the log no more");
    // A session that is not revoked yet is still recorded, and so is one while the list cannot be vouched for.
    let bob = session_cookie(&w, "acme", ISSUER, Some("bob-sid"));
    let mut own = request(Method::Post, &format!("{SITE}/auth/logout"), &bob);
    own.origin_header = Some(SITE.to_string());
    assert_eq!(w.handle(&own).status, 302);
    assert_eq!(w.p.record_calls.get(), 2);
    assert_eq!(me_status(&w, &bob), 401);
}

/// Review of issue 13: Entra's front-channel `?sid=` alone is written for every `entra` connector, and the loop
/// stopped at the first refusal. Anyone could fill the first connector's front-channel share (made-up
/// `?iss=<its issuer>&sid=…`, 5,000 entries) or empty its per-isolate bucket (20 requests): from then on no
/// `?sid=` logout reached the other `entra` connectors — a flood of one connector locked out another's logouts,
/// and their sessions stayed valid. Every connector with room is now written; the refusal is still answered
/// (the IdP may retry), after the others were written.
#[test]
fn a_flooded_entra_connector_does_not_lock_out_another_ones_frontchannel_logouts() {
    let mut w = World::new();
    let entra = |id: &str, domain: &str| {
        format!(
            r#"}},{{"id":"{id}","kind":"entra","tenant":"{CORP_TENANT}","client_id":"{id}-app",
            "client_secret_binding":"ACME_CLIENT_SECRET","domains":["{domain}"]"#
        )
    };
    let two = format!("{}{}", entra("corp", "corp.example"), entra("corp2", "corp2.example"));
    w.config = Config::from_json(&config_json(&two)).unwrap();
    let victim = session_cookie(&w, "corp2", "https://login.microsoftonline.com/any/v2.0", Some("victim-sid"));
    assert_eq!(me_status(&w, &victim), 200);
    // The first entra connector's front-channel share is full (a flood through many isolates).
    let now = w.now();
    for i in 0..LOG_LIMITS.unauthenticated_per_connector {
        w.p.log_append(Revocation {
            kind: RevocationKind::ConnectorSid,
            iss: String::new(),
            value: format!("flood-{i}"),
            at: now,
            connector: "corp".into(),
            unauthenticated: true,
            until: now + 3600,
        });
    }
    load_store(&w);
    let r = frontchannel(&w, &[("sid", "victim-sid")], "");
    assert_eq!(r.status, 503, "corp's refusal is still answered: {}", describe(&r));
    assert_eq!(me_status(&w, &victim), 401, "corp2's session is ended all the same");
    // The same with corp's per-isolate bucket emptied by made-up logouts of corp alone.
    let mut w = World::new();
    w.config = Config::from_json(&config_json(&two)).unwrap();
    let victim = session_cookie(&w, "corp2", "https://login.microsoftonline.com/any/v2.0", Some("victim-sid"));
    for _ in 0..RATE_BURST {
        w.providers.revocations.take_token("corp", w.now()).unwrap();
    }
    let r = frontchannel(&w, &[("sid", "victim-sid")], "");
    assert_eq!(r.status, 429, "{}", describe(&r));
    assert_eq!(me_status(&w, &victim), 401, "corp2 had tokens left: written");
}

#[test]
fn without_a_complete_revocation_list_sessions_and_sign_ins_are_refused() {
    let w = World::new();
    let alice = session_cookie(&w, "acme", ISSUER, Some("alice-sid"));
    w.p.list_fails.set(true);
    load_store(&w);
    assert!(w.p.logs().iter().any(|l| l.contains("fail closed")), "{:?}", w.p.logs());
    assert_eq!(me_status(&w, &alice), 401, "cannot be checked: refused");
    let login = w.login("alice@acme.example");
    let r = w.finish_with_key(&login, Key::Es);
    // Before issue 12: 500 config_error (a store outage is no configuration problem).
    assert_callback_refused(&r, 503, "revocations_unavailable");
    assert!(w.p.logs().iter().any(|l| l.contains("sign-ins are refused")), "{:?}", w.p.logs());
    // Writes still reach the log (it decides its bounds itself).
    assert_eq!(frontchannel(&w, &[("iss", ISSUER), ("sid", "x")], "").status, 200);
    // The store answers again.
    w.p.list_fails.set(false);
    w.p.advance(10);
    load_store(&w);
    assert_eq!(me_status(&w, &alice), 200);
    w.assert_logs_clean();
}

#[test]
fn a_sid_too_long_to_keep_refuses_the_sign_in() {
    // On main the session was issued without its sid: no sid logout could end it.
    let w = World::new();
    let login = w.login("alice@acme.example");
    let mut claims = w.claims(&login);
    claims["sid"] = json!("s".repeat(300));
    let r = w.finish(&login, &w.acme.sign(Key::Es, &claims));
    assert_callback_refused(&r, 400, "id_token_invalid");
    assert!(w.p.logs().iter().any(|l| l.contains("sid claim") && l.contains("300 bytes")), "{:?}", w.p.logs());
    // The longest sid a session keeps is kept, and a logout by it ends the session.
    let login = w.login("alice@acme.example");
    let mut claims = w.claims(&login);
    let longest = "s".repeat(MAX_SID_LEN);
    claims["sid"] = json!(longest);
    let r = w.finish(&login, &w.acme.sign(Key::Es, &claims));
    assert_signed_in(&r, "/docs");
    let cookie = session_cookie_header(&r);
    assert_eq!(backchannel(&w, &logout_token(&w, &longest, "jti-long")).status, 200);
    assert_eq!(me_status(&w, &cookie), 401);
    w.assert_logs_clean();
}

/// A world whose connector owns a 125-character domain, and the longest address there (64-character local
/// part): with a 255-character `sub` and the longest `sid`, the identity is at the cookie budget's edge.
fn world_with_the_longest_address() -> (World, String) {
    let mut w = World::new();
    let long_domain = format!("{}.{}.example", "d".repeat(60), "e".repeat(60));
    w.config = Config::from_json(
        &config_json("").replace(r#""acme.co.example""#, &format!(r#""acme.co.example","{long_domain}""#)),
    )
    .unwrap();
    let email = format!("{}@{long_domain}", "a".repeat(64));
    (w, email)
}

#[test]
fn an_identity_that_only_fits_without_its_sid_refuses_the_sign_in() {
    // On main the cookie budget dropped the sid: the session was then out of reach of sid logouts.
    let (w, email) = world_with_the_longest_address();
    let login = w.login(&email);
    let mut claims = w.claims(&login);
    claims["sub"] = json!("u".repeat(255));
    claims["email"] = json!(email);
    claims["sid"] = json!("s".repeat(MAX_SID_LEN));
    let r = w.finish(&login, &w.acme.sign(Key::Es, &claims));
    // Before issue 12: 400 id_token_invalid (the token is valid; the identity does not fit a cookie).
    assert_callback_refused(&r, 500, "session_too_large");
    assert!(w.p.logs().iter().any(|l| l.contains("too large") && l.contains("session id")), "{:?}", w.p.logs());
    // Without the sid, the same identity fits.
    let login = w.login(&email);
    let mut claims = w.claims(&login);
    claims["sub"] = json!("u".repeat(255));
    claims["email"] = json!(email);
    claims.as_object_mut().unwrap().remove("sid");
    let r = w.finish(&login, &w.acme.sign(Key::Es, &claims));
    assert_signed_in(&r, "/docs");
    w.assert_logs_clean();
}

// ---- Entra: only the tenant that owns a domain signs in its addresses ("nOAuth") ---------------------

const ENTRA: &str = "https://login.entra.example";
const TENANT_A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
const TENANT_B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
const TENANT_C: &str = "cccccccc-0000-4000-8000-00000000000c";

fn entra_domain_url(domain: &str) -> String {
    format!("{ENTRA}/{domain}/v2.0/.well-known/openid-configuration")
}

/// Entra's discovery answer for a domain verified in `tenant` (fresh for `fresh_for`).
fn entra_domain_answer(tenant: &str, fresh_for: Option<u64>) -> Canned {
    fresh_json(
        &json!({"issuer": format!("{ENTRA}/{tenant}/v2.0"), "token_endpoint": format!("{ENTRA}/token")}),
        fresh_for,
    )
}

/// An `organizations` connector `partners` admitting tenants A and B, for the domains a.example (verified in
/// A), b.example (verified in B), c.example (verified nowhere) and d.example (verified in C, which the
/// connector does not list: a configuration error). Entra signs with `w.acme`'s keys.
fn world_with_entra_partners() -> (World, Idp) {
    world_with_entra_partners_and_policies("[]")
}

/// [`world_with_entra_partners`] with these `policies`.
fn world_with_entra_partners_and_policies(policies: &str) -> (World, Idp) {
    let json = format!(
        r#"{{"connectors":[{{"id":"partners","kind":"entra","tenant":"organizations","authority":"{ENTRA}",
            "allowed_tenants":["{TENANT_A}","{TENANT_B}"],"client_id":"partners-app",
            "client_secret_binding":"ACME_CLIENT_SECRET","domains":["a.example","b.example","c.example","d.example"]}}],
            "policies":{policies}}}"#
    );
    let w = World::with_config(Config::from_json(&json).unwrap(), K1);
    let idp = Idp::new(ENTRA, "entra");
    w.p.route(
        &format!("{ENTRA}/organizations/v2.0/.well-known/openid-configuration"),
        vec![json_response(
            200,
            &json!({
                "issuer": format!("{ENTRA}/{{tenantid}}/v2.0"),
                "authorization_endpoint": format!("{ENTRA}/authorize"),
                "token_endpoint": token_url(ENTRA),
                "jwks_uri": jwks_url(ENTRA),
                "response_types_supported": ["code"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["ES256"],
            }),
        )],
    );
    w.p.route(&jwks_url(ENTRA), vec![json_response(200, &idp.default_jwks())]);
    w.p.route(&entra_domain_url("a.example"), vec![entra_domain_answer(TENANT_A, Some(3600))]);
    w.p.route(&entra_domain_url("b.example"), vec![entra_domain_answer(TENANT_B, Some(3600))]);
    w.p.route(
        &entra_domain_url("c.example"),
        vec![json_response(400, &json!({"error": "invalid_tenant", "error_description": "AADSTS90002"}))],
    );
    w.p.route(&entra_domain_url("d.example"), vec![entra_domain_answer(TENANT_C, Some(3600))]);
    (w, idp)
}

/// A sign-in through `partners` started for `login_email`, where Entra's ID token (tenant `tid`) carries
/// `claims` besides the standard ones.
fn entra_sign_in(w: &World, idp: &Idp, login_email: &str, tid: &str, claims: Value) -> Response {
    let login = w.login(login_email);
    let now = w.now();
    let mut c = json!({
        "iss": format!("{ENTRA}/{tid}/v2.0"), "sub": format!("sub-{tid}"), "aud": "partners-app", "tid": tid,
        "exp": now + 300, "iat": now, "nonce": login.nonce(),
    });
    for (k, v) in claims.as_object().unwrap() {
        c[k] = v.clone();
    }
    w.finish(&login, &idp.sign(Key::Es, &c))
}

#[test]
fn entra_a_tenant_cannot_sign_in_addresses_of_a_domain_another_tenant_owns() {
    let (w, idp) = world_with_entra_partners();
    // Positive controls: each tenant signs in its own domain's addresses, whichever claim carries them.
    assert_signed_in(
        &entra_sign_in(&w, &idp, "alice@a.example", TENANT_A, json!({"email": "alice@a.example"})),
        "/docs",
    );
    assert_signed_in(
        &entra_sign_in(&w, &idp, "bob@b.example", TENANT_B, json!({"preferred_username": "bob@b.example"})),
        "/docs",
    );
    // nOAuth: an administrator of tenant A (allowed) gives a user tenant B's victim's address.
    for claim in ["email", "preferred_username", "upn"] {
        let r = entra_sign_in(&w, &idp, "victim@b.example", TENANT_A, json!({ claim: "victim@b.example" }));
        assert_callback_refused(&r, 403, "domain_not_owned");
    }
    assert!(
        w.p.logs()
            .iter()
            .any(|l| l.contains("domain_not_owned") && l.contains(&format!("verified in tenant {TENANT_B}"))),
        "{:?}",
        w.p.logs()
    );
    // A domain verified in no tenant: refused for everyone, and the operator is told why.
    for tid in [TENANT_A, TENANT_B] {
        let r = entra_sign_in(&w, &idp, "carol@c.example", tid, json!({"email": "carol@c.example"}));
        assert_callback_refused(&r, 403, "domain_not_owned");
    }
    assert!(w.p.logs().iter().any(|l| l.contains("c.example is verified in no tenant")), "{:?}", w.p.logs());
    // A domain owned by a tenant the connector does not list: a configuration error, its addresses refused.
    let r = entra_sign_in(&w, &idp, "dave@d.example", TENANT_A, json!({"email": "dave@d.example"}));
    assert_callback_refused(&r, 403, "domain_not_owned");
    assert!(w.p.logs().iter().any(|l| l.contains("configuration error") && l.contains(TENANT_C)), "{:?}", w.p.logs());
    w.assert_logs_clean();
}

#[test]
fn entra_a_single_tenant_connector_refuses_a_domain_it_does_not_own() {
    let json = format!(
        r#"{{"connectors":[{{"id":"solo","kind":"entra","tenant":"{TENANT_A}","authority":"{ENTRA}",
            "client_id":"partners-app","client_secret_binding":"ACME_CLIENT_SECRET","domains":["a.example","b.example"]}}]}}"#
    );
    let (mut w, idp) = world_with_entra_partners();
    w.config = Config::from_json(&json).unwrap();
    let d = json!({
        "issuer": format!("{ENTRA}/{TENANT_A}/v2.0"), "authorization_endpoint": format!("{ENTRA}/authorize"),
        "token_endpoint": token_url(ENTRA), "jwks_uri": jwks_url(ENTRA), "response_types_supported": ["code"],
        "subject_types_supported": ["pairwise"], "id_token_signing_alg_values_supported": ["ES256"],
    });
    w.p.route(&format!("{ENTRA}/{TENANT_A}/v2.0/.well-known/openid-configuration"), vec![json_response(200, &d)]);
    assert_signed_in(
        &entra_sign_in(&w, &idp, "alice@a.example", TENANT_A, json!({"email": "alice@a.example"})),
        "/docs",
    );
    let r = entra_sign_in(&w, &idp, "victim@b.example", TENANT_A, json!({"email": "victim@b.example"}));
    assert_callback_refused(&r, 403, "domain_not_owned");
}

#[test]
fn entra_domain_owners_are_cached_refreshed_and_survive_an_outage() {
    let (w, idp) = world_with_entra_partners();
    let a = entra_domain_url("a.example");
    let sign_in = |tid: &str| entra_sign_in(&w, &idp, "alice@a.example", tid, json!({"email": "alice@a.example"}));
    assert_signed_in(&sign_in(TENANT_A), "/docs");
    assert_signed_in(&sign_in(TENANT_A), "/docs");
    assert_eq!(w.p.count(&a), 1, "fresh for an hour: asked once");
    // The domain moves to tenant B (Entra says so from now on).
    w.p.route(&a, vec![entra_domain_answer(TENANT_B, Some(3600))]);
    w.p.advance(3600);
    // Stale: still the old owner at once, refreshed in the background after the answer.
    assert_signed_in(&sign_in(TENANT_A), "/docs");
    assert_eq!(w.p.count(&a), 2, "one background refresh");
    assert_callback_refused(&sign_in(TENANT_A), 403, "domain_not_owned");
    assert_signed_in(&sign_in(TENANT_B), "/docs");
    // Entra down past the stale window: the last good answer stands, and the operator is told.
    w.p.route(&a, vec![network_error()]);
    w.p.advance(3600 + 86_400 + 1);
    assert_signed_in(&sign_in(TENANT_B), "/docs");
    assert_callback_refused(&sign_in(TENANT_A), 403, "domain_not_owned");
    assert!(
        w.p.events_named("idp_fetch_failed").iter().any(|e| e["document"] == "entra_domain_owner"
            && e["stale"] == true
            && e["url"] == entra_domain_url("a.example").as_str()),
        "{:?}",
        w.p.logs()
    );
    // Never resolved and Entra down: no owner, no sign-in (fail closed).
    w.p.route(&entra_domain_url("b.example"), vec![network_error()]);
    let r = entra_sign_in(&w, &idp, "bob@b.example", TENANT_B, json!({"email": "bob@b.example"}));
    assert_callback_refused(&r, 502, "idp_unreachable");
    w.assert_logs_clean();
}

/// Review of issue 12: on a cold isolate the location's cache stands in for Entra with its expired copy of a
/// domain's discovery (`fresh_for` 0) whenever Entra's answer is not a `200` — also when that answer is Entra's
/// definite "verified in no tenant" (`400`/`404`), which the domain lookup treats as an answer, not an outage. A
/// tenant that no longer owns a domain kept signing in its addresses on every cold isolate for up to a day past
/// the copy's freshness. The stale copy now counts only when Entra, asked past the cache, cannot answer.
#[test]
fn entra_a_stale_location_copy_does_not_outvote_entras_definite_no_tenant() {
    let stale_owner_a = || HttpResponse {
        status: 200,
        body: json!({"issuer": format!("{ENTRA}/{TENANT_A}/v2.0")}).to_string().into_bytes(),
        fresh_for: Some(0),
    };
    let sign_in =
        |w: &World, idp: &Idp| entra_sign_in(w, idp, "alice@a.example", TENANT_A, json!({"email": "alice@a.example"}));
    // Entra now says: a.example is verified in no tenant (both spellings of that answer).
    for status in [400, 404] {
        let (w, idp) = world_with_entra_partners();
        let a = entra_domain_url("a.example");
        w.p.location_cache.borrow_mut().insert(a.clone(), stale_owner_a());
        w.p.route(&a, vec![json_response(status, &json!({"error": "invalid_tenant"}))]);
        let r = sign_in(&w, &idp);
        assert_callback_refused(&r, 403, "domain_not_owned");
        assert!(
            w.p.logs().iter().any(|l| l.contains("a.example is verified in no tenant")),
            "{status}: {:?}",
            w.p.logs()
        );
        let asked = w.p.requests_to(&a);
        assert!(
            asked.iter().any(|r| r.cache == CachePolicy::DocumentRefetch),
            "{status}: Entra asked past the cache: {asked:?}"
        );
    }
    // Entra cannot answer (down, or a server error): the location's last answer stands (an outage does not
    // stop sign-ins), and nothing else is asked.
    for down in [network_error(), json_response(503, &json!({}))] {
        let (w, idp) = world_with_entra_partners();
        let a = entra_domain_url("a.example");
        w.p.location_cache.borrow_mut().insert(a.clone(), stale_owner_a());
        w.p.route(&a, vec![down]);
        assert_signed_in(&sign_in(&w, &idp), "/docs");
        assert_eq!(w.p.count(&a), 1, "one request past the cache");
        w.assert_logs_clean();
    }
    // A fresh copy in the location's cache is used as before: Entra is not asked.
    let (w, idp) = world_with_entra_partners();
    let a = entra_domain_url("a.example");
    let mut fresh = stale_owner_a();
    fresh.fresh_for = Some(600);
    w.p.location_cache.borrow_mut().insert(a.clone(), fresh);
    w.p.route(&a, vec![json_response(404, &json!({}))]);
    assert_signed_in(&sign_in(&w, &idp), "/docs");
    assert_eq!(w.p.count(&a), 0);
}

#[test]
fn entra_xms_edov_false_refuses_an_address_from_the_email_claim() {
    let (w, idp) = world_with_entra_partners();
    for v in [json!(false), json!("false")] {
        let r =
            entra_sign_in(&w, &idp, "alice@a.example", TENANT_A, json!({"email": "alice@a.example", "xms_edov": v}));
        assert_callback_refused(&r, 403, "email_unverified");
    }
    let claims = json!({"email": "alice@a.example", "xms_edov": true});
    assert_signed_in(&entra_sign_in(&w, &idp, "alice@a.example", TENANT_A, claims), "/docs");
    // The sign-in name is the tenant's own: xms_edov is about the email claim.
    let claims = json!({"preferred_username": "alice@a.example", "xms_edov": false});
    assert_signed_in(&entra_sign_in(&w, &idp, "alice@a.example", TENANT_A, claims), "/docs");
}

/// Entra beyond 200 groups: the ID token names the `groups` claim by reference (`_claim_names` /
/// `_claim_sources`, pointing at Microsoft Graph) instead of carrying it.
fn entra_overage_claims() -> Value {
    json!({
        "email": "alice@a.example",
        "_claim_names": {"groups": "src1"},
        "_claim_sources": {"src1": {"endpoint": "https://graph.windows.net/aaaaaaaa/users/u/getMemberObjects"}},
    })
}

#[test]
fn entra_groups_overage_is_refused_when_a_policy_grants_the_connectors_groups() {
    let (w, idp) = world_with_entra_partners_and_policies(r#"[{"path":"/admin/*","groups":["partners:admins"]}]"#);
    let r = entra_sign_in(&w, &idp, "alice@a.example", TENANT_A, entra_overage_claims());
    assert_callback_refused(&r, 403, "groups_overage");
    assert!(
        w.p.logs().iter().any(|l| l.contains("groups_overage")
            && l.contains("\"partners\"")
            && l.contains("Groups assigned to the application")),
        "the log names the connector and the remedy: {:?}",
        w.p.logs()
    );
    // Entra's implicit-flow form (`hasgroups`), as a boolean or a string.
    for v in [json!(true), json!("true")] {
        let r =
            entra_sign_in(&w, &idp, "alice@a.example", TENANT_A, json!({"email": "alice@a.example", "hasgroups": v}));
        assert_callback_refused(&r, 403, "groups_overage");
    }
    // A `groups` array beside the reference is not the user's groups either.
    let mut claims = entra_overage_claims();
    claims["groups"] = json!(["admins"]);
    assert_callback_refused(&entra_sign_in(&w, &idp, "alice@a.example", TENANT_A, claims), 403, "groups_overage");
    // Positive controls: the groups in the token, `hasgroups: false`, another claim by reference.
    let claims = json!({"email": "alice@a.example", "groups": ["admins"]});
    assert_signed_in(&entra_sign_in(&w, &idp, "alice@a.example", TENANT_A, claims), "/docs");
    let claims = json!({"email": "alice@a.example", "hasgroups": false});
    assert_signed_in(&entra_sign_in(&w, &idp, "alice@a.example", TENANT_A, claims), "/docs");
    let claims = json!({"email": "alice@a.example", "_claim_names": {"roles": "src1"}, "_claim_sources": {}});
    assert_signed_in(&entra_sign_in(&w, &idp, "alice@a.example", TENANT_A, claims), "/docs");
}

#[test]
fn a_distributed_groups_claim_of_any_oidc_idp_is_an_overage_too() {
    let w = World::with_policies(json!([{"path": "/admin/*", "groups": ["acme:admins"]}]));
    let login = w.login("alice@acme.example");
    let mut claims = w.claims(&login);
    claims["_claim_names"] = json!({"groups": "src1"});
    claims["_claim_sources"] = json!({"src1": {"endpoint": "https://idp.acme.example/groups"}});
    let r = w.finish(&login, &w.acme.sign(Key::Es, &claims));
    assert_callback_refused(&r, 403, "groups_overage");
}

#[test]
fn entra_groups_overage_signs_in_without_groups_and_warns_when_no_policy_needs_them() {
    // A policy granting groups of another connector does not need this one's.
    let json = format!(
        r#"{{"connectors":[{{"id":"partners","kind":"entra","tenant":"organizations","authority":"{ENTRA}",
            "allowed_tenants":["{TENANT_A}","{TENANT_B}"],"client_id":"partners-app",
            "client_secret_binding":"ACME_CLIENT_SECRET","domains":["a.example"]}},
            {{"id":"acme","kind":"oidc","issuer":"{ISSUER}","client_id":"c","client_secret_binding":"ACME_CLIENT_SECRET",
            "domains":["acme.example"]}}],
            "policies":[{{"path":"/admin/*","groups":["acme:admins"]}}]}}"#
    );
    let (mut w, idp) = world_with_entra_partners();
    w.config = Config::from_json(&json).unwrap();
    let r = entra_sign_in(&w, &idp, "alice@a.example", TENANT_A, entra_overage_claims());
    assert_signed_in(&r, "/docs");
    assert!(
        w.p.events().iter().any(|e| e["connector"] == "partners"
            && e["reason"] == "groups_overage"
            && e["level"] == "warn"
            && e["message"].as_str().is_some_and(|m| m.contains("without groups"))),
        "a warning: {:?}",
        w.p.logs()
    );
    let (w, idp) = world_with_entra_partners();
    assert_signed_in(&entra_sign_in(&w, &idp, "alice@a.example", TENANT_A, entra_overage_claims()), "/docs");
}

#[test]
fn entra_personal_accounts_keep_their_rules() {
    const CONSUMERS: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
    // `common` admitting personal accounts: they sign in addresses of the domains Entra resolves to the consumers
    // tenant (outlook.com and the like), not of a domain verified nowhere.
    let json = format!(
        r#"{{"connectors":[{{"id":"partners","kind":"entra","tenant":"common","authority":"{ENTRA}",
            "allowed_tenants":["{TENANT_A}","{CONSUMERS}"],"client_id":"partners-app",
            "client_secret_binding":"ACME_CLIENT_SECRET","domains":["a.example","outlook.example","c.example"]}}]}}"#
    );
    let (mut w, idp) = world_with_entra_partners();
    w.config = Config::from_json(&json).unwrap();
    let d = json!({
        "issuer": format!("{ENTRA}/{{tenantid}}/v2.0"), "authorization_endpoint": format!("{ENTRA}/authorize"),
        "token_endpoint": token_url(ENTRA), "jwks_uri": jwks_url(ENTRA), "response_types_supported": ["code"],
        "subject_types_supported": ["pairwise"], "id_token_signing_alg_values_supported": ["ES256"],
    });
    w.p.route(&format!("{ENTRA}/common/v2.0/.well-known/openid-configuration"), vec![json_response(200, &d)]);
    w.p.route(&entra_domain_url("outlook.example"), vec![entra_domain_answer(CONSUMERS, Some(3600))]);
    let personal = |w: &World, email: &str| entra_sign_in(w, &idp, email, CONSUMERS, json!({ "email": email }));
    assert_signed_in(&personal(&w, "leo@outlook.example"), "/docs");
    assert_callback_refused(&personal(&w, "leo@c.example"), 403, "domain_not_owned");
    assert_callback_refused(&personal(&w, "leo@a.example"), 403, "domain_not_owned");
    // A `consumers` connector is not pinned: its addresses may be at any domain, nothing is resolved.
    let json = format!(
        r#"{{"connectors":[{{"id":"personal","kind":"entra","tenant":"consumers","authority":"{ENTRA}",
            "client_id":"partners-app","client_secret_binding":"ACME_CLIENT_SECRET","domains":["c.example"]}}]}}"#
    );
    w.config = Config::from_json(&json).unwrap();
    let d = json!({
        "issuer": format!("{ENTRA}/{CONSUMERS}/v2.0"), "authorization_endpoint": format!("{ENTRA}/authorize"),
        "token_endpoint": token_url(ENTRA), "jwks_uri": jwks_url(ENTRA), "response_types_supported": ["code"],
        "subject_types_supported": ["pairwise"], "id_token_signing_alg_values_supported": ["ES256"],
    });
    w.p.route(&format!("{ENTRA}/consumers/v2.0/.well-known/openid-configuration"), vec![json_response(200, &d)]);
    let before = w.p.count(&entra_domain_url("c.example"));
    assert_signed_in(&personal(&w, "leo@c.example"), "/docs");
    assert_eq!(w.p.count(&entra_domain_url("c.example")), before, "consumers: no domain resolution");
}

#[test]
fn entra_userinfo_addresses_are_pinned_and_xms_edov_false_refuses_them() {
    let (w, idp) = world_with_entra_partners();
    let discovery = format!("{ENTRA}/organizations/v2.0/.well-known/openid-configuration");
    let userinfo = format!("{ENTRA}/oidc/userinfo");
    w.p.route(
        &discovery,
        vec![json_response(
            200,
            &json!({
                "issuer": format!("{ENTRA}/{{tenantid}}/v2.0"),
                "authorization_endpoint": format!("{ENTRA}/authorize"),
                "token_endpoint": token_url(ENTRA),
                "jwks_uri": jwks_url(ENTRA),
                "userinfo_endpoint": userinfo,
                "response_types_supported": ["code"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["ES256"],
            }),
        )],
    );
    let sub = format!("sub-{TENANT_A}");
    // Positive control: no address in the ID token, UserInfo supplies the tenant's own.
    w.p.route(&userinfo, vec![json_response(200, &json!({ "sub": sub, "email": "alice@a.example" }))]);
    assert_signed_in(&entra_sign_in(&w, &idp, "alice@a.example", TENANT_A, json!({})), "/docs");
    // nOAuth through UserInfo: the address is pinned to its domain's owner wherever it came from.
    w.p.route(&userinfo, vec![json_response(200, &json!({ "sub": sub, "email": "victim@b.example" }))]);
    let r = entra_sign_in(&w, &idp, "victim@b.example", TENANT_A, json!({}));
    assert_callback_refused(&r, 403, "domain_not_owned");
    // xms_edov: false is about the email attribute, which UserInfo's `email` is too.
    for v in [json!(false), json!("false")] {
        w.p.route(&userinfo, vec![json_response(200, &json!({ "sub": sub, "email": "alice@a.example" }))]);
        let r = entra_sign_in(&w, &idp, "alice@a.example", TENANT_A, json!({ "xms_edov": v }));
        assert_callback_refused(&r, 403, "email_unverified");
    }
}

#[test]
fn entra_odd_domain_answers_name_no_owner() {
    let (w, idp) = world_with_entra_partners();
    let upper = TENANT_A.to_ascii_uppercase();
    for issuer in [
        format!("{ENTRA}/{upper}/v2.0"),
        format!("https://login.other.example/{TENANT_A}/v2.0"),
        format!("{ENTRA}/{TENANT_A}/v2.0/"),
        format!("{ENTRA}/{TENANT_A}/v2.0?x=1"),
        format!("{ENTRA}/{{tenantid}}/v2.0"),
        format!("{ENTRA}/{TENANT_A}"),
        String::new(),
    ] {
        w.p.route(&entra_domain_url("a.example"), vec![json_response(200, &json!({ "issuer": issuer }))]);
        for tid in [TENANT_A, TENANT_B] {
            let r = entra_sign_in(&w, &idp, "alice@a.example", tid, json!({"email": "alice@a.example"}));
            assert_callback_refused(&r, 502, "idp_unreachable");
        }
    }
    // A tid the connector accepts but absent or odd in the token never matches an owner.
    for tid in [json!(""), json!(null), json!(TENANT_A.to_ascii_uppercase())] {
        w.p.route(&entra_domain_url("a.example"), vec![entra_domain_answer(TENANT_A, Some(3600))]);
        let r = entra_sign_in(&w, &idp, "alice@a.example", TENANT_A, json!({"email": "alice@a.example", "tid": tid}));
        assert!(r.status >= 400, "{tid}: {}", r.status);
    }
}

// ---- typed refusals: each cause reaches the flow as its own kind (issue 12) --------------------------

impl World {
    /// The flow's answer before rendering: a refusal as its typed [`FlowError`].
    fn route(&self, req: &Request) -> Result<Outcome, (FlowError, Vec<String>)> {
        let flow = Flow { config: &self.config, keys: &self.keys, platform: &self.p, providers: &self.providers };
        pollster::block_on(flow.route(req))
    }

    /// The refusal of `GET url` (with `cookie`), typed.
    fn refusal(&self, url: &str, cookie: &str) -> FlowError {
        match self.route(&request(Method::Get, url, cookie)) {
            Err((e, _)) => e,
            Ok(outcome) => panic!("{url} was not refused: {outcome:?}"),
        }
    }

    fn login_url(email: &str) -> String {
        url_with(&format!("{SITE}/auth/login"), &[("email", email), ("return_to", "/docs")])
    }

    /// The callback of `login` with the right code and state, typed.
    fn callback_refusal(&self, login: &Login) -> FlowError {
        let url = url_with(&format!("{}/auth/callback", login.site), &[("code", CODE), ("state", login.state())]);
        self.refusal(&url, &login.cookie())
    }
}

/// A failed fetch the platform reports (the kit's network failure, or one of the other shapes).
fn failed(error: FetchError) -> Canned {
    Err(error)
}

#[test]
fn an_rng_failure_at_login_is_an_internal_error_not_a_configuration_error() {
    // Before issue 12: FlowError::Config, 500 config_error ("sign-in is not configured correctly").
    let w = World::new();
    w.p.rng_fails.set(true);
    let e = w.refusal(&World::login_url("alice@acme.example"), "");
    assert!(
        matches!(&e, FlowError::Internal(InternalError::Randomness(CryptoError(why))) if why.contains("entropy")),
        "{e:?}"
    );
    let r = w.get(&World::login_url("alice@acme.example"), "");
    assert_refused(&r, 500, "internal_error");
    assert!(w.p.logs().iter().any(|l| l.contains("internal_error (internal error: no randomness: the entropy source")));
    assert!(set_cookies(&r).is_empty(), "no transaction without randomness: {}", describe(&r));
    w.assert_logs_clean();
}

#[test]
fn an_rng_failure_while_sealing_the_session_is_not_reported_as_a_too_large_identity() {
    // Before issue 12 an encrypted session whose nonce could not be drawn was refused as "the identity is too
    // large for a session cookie" (400 id_token_invalid).
    let mut json: Value = serde_json::from_str(&config_json("")).unwrap();
    json["session"] = json!({"encrypt": true});
    let w = World::with_config(Config::from_json(&json.to_string()).unwrap(), K1);
    let login = w.login("alice@acme.example");
    w.serve_token(&login, &w.acme.sign(Key::Es, &w.claims(&login)));
    w.p.rng_fails.set(true);
    let e = w.callback_refusal(&login);
    assert!(matches!(e, FlowError::Internal(InternalError::Seal(SealError::Randomness(_)))), "{e:?}");
    assert_eq!((e.status(), e.code()), (500, "internal_error"));
    // The same sign-in with randomness back: signed in.
    w.p.rng_fails.set(false);
    let login = w.login("alice@acme.example");
    let r = w.finish_with_key(&login, Key::Es);
    assert_eq!(r.status, 302, "{}", describe(&r));
    assert!(cookie_value(session_line(&r)).starts_with("v1e."), "encrypted: {}", describe(&r));
    w.assert_logs_clean();
}

#[test]
fn an_identity_over_the_cookie_budget_is_session_too_large_not_an_invalid_id_token() {
    let (w, email) = world_with_the_longest_address();
    let login = w.login(&email);
    let mut claims = w.claims(&login);
    claims["sub"] = json!("u".repeat(255));
    claims["email"] = json!(email);
    claims["sid"] = json!("s".repeat(MAX_SID_LEN));
    w.serve_token(&login, &w.acme.sign(Key::Es, &claims));
    let e = w.callback_refusal(&login);
    assert_eq!(e, FlowError::SessionTooLarge);
    assert_eq!((e.status(), e.code()), (500, "session_too_large"));
    w.assert_logs_clean();
}

#[test]
fn a_request_the_platform_cannot_build_is_a_configuration_error_not_an_unreachable_idp() {
    // The runtime refuses the token request (a URL or header it does not take): retrying does not mend it,
    // and the IdP was never asked.
    let w = World::new();
    let login = w.login("alice@acme.example");
    w.p.route(&token_url(ISSUER), vec![failed(FetchError::InvalidRequest("Invalid URL".into()))]);
    let e = w.callback_refusal(&login);
    assert!(
        matches!(
            &e,
            FlowError::Config(ConfigProblem::Request {
                endpoint: Endpoint::Token,
                error: FetchError::InvalidRequest(_)
            })
        ),
        "{e:?}"
    );
    let login = w.login("alice@acme.example");
    let r = w.callback(&login, &[("code", CODE), ("state", login.state())], &login.cookie());
    assert_callback_refused(&r, 500, "config_error");
    assert!(w.p.logs().iter().any(|l| l.contains("token endpoint: the request cannot be built: Invalid URL")));
    w.assert_logs_clean();
}

#[test]
fn a_discovery_document_naming_a_bad_endpoint_is_refused_as_such() {
    let w = World::new();
    w.edit_discovery(|d| d["token_endpoint"] = json!("http://idp.acme.example/token"));
    let e = w.refusal(&World::login_url("alice@acme.example"), "");
    match &e {
        FlowError::IdpUnreachable(IdpFailure::Discovery {
            connector,
            error: DiscoveryError::BadEndpoint { field: "token_endpoint", .. },
        }) => assert_eq!(connector, "acme"),
        other => panic!("{other:?}"),
    }
    assert_eq!((e.status(), e.code()), (502, "idp_unreachable"));
    w.assert_logs_clean();
}

#[test]
fn fetch_timeouts_and_too_large_answers_reach_the_flow_typed() {
    let timeout = || failed(FetchError::Timeout { seconds: 10 });
    let too_large = || failed(FetchError::TooLarge { limit: 512 * 1024 });
    // At the token endpoint.
    for (answer, expected) in
        [(timeout(), FetchError::Timeout { seconds: 10 }), (too_large(), FetchError::TooLarge { limit: 512 * 1024 })]
    {
        let w = World::new();
        let login = w.login("alice@acme.example");
        w.p.route(&token_url(ISSUER), vec![answer]);
        let e = w.callback_refusal(&login);
        assert_eq!(e, FlowError::from(IdpFailure::Fetch { endpoint: Endpoint::Token, error: expected.clone() }));
        assert_eq!((e.status(), e.code()), (502, "idp_unreachable"));
        let login = w.login("alice@acme.example");
        let r = w.callback(&login, &[("code", CODE), ("state", login.state())], &login.cookie());
        assert_callback_refused(&r, 502, "idp_unreachable");
        let said = expected.to_string();
        assert!(w.p.logs().iter().any(|l| l.contains(&format!("token endpoint: {said}"))), "{said}: {:?}", w.p.logs());
        w.assert_logs_clean();
    }
    // The discovery document and the key set.
    let w = World::new();
    w.p.route(&discovery_url(ISSUER), vec![timeout()]);
    let e = w.refusal(&World::login_url("alice@acme.example"), "");
    assert_eq!(
        e,
        FlowError::from(IdpFailure::Fetch {
            endpoint: Endpoint::Discovery(discovery_url(ISSUER)),
            error: FetchError::Timeout { seconds: 10 }
        })
    );
    let w = World::new();
    let login = w.login("alice@acme.example");
    w.serve_token(&login, &w.acme.sign(Key::Es, &w.claims(&login)));
    w.p.route(&jwks_url(ISSUER), vec![too_large()]);
    let e = w.callback_refusal(&login);
    assert_eq!(
        e,
        FlowError::from(IdpFailure::Fetch {
            endpoint: Endpoint::Jwks,
            error: FetchError::TooLarge { limit: 512 * 1024 }
        })
    );
    // An answer with a status the flow cannot use is typed too.
    let w = World::new();
    w.p.route(&discovery_url(ISSUER), vec![Ok(HttpResponse::new(503, b"down".to_vec()))]);
    let e = w.refusal(&World::login_url("alice@acme.example"), "");
    assert_eq!(
        e,
        FlowError::from(IdpFailure::Fetch {
            endpoint: Endpoint::Discovery(discovery_url(ISSUER)),
            error: FetchError::Status(503)
        })
    );
}

#[test]
fn id_token_refusals_keep_their_protocol_cause() {
    let w = World::new();
    let login = w.login("alice@acme.example");
    let mut claims = w.claims(&login);
    claims["sid"] = json!("s".repeat(300));
    w.serve_token(&login, &w.acme.sign(Key::Es, &claims));
    assert_eq!(w.callback_refusal(&login), FlowError::IdToken(IdTokenRefusal::SidTooLong(300)));
    let login = w.login("alice@acme.example");
    let mut claims = w.claims(&login);
    claims["nonce"] = json!("not-the-nonce");
    w.serve_token(&login, &w.acme.sign(Key::Es, &claims));
    assert_eq!(w.callback_refusal(&login), FlowError::IdToken(IdTokenRefusal::Claims(IdTokenError::NonceMismatch)));
    w.assert_logs_clean();
}

// ---- single use across isolates (issue 13): the network-wide store behind the ReplayGuard port ----------

impl World {
    /// `GET {url}` handled by another isolate: its own memory (`providers`), the same network-wide stores.
    fn get_in(&self, isolate: &IsolateCache, url: &str, cookie: &str) -> Response {
        let flow = Flow { config: &self.config, keys: &self.keys, platform: &self.p, providers: isolate };
        respond(pollster::block_on(flow.handle(&request(Method::Get, url, cookie))))
    }

    fn callback_in(&self, isolate: &IsolateCache, login: &Login) -> Response {
        let url = url_with(&format!("{}/auth/callback", login.site), &[("code", CODE), ("state", login.state())]);
        self.get_in(isolate, &url, &login.cookie())
    }
}

#[test]
fn a_callback_replayed_on_another_isolate_is_refused_before_the_token_request() {
    let w = World::new();
    let login = w.login("alice@acme.example");
    assert_signed_in(&w.finish_with_key(&login, Key::Es), "/docs");
    // The transaction was claimed once, in the login scope, under a hash of its state, until the cookie expires.
    let calls = w.p.claim_calls.borrow().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let (scope, key, until) = &calls[0];
    assert_eq!(scope, "login");
    assert_eq!(key.len(), 43);
    assert!(!key.contains(login.state()), "the state itself is not stored");
    assert!(*until > T0 && *until <= T0 + 600, "until {until}");

    // Another isolate: it never saw this transaction, the store did.
    let other = IsolateCache::default();
    let again = w.callback_in(&other, &login);
    assert_callback_refused(&again, 400, "login_expired");
    assert_eq!(w.token_requests(ISSUER).len(), 1, "the replay did not reach the IdP");
    assert!(
        w.p.events_named("sign_in").iter().any(|e| e["outcome"] == "failure"
            && e["connector"] == "acme"
            && e["reason"] == "login_expired"
            && e["message"].as_str().is_some_and(|m| m.contains("the login transaction was already used"))),
        "{:?}",
        w.p.logs()
    );
    // A replay on the first isolate is refused by its own memory, without asking the store.
    let again = w.callback(&login, &[("code", CODE), ("state", login.state())], &login.cookie());
    assert_callback_refused(&again, 400, "login_expired");
    assert_eq!(w.p.claim_calls.borrow().len(), 2, "the per-isolate memory is the first check");
    assert_eq!(w.token_requests(ISSUER).len(), 1);

    // A different transaction still signs in, on either isolate.
    let login = w.login("alice@acme.example");
    let token = w.acme.sign(Key::Es, &w.claims(&login));
    w.serve_token(&login, &token);
    assert_signed_in(&w.callback_in(&other, &login), "/docs");
    assert_eq!(w.token_requests(ISSUER).len(), 2);
    w.assert_logs_clean();
}

#[test]
fn the_object_a_login_is_claimed_in_cannot_be_told_from_its_state() {
    // An attacker sees the state of every login it starts (it is in the authorization URL). Were the claim key a
    // function of the state alone, it could redeem only the transactions that land in one of the 16 objects and
    // fill that object to its bound with 1/16 of the requests, refusing every sign-in on it. The key also hashes
    // the transaction's PKCE verifier, a secret sealed in the cookie.
    let w = World::new();
    let login = w.login("alice@acme.example");
    assert_signed_in(&w.finish_with_key(&login, Key::Es), "/docs");
    let calls = w.p.claim_calls.borrow().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let key = &calls[0].1;
    assert_eq!(key.len(), 43);
    assert_ne!(key, &claim_key(LOGIN_SCOPE, login.state()), "the key is computable from the state");
}

#[test]
fn a_refused_transaction_check_claims_nothing() {
    let w = World::new();
    let login = w.login("alice@acme.example");
    // A wrong state is refused before the store is asked: a forged callback cannot burn the real one.
    let r = w.get_in(
        &IsolateCache::default(),
        &url_with(&format!("{SITE}/auth/callback"), &[("code", CODE), ("state", "forged")]),
        &login.cookie(),
    );
    assert_callback_refused(&r, 400, "state_mismatch");
    assert!(w.p.claim_calls.borrow().is_empty());
    assert_signed_in(&w.finish_with_key(&login, Key::Es), "/docs");
}

#[test]
fn an_unreachable_single_use_store_fails_closed_and_sessions_keep_working() {
    let w = World::new();
    let session = session_cookie_header(&w.sign_in());
    w.p.claims_fail.set(true);
    let login = w.login("alice@acme.example");
    let r = w.finish_with_key(&login, Key::Es);
    assert_callback_refused(&r, 503, "replay_store_unavailable");
    assert_eq!(w.token_requests(ISSUER).len(), 1, "the code was not sent to the IdP");
    assert!(r.body.contains("used only once"), "{}", describe(&r));
    assert!(
        w.p.events_named("sign_in").iter().any(|e| e["reason"] == "replay_store_unavailable"
            && e["message"].as_str().is_some_and(
                |m| m.contains("(the single-use store could not be reached: the Durable Object did not answer)")
            )),
        "{:?}",
        w.p.logs()
    );
    // Existing sessions never ask the store.
    let calls = w.p.claim_calls.borrow().len();
    assert_eq!(w.get(&format!("{SITE}/auth/me"), &session).status, 200);
    let request = GateRequest { path: "/docs", cookie_header: &session, transport: Transport::Https, now: w.now() };
    assert!(matches!(gate(&w.config, &w.keys, &w.providers, &w.p, request), Gate::Allowed { .. }));
    assert_eq!(w.p.claim_calls.borrow().len(), calls);
    // The store back: a new sign-in goes through.
    w.p.claims_fail.set(false);
    w.sign_in();
    w.assert_logs_clean();
}

// ---- back-channel logout_token jti: single use across isolates (issue 13) ---------------------------------

impl World {
    fn backchannel_in(&self, isolate: &IsolateCache, token: &str) -> Response {
        let mut req = request(Method::Post, &format!("{SITE}/auth/logout/backchannel"), "");
        req.form = vec![("logout_token".to_string(), token.to_string())];
        let flow = Flow { config: &self.config, keys: &self.keys, platform: &self.p, providers: isolate };
        respond(pollster::block_on(flow.handle(&req)))
    }
}

#[test]
fn a_logout_token_replayed_on_another_isolate_is_refused() {
    let w = World::new();
    let token = logout_token(&w, "alice-sid", "jti-cross");
    assert_eq!(backchannel(&w, &token).status, 200);
    // Claimed once, in its own scope, under a hash of issuer and jti, for the hour the isolate remembers it.
    let calls = w.p.claim_calls.borrow().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let (scope, key, until) = &calls[0];
    assert_eq!(scope, LOGOUT_JTI_SCOPE);
    assert_eq!(key, &claim_key(LOGOUT_JTI_SCOPE, &format!("{ISSUER}\0jti-cross")));
    assert_eq!(*until, w.now() + 3600);
    // Another isolate never saw the jti; the store did.
    let other = IsolateCache::default();
    let r = w.backchannel_in(&other, &token);
    assert_eq!(r.status, 400, "{}", describe(&r));
    assert!(
        w.p.events_named("revocation").iter().any(|e| e["channel"] == "back_channel"
            && e["outcome"] == "failure"
            && e["message"] == "back-channel logout refused: replayed jti"),
        "{:?}",
        w.p.logs()
    );
    // The per-isolate memory is still the first check: a replay there does not ask the store.
    assert_eq!(backchannel(&w, &token).status, 400);
    assert_eq!(w.p.claim_calls.borrow().len(), 2);
    // Another jti from the same issuer is its own claim, on either isolate.
    assert_eq!(w.backchannel_in(&other, &logout_token(&w, "alice-sid", "jti-other")).status, 200);
    w.assert_logs_clean();
}

#[test]
fn a_logout_whose_revocation_was_not_recorded_is_retried_on_any_isolate() {
    // The claim in the store cannot be given back: it is made only once the revocation is recorded, so a
    // failed write leaves the jti unclaimed and the IdP's retry (on any isolate) is recorded.
    let w = World::new();
    let alice = session_cookie(&w, "acme", ISSUER, Some("alice-sid"));
    let token = logout_token(&w, "alice-sid", "jti-write-failed");
    w.p.record_fails.set(true);
    assert_eq!(backchannel(&w, &token).status, 500);
    w.p.record_fails.set(false);
    assert!(w.p.claim_calls.borrow().is_empty(), "nothing claimed for a logout that was not recorded");
    let other = IsolateCache::default();
    let r = w.backchannel_in(&other, &token);
    assert_eq!(r.status, 200, "the retry is recorded: {}", describe(&r));
    assert_eq!(me_status(&w, &alice), 401);
    assert_eq!(backchannel(&w, &token).status, 400, "then it is single use everywhere");
}

#[test]
fn a_logout_is_recorded_when_the_single_use_store_cannot_answer() {
    // Ending sessions is the safe side: a store that cannot answer does not lose the logout; it is logged.
    let w = World::new();
    let alice = session_cookie(&w, "acme", ISSUER, Some("alice-sid"));
    w.p.claims_fail.set(true);
    let r = backchannel(&w, &logout_token(&w, "alice-sid", "jti-store-down"));
    assert_eq!(r.status, 200, "{}", describe(&r));
    assert_eq!(me_status(&w, &alice), 401);
    assert!(
        w.p.events_named("revocation").iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("back-channel logout recorded, its jti not checked network-wide:"))),
        "{:?}",
        w.p.logs()
    );
    w.assert_logs_clean();
}

#[test]
fn a_sub_logout_token_replayed_on_another_isolate_ends_no_session_signed_in_since() {
    // The revocation is recorded before the jti is claimed (so that a failed write stays retryable): a replay on
    // another isolate records it again. A `sub` token's revocation time is bounded by its `iat` (plus leeway),
    // so recorded again a minute later it does not reach the user's sessions signed in since.
    let w = World::new();
    let leeway = w.config.clock_leeway_seconds;
    let old = session_cookie(&w, "acme", ISSUER, None);
    let now = w.now();
    let header = json!({"alg": "ES256", "kid": w.acme.kid(Key::Es), "typ": "logout+jwt"});
    let claims = json!({"iss": ISSUER, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "jti": "jti-sub",
                        "events": {EVENT_BACKCHANNEL: {}}, "sub": "sub-of-acme"});
    let token = w.acme.sign_with_header(Key::Es, &header, &claims);
    assert_eq!(backchannel(&w, &token).status, 200);
    assert_eq!(me_status(&w, &old), 401);
    // The user signs in again after the logout; the same token is replayed on another isolate.
    w.p.advance(leeway + 60);
    let new = session_cookie(&w, "acme", ISSUER, None);
    let other = IsolateCache::default();
    let r = w.backchannel_in(&other, &token);
    assert_eq!(r.status, 400, "{}", describe(&r));
    // The isolate that took the replay (it holds the entry in memory), and the store every isolate reloads.
    let me = format!("{SITE}/auth/me");
    assert_eq!(w.get_in(&other, &me, &new).status, 200, "the replay ended a session signed in after the logout");
    assert_eq!(w.get_in(&other, &me, &old).status, 401);
    w.p.advance(REFRESH_SECONDS);
    pollster::block_on(w.providers.revocations.reload(&w.p, w.now()));
    assert_eq!(me_status(&w, &new), 200);
    assert_eq!(me_status(&w, &old), 401);
}

// ---- GET /auth/health -----------------------------------------------------------------------------------

fn health(w: &World) -> (u16, serde_json::Value) {
    let r = w.get(&format!("{SITE}/auth/health"), "");
    assert_eq!(r.header("content-type"), Some("application/json"), "{}", describe(&r));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    (r.status, serde_json::from_str(&r.body).unwrap())
}

/// Health counts IdP documents by their state in this isolate (never naming a connector, an issuer or a URL),
/// and says whether the revocation list is current.
#[test]
fn health_reports_documents_and_the_revocation_list_without_the_configuration() {
    let w = World::new();
    let n = w.config.connectors.len();
    let (status, body) = health(&w);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({"status": "ok", "config": "loaded",
            "idp_documents": {"fresh": 0, "stale": 0, "not_read": n}, "revocations": "current"})
    );
    // A sign-in reads the discovery document: fresh; past its lifetime, stale (still used).
    let login = w.login("alice@acme.example");
    let _ = w.finish_with_key(&login, Key::Es);
    assert_eq!(health(&w).1["idp_documents"], serde_json::json!({"fresh": 1, "stale": 0, "not_read": n - 1}));
    w.p.advance(2 * 86_400);
    assert_eq!(health(&w).1["idp_documents"], serde_json::json!({"fresh": 0, "stale": 1, "not_read": n - 1}));
    let text = w.get(&format!("{SITE}/auth/health"), "").body;
    for secret in [ISSUER, "acme", "acme.example"] {
        assert!(!text.contains(secret), "health names {secret:?}: {text}");
    }
}

#[test]
fn health_is_degraded_while_the_revocation_list_cannot_be_read() {
    let w = World::new();
    w.p.list_fails.set(true);
    load_store(&w);
    let (status, body) = health(&w);
    assert_eq!(status, 503);
    assert_eq!((body["status"].as_str(), body["revocations"].as_str()), (Some("degraded"), Some("unavailable")));
    w.p.list_fails.set(false);
    w.p.advance(10);
    load_store(&w);
    assert_eq!(health(&w), (200, health(&w).1));
    assert_eq!(health(&w).1["revocations"], "current");
}

#[test]
fn health_answers_get_and_head_only() {
    let w = World::new();
    let r = w.handle(&request(Method::Post, &format!("{SITE}/auth/health"), ""));
    assert_eq!(r.status, 405, "{}", describe(&r));
    assert_eq!(w.handle(&request(Method::Head, &format!("{SITE}/auth/health"), "")).status, 200);
}

#[test]
fn health_of_a_configuration_that_does_not_load_says_only_that() {
    let r = edge_auth::core::flow::health::config_error_health();
    assert_eq!(r.status, 503);
    assert_eq!(r.body, r#"{"status":"error","config":"invalid"}"#);
}

// ---- the operator log: structured events (docs/logging.md) --------------------------------------------

/// The one event named `name`, asserted to be the only one.
fn only_event(w: &World, name: &str) -> Value {
    let events = w.p.events_named(name);
    assert_eq!(events.len(), 1, "one {name} event: {events:?}");
    events.into_iter().next().unwrap_or_default()
}

/// Every line of the log is one JSON object with `event`, `level` and the request's id.
fn assert_every_line_is_an_event(w: &World) {
    for e in w.p.events() {
        assert!(e["event"].is_string() && e["level"].is_string(), "{e}");
        assert_eq!(e["request_id"], testkit::platform::TEST_REQUEST_ID, "{e}");
    }
}

#[test]
fn a_sign_in_is_one_info_event_with_who_signed_in() {
    let w = World::new();
    let r = w.sign_in();
    let e = only_event(&w, "sign_in");
    assert_eq!(
        (&e["level"], &e["outcome"], &e["connector"], &e["subject"], &e["email"], &e["session_id"]),
        (
            &json!("info"),
            &json!("success"),
            &json!("acme"),
            &json!("u-alice"),
            &json!("alice@acme.example"),
            &json!("idp-session-1")
        )
    );
    assert!(w.p.logs().is_empty(), "no warning: {:?}", w.p.logs());
    // Never the session cookie's value, the code, the tokens or the client secret (assert_logs_clean: the
    // rest), whatever the event.
    let session_value = cookie_value(session_line(&r)).to_string();
    assert!(w.p.lines.borrow().iter().all(|l| !l.contains(&session_value)));
    assert_every_line_is_an_event(&w);
    w.assert_logs_clean();
}

#[test]
fn failed_sign_ins_name_the_connector_the_reason_and_the_idp_error() {
    let w = World::new();
    // The IdP's error: its code, never its error_description (text of the IdP's, or of whoever sent the link).
    let login = w.login("alice@acme.example");
    let pairs =
        [("error", "access_denied"), ("error_description", "PWNED <script>x</script>"), ("state", login.state())];
    assert_callback_refused(&w.callback(&login, &pairs, &login.cookie()), 403, "idp_error");
    let e = only_event(&w, "sign_in");
    assert_eq!(
        (&e["level"], &e["outcome"], &e["connector"], &e["reason"], &e["idp_error"]),
        (&json!("warn"), &json!("failure"), &json!("acme"), &json!("idp_error"), &json!("access_denied"))
    );
    assert!(w.p.lines.borrow().iter().all(|l| !l.contains("PWNED")), "{:?}", w.p.logs());
    // Another state: the transaction's connector, the refusal's code.
    let login = w.login("alice@acme.example");
    assert_callback_refused(
        &w.callback(&login, &[("code", CODE), ("state", "forged")], &login.cookie()),
        400,
        "state_mismatch",
    );
    let e = w.p.events_named("sign_in").pop().unwrap_or_default();
    assert_eq!((&e["connector"], &e["reason"], e.get("idp_error")), (&json!("acme"), &json!("state_mismatch"), None));
    // No transaction: no connector known.
    let r = w.callback(&login, &[("code", CODE), ("state", login.state())], "");
    assert_callback_refused(&r, 400, "login_expired");
    let e = w.p.events_named("sign_in").pop().unwrap_or_default();
    assert_eq!((e.get("connector"), &e["reason"]), (None, &json!("login_expired")));
    // A refusal at the start of a sign-in: a failed sign_in too.
    let r = w.get(&format!("{SITE}/auth/login?email=someone%40nowhere.example"), "");
    assert_refused(&r, 403, "unknown_domain");
    let e = w.p.events_named("sign_in").pop().unwrap_or_default();
    assert_eq!((e.get("connector"), &e["reason"]), (None, &json!("unknown_domain")));
    // Outside a sign-in: request_refused, with the path and never the query.
    let r = w.get(&format!("{SITE}/auth/nothing?code={CODE}"), "");
    assert_eq!(r.status, 404);
    let e = only_event(&w, "request_refused");
    assert_eq!((&e["method"], &e["path"], &e["reason"]), (&json!("GET"), &json!("/auth/nothing"), &json!("not_found")));
    assert_every_line_is_an_event(&w);
    w.assert_logs_clean();
}

#[test]
fn sign_outs_and_revocations_are_events_with_the_session_they_end() {
    let w = World::new();
    let session = session_cookie_header(&w.sign_in());
    let r = w.handle(&logout_request(&session, Some(SITE), None));
    assert_eq!(r.status, 302, "{}", describe(&r));
    let e = only_event(&w, "sign_out");
    assert_eq!(
        (&e["level"], &e["outcome"], &e["channel"], &e["connector"], &e["subject"], &e["session_id"]),
        (
            &json!("info"),
            &json!("success"),
            &json!("logout"),
            &json!("acme"),
            &json!("u-alice"),
            &json!("idp-session-1")
        )
    );
    // Back-channel: the IdP ends a session by its sid.
    let alice = session_cookie(&w, "acme", ISSUER, Some("alice-sid"));
    assert_eq!(backchannel(&w, &logout_token(&w, "alice-sid", "jti-log")).status, 200);
    assert_eq!(me_status(&w, &alice), 401);
    let e = only_event(&w, "revocation");
    assert_eq!(
        (&e["outcome"], &e["channel"], &e["connector"], &e["session_id"], &e["issuer"]),
        (&json!("success"), &json!("back_channel"), &json!("acme"), &json!("alice-sid"), &json!(ISSUER))
    );
    // Front-channel.
    assert_eq!(frontchannel(&w, &[("iss", ISSUER), ("sid", "front-sid")], "").status, 200);
    let e = w.p.events_named("revocation").pop().unwrap_or_default();
    assert_eq!(
        (&e["channel"], &e["connector"], &e["session_id"]),
        (&json!("front_channel"), &json!("acme"), &json!("front-sid"))
    );
    // A refused logout token: a failure, why in the message, never the token.
    let token = logout_token(&w, "x", "jti-log");
    assert_eq!(backchannel(&w, &token).status, 400);
    let e = w.p.events_named("revocation").pop().unwrap_or_default();
    assert_eq!((&e["outcome"], &e["reason"]), (&json!("failure"), &json!("invalid_logout_token")));
    assert!(w.p.lines.borrow().iter().all(|l| !l.contains(&token)));
    assert_every_line_is_an_event(&w);
    w.assert_logs_clean();
}

#[test]
fn an_idp_outage_is_an_idp_fetch_failed_event() {
    let w = World::new();
    w.p.route(&discovery_url(ISSUER), vec![json_response(503, &json!({}))]);
    let r = w.get(&format!("{SITE}/auth/login?email=alice%40acme.example"), "");
    assert_refused(&r, 502, "idp_unreachable");
    let e = only_event(&w, "idp_fetch_failed");
    assert_eq!(
        (&e["level"], &e["connector"], &e["issuer"], &e["document"], &e["status"], &e["error_class"], &e["stale"]),
        (
            &json!("warn"),
            &json!("acme"),
            &json!(ISSUER),
            &json!("discovery"),
            &json!(503),
            &json!("status"),
            &json!(false)
        )
    );
    // The sign-in that could not start: its reason (the connector is the idp_fetch_failed event's).
    let e = only_event(&w, "sign_in");
    assert_eq!((&e["outcome"], &e["reason"]), (&json!("failure"), &json!("idp_unreachable")));
    w.p.route(&discovery_url(ISSUER), vec![network_error()]);
    w.p.advance(60);
    assert_refused(&w.get(&format!("{SITE}/auth/login?email=alice%40acme.example"), ""), 502, "idp_unreachable");
    let e = w.p.events_named("idp_fetch_failed").pop().unwrap_or_default();
    assert_eq!((e.get("status"), &e["error_class"]), (None, &json!("network")));
    assert_every_line_is_an_event(&w);
}
