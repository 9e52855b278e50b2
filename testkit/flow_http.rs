//! The browser's side of the host flow tests (tests/saml_flow.rs, tests/wsfed_flow.rs): requests as the worker
//! receives them, the cookies of its answers, the assertions every sign-in test makes (a refusal sets no session
//! and clears the federation transaction; a sign-in sets a sealed `SameSite=Lax` session), and [`World`]: a
//! configuration, session keys, one isolate's caches and the fake platform, driving `Flow::route` /
//! `Flow::handle`. Each test file adds its protocol's steps (`login`, `post`…) in its own `impl World`.

use edge_auth::core::config::Config;
use edge_auth::core::error::FlowError;
use edge_auth::core::fetch::HttpResponse;
use edge_auth::core::flow::{authenticate, Flow, IsolateCache};
use edge_auth::core::http::{Method, Outcome, Request, Response};
use edge_auth::core::session::codec::KeyRing;
use edge_auth::core::session::cookies::Transport;
use edge_auth::core::session::record::Session;
use url::Url;

use super::{fixtures, Answer, FakePlatform, Verifier};

/// The protected site's origin.
pub const SITE: &str = "https://site.example";
pub const SESSION_COOKIE: &str = "__Host-edge-auth-session";
/// The transaction cookie of SAML and WS-Federation sign-ins (one cookie for both protocols).
pub const SAML_TX_COOKIE: &str = "__Host-edge-auth-saml-tx";

// ---- requests ----------------------------------------------------------------------------------------

pub fn get(url: &str, cookie: &str) -> Request {
    Request {
        method: Method::Get,
        url: Url::parse(url).unwrap(),
        cookie_header: cookie.to_string(),
        origin_header: None,
        sec_fetch_site: None,
        accept_language: None,
        form: Vec::new(),
    }
}

