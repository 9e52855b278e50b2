//! The oracles of `callback_flow`, checked after every step; each panics (message `oracle: ...`) when a rule is
//! broken. This module holds the rules about any response (status, secrets, markup, cookie attributes, redirects
//! of unauthenticated visitors, channel logouts); the others, one concern each:
//!
//! - [`gate`]: the session gate's decisions (expiry, idle timeout, revocations, access policies, renewal);
//! - [`callback`]: the callback's binding to its login transaction (`state`, response mode, single use);
//! - [`session`]: a session the callback issues (connector, domain, lifetime, redirect, the ID token's claims);
//! - [`transaction`]: a login transaction the login issues (return_to, redirect_uri, PKCE, the front channel);
//! - [`model`]: the reference model they decide with, written from the specification.

pub(crate) mod callback;
pub(crate) mod gate;
pub mod model;
pub(crate) mod session;
pub(crate) mod transaction;

use edge_auth::core::config::Config;
use edge_auth::core::flow::{is_auth_path, Gate};
use edge_auth::core::http::{Method, Outcome, Request, Response};
use edge_auth::core::oidc::jwks::{Alg, Jwk};
use edge_auth::core::pages::LOGIN_SCRIPT_TAG;
use edge_auth::core::session::cookies::{CookieKind, Transport};
use edge_auth::core::session::revocation::Revocation;
use edge_auth::core::url::transport_of;
use url::form_urlencoded;

use super::driver::{cookie_pair, method_str};
use super::input::{FlowInput, Step};
use crate::fixtures::{CLIENT_SECRETS, SESSION_KEY_1, SESSION_KEY_2};

/// What one step did, as the oracles see it.
pub(crate) struct Oracle<'a> {
    pub(crate) input: &'a FlowInput,
    /// The configuration as the crate parsed it (for its values only: issuers, Entra authority, tenants).
    pub(crate) config: &'a Config,
    pub(crate) url: &'a url::Url,
    pub(crate) step: &'a Step,
    pub(crate) request: &'a Request,
    pub(crate) now: u64,
    /// The log lines of this step (every level: a sign-in's `info` event too).
    pub(crate) log: &'a [String],
    /// The (alg, key) pairs the verifier was asked about in this step.
    pub(crate) verified: &'a [(Alg, Jwk)],
    pub(crate) last_token_body: Option<Vec<u8>>,
    /// Every revocation written to the store so far (this step's last).
    pub(crate) revocations: &'a [Revocation],
    /// How many of them this step wrote.
    pub(crate) new_revocations: usize,
    /// The session gate's decision, for protected content, and the canonical path it decided on.
    pub(crate) gate: Option<(&'a str, &'a Gate)>,
}

/// What earlier steps of one run established.
#[derive(Debug, Default)]
pub(crate) struct History {
    /// The `state` of every login transaction a callback signed in with (each may serve once).
    pub(crate) spent_states: Vec<String>,
}

fn secrets() -> impl Iterator<Item = &'static str> {
    CLIENT_SECRETS.iter().map(|(_, v)| *v).chain([SESSION_KEY_1, SESSION_KEY_2])
}

impl Oracle<'_> {
    /// Check one step's outcome; `history` carries what earlier steps of the run established.
    pub(in crate::flow) fn check(&self, outcome: &Outcome, history: &mut History) {
        let url = self.url;
        if let Some((path, decision)) = self.gate {
            gate::check(self, path, decision);
        }
        match outcome {
            Outcome::PassThrough => {
                assert!(
                    !is_auth_path(url.path()) || url.path().starts_with("/auth/static/"),
                    "oracle: PassThrough for an /auth/ route {}",
                    url.path()
                );
            }
            Outcome::ServeAuthStatic { headers } => {
                assert!(url.path().starts_with("/auth/static/"), "oracle: auth static answer for {}", url.path());
                let csp = headers.iter().find(|(n, _)| *n == "content-security-policy").map(|(_, v)| v.as_str());
                assert!(
                    csp.is_some_and(|v| v.contains("frame-ancestors 'none'")),
                    "oracle: an /auth/static/ file that could be framed"
                );
            }
            Outcome::Respond(r) => self.check_response(url, history, r),
        }
    }

    fn check_response(&self, url: &url::Url, history: &mut History, r: &Response) {
        let transport = transport_of(url);
        assert!((100..=599).contains(&r.status), "oracle: status {}", r.status);

        // Secrets never reach a visitor or the log.
        let mut texts: Vec<&str> = vec![r.body.as_str()];
        texts.extend(r.headers.iter().map(|(_, v)| v.as_str()));
        texts.extend(self.log.iter().map(String::as_str));
        for secret in secrets() {
            if texts.iter().any(|t| t.contains(secret)) && !format!("{:?}", self.input).contains(secret) {
                panic!("oracle: secret {secret:?} leaked into a response or log line: {texts:?}");
            }
        }

        // Pages we render carry no markup from outside.
        let is_html = r.header("content-type").is_some_and(|c| c.starts_with("text/html"));
        if is_html {
            // The one script of ours: the login page's own file (its CSP allows 'self' only). Anything else that
            // opens a script element came from outside.
            let ours = r.body.replacen(LOGIN_SCRIPT_TAG, "", 1);
            assert!(!ours.to_ascii_lowercase().contains("<script"), "oracle: <script in a rendered page");
        }

        let set_cookies: Vec<&str> =
            r.headers.iter().filter(|(k, _)| *k == "set-cookie").map(|(_, v)| v.as_str()).collect();
        if transport == Some(Transport::Https) {
            for c in &set_cookies {
                assert!(
                    c.starts_with("__Host-")
                        && c.contains("; Secure")
                        && c.contains("HttpOnly")
                        && c.contains("Path=/"),
                    "oracle: https cookie without __Host-/Secure/HttpOnly/Path=/: {c}"
                );
                assert!(!c.contains("Domain"), "oracle: cookie with Domain: {c}");
            }
        }

        let Some(transport) = transport else { return };
        let tx_name = CookieKind::LoginTransaction.name(transport);
        let session_name = CookieKind::Session.name(transport);
        let path = url.path();
        let method = Method::parse(method_str(&self.step.method));

        if path == "/auth/callback" && matches!(method, Method::Get | Method::Post) {
            callback::check(self, transport, method, &set_cookies, history);
        }

        // A logout the IdP asked for, and accepted, is recorded in the revocation store.
        if matches!(path, "/auth/logout/frontchannel" | "/auth/logout/backchannel") && r.status == 200 {
            assert!(self.new_revocations > 0, "oracle: channel logout accepted without a revocation");
        }

        for c in &set_cookies {
            let Some((name, value)) = cookie_pair(c) else { continue };
            if value.is_empty() {
                continue;
            }
            if name == session_name {
                session::check_new_session(self, path, name, value, r);
            } else if name == tx_name {
                transaction::check_new_transaction(self, url, name, value, r);
            } else {
                panic!("oracle: unexpected cookie {name:?} set");
            }
        }

        // An unauthenticated navigation goes to the login page with a safe return_to only.
        if !is_auth_path(path) && r.status == 302 {
            let location = r.header("location").unwrap_or_default();
            if location != "/auth/login" {
                let rest = location
                    .strip_prefix("/auth/login?return_to=")
                    .unwrap_or_else(|| panic!("oracle: unauthenticated redirect to {location:?}"));
                let decoded: String = form_urlencoded::parse(format!("r={rest}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                assert!(model::is_local_target(&decoded), "oracle: unsafe return_to in {location:?}");
            }
        }
    }
}