/// The browser's cross-site form POST to `url` of a page at `from` (an IdP's answer).
pub fn cross_site_post(url: &str, from: &str, cookie: &str, form: &[(&str, &str)]) -> Request {
    Request {
        method: Method::Post,
        url: Url::parse(url).unwrap(),
        cookie_header: cookie.to_string(),
        origin_header: Some(from.to_string()),
        sec_fetch_site: Some("cross-site".into()),
        accept_language: None,
        form: form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

// ---- responses ---------------------------------------------------------------------------------------

pub fn set_cookies(r: &Response) -> Vec<&str> {
    r.headers.iter().filter(|(k, _)| *k == "set-cookie").map(|(_, v)| v.as_str()).collect()
}

pub fn set_cookie_line<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    set_cookies(r).into_iter().find(|c| c.split_once('=').is_some_and(|(k, _)| k == name))
}

pub fn cookie_value(line: &str) -> String {
    line.split(';').next().unwrap().split_once('=').unwrap().1.to_string()
}

pub fn cookie_attrs(line: &str) -> Vec<&str> {
    line.split(';').skip(1).map(str::trim).collect()
}

/// The `Cookie` header that sends back the cookie a `Set-Cookie` line set.
pub fn cookie_header_of(line: &str) -> String {
    line.split(';').next().unwrap().to_string()
}

pub fn describe(r: &Response) -> String {
    format!(
        "status {} error {:?} location {:?} cookies {:?}",
        r.status,
        r.header("x-edge-auth-error"),
        r.header("location"),
        set_cookies(r)
    )
}

/// The response the visitor gets (every visitor page is rendered by the worker).
pub fn respond(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Respond(r) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

/// No session cookie with a value is set (deleting one is fine), under the HTTPS or the loopback name.
pub fn assert_no_session_cookie(r: &Response) {
    for name in [SESSION_COOKIE, "edge-auth-session"] {
        if let Some(line) = set_cookie_line(r, name) {
            assert_eq!(cookie_value(line), "", "a session cookie was set on a refusal: {line:?}");
        }
    }
}

/// The cookie `name` is deleted by this response.
pub fn assert_cookie_deleted(r: &Response, name: &str) {
    let line = set_cookie_line(r, name).unwrap_or_else(|| panic!("{name} is not deleted: {}", describe(r)));
    assert_eq!(cookie_value(line), "", "{line:?}");
    assert!(cookie_attrs(line).contains(&"Max-Age=0"), "{line:?}");
}

/// The SAML (and WS-Federation) transaction cookie is deleted by this response.
pub fn assert_tx_cleared(r: &Response) {
    assert_cookie_deleted(r, SAML_TX_COOKIE);
}

/// A refused answer of the IdP: the status and code, no redirect, no session, the transaction cookie spent.
pub fn assert_refused(r: &Response, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", describe(r));
    assert_eq!(r.header("x-edge-auth-error"), Some(code), "{}", describe(r));
    assert_eq!(r.header("location"), None, "{}", describe(r));
    assert_no_session_cookie(r);
    assert_tx_cleared(r);
}

/// A successful answer of the IdP: 302 to `return_to`, the transaction cleared, a sealed and encrypted
/// `SameSite=Lax` session cookie of `max_age` seconds.
pub fn assert_signed_in(r: &Response, return_to: &str, max_age: u64) {
    assert_eq!(r.status, 302, "{}", describe(r));
    assert_eq!(r.header("x-edge-auth-error"), None, "{}", describe(r));
    assert_eq!(r.header("location"), Some(return_to), "{}", describe(r));
    assert_tx_cleared(r);
    let line = set_cookie_line(r, SESSION_COOKIE).unwrap_or_else(|| panic!("no session cookie: {}", describe(r)));
    assert!(cookie_value(line).starts_with("v1e."), "sealed and encrypted (session.encrypt): {line:?}");
    let attrs = cookie_attrs(line);
    for a in ["Path=/", "HttpOnly", "Secure", "SameSite=Lax"] {
        assert!(attrs.contains(&a), "{a} missing in {line:?}");
    }
    assert!(attrs.contains(&format!("Max-Age={max_age}").as_str()), "Max-Age={max_age} missing in {line:?}");
}

/// A metadata document served with status 200.
pub fn metadata_answer(body: String, fresh_for: Option<u64>) -> Answer {
    Ok(HttpResponse { status: 200, body: body.into_bytes(), fresh_for })
}

// ---- the world ---------------------------------------------------------------------------------------

/// One isolate of the worker with its configuration, keys and caches, on the fake platform (`ring` verifies).
pub struct World {
    pub p: FakePlatform<'static>,
    pub config: Config,
    pub keys: KeyRing,
    pub providers: IsolateCache,
}

impl World {
    pub fn with_config(p: FakePlatform<'static>, config_json: &str) -> World {
        World {
            p: p.with_verifier(Verifier::Ring),
            config: Config::from_json(config_json).unwrap(),
            keys: KeyRing::from_secret(&fixtures::session_keys_secret()).unwrap(),
            providers: IsolateCache::default(),
        }
    }

    pub fn now(&self) -> u64 {
        self.p.now.get()
    }

    pub fn flow(&self) -> Flow<'_, FakePlatform<'static>> {
        Flow { config: &self.config, keys: &self.keys, platform: &self.p, providers: &self.providers }
    }

    /// The typed result of a request (a refusal as its `FlowError`).
    pub fn route(&self, req: &Request) -> Result<Outcome, (FlowError, Vec<String>)> {
        pollster::block_on(self.flow().route(req))
    }

    /// What the browser gets (a refusal logged and rendered, as the worker does), then the background
    /// refreshes the request asked for, as the worker runs them after answering.
    pub fn handle(&self, req: &Request) -> Response {
        let response = respond(pollster::block_on(self.flow().handle(req)));
        if self.providers.refresh_pending() {
            pollster::block_on(self.flow().refresh_due());
        }
        response
    }

    /// `GET /auth/login?email=…&return_to=/docs` for a SAML or WS-Fed domain: the redirect to the IdP and the
    /// `Set-Cookie` line of the transaction, the only cookie set.
    pub fn start_federated_login(&self, email: &str) -> (Url, String) {
        let url =
            Url::parse_with_params(&format!("{SITE}/auth/login"), [("email", email), ("return_to", "/docs")]).unwrap();
        let r = self.handle(&get(url.as_str(), ""));
        assert_eq!(r.status, 302, "{} {:?}", describe(&r), self.p.logs());
        let location = Url::parse(r.header("location").unwrap()).unwrap();
        let tx_line = set_cookie_line(&r, SAML_TX_COOKIE).unwrap_or_else(|| panic!("no tx cookie: {}", describe(&r)));
        assert_eq!(set_cookies(&r).len(), 1, "only the transaction cookie is set at login");
        (location, tx_line.to_string())
    }

    pub fn last_log(&self) -> String {
        self.p.logs().last().cloned().unwrap_or_default()
    }

    /// The session the response's cookie carries.
    pub fn session_of(&self, r: &Response) -> Session {
        let line = set_cookie_line(r, SESSION_COOKIE).unwrap_or_else(|| panic!("no session cookie: {}", describe(r)));
        let header = format!("{SESSION_COOKIE}={}", cookie_value(line));
        authenticate(&header, Transport::Https, &self.keys, self.now()).expect("the session authenticates")
    }

    /// How many claims were made in the single-use store under `scope`.
    pub fn claims_in(&self, scope: &str) -> usize {
        self.p.claim_calls.borrow().iter().filter(|(s, _, _)| s == scope).count()
    }

    /// What the platform does before a request with a shared revocation log: plan the reload (the worker's
    /// log is shared), then run it.
    pub fn load_revocations(&self) {
        self.providers.revocations.plan_reload(self.now());
        pollster::block_on(self.providers.revocations.reload(&self.p, self.now()));
    }
}
