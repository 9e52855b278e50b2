//! What the worker decides about a request for the site (not `/auth/*`) before the session gate: whether the
//! hot path may hand it to the static assets untouched ([`fast_gate`]), and the canonical path it is decided on
//! and forwarded at ([`site_path`]); and the answer when the platform itself fails ([`internal_error`]).

use std::borrow::Cow;

use crate::core::deployment::Ready;
use crate::core::error::FlowError;
use crate::core::flow::{gate, is_auth_path, Gate, GateRequest, IsolateCache};
use crate::core::http::Response;
use crate::core::log::{Event, Kind, Level};
use crate::core::path::canonicalize;
use crate::core::ports::{CryptoError, Log, Rng};
use crate::core::url::split_runtime_url;

/// The hot path, before anything else: `true` means "a valid session (or a public path) for static content,
/// nothing to renew" — the request may go to the static assets as received. Anything else (`false`) goes to the
/// full handler, which decides again: origin mode, a revocation list not known to be current, `/auth/*`, a path
/// that is not its own canonical form, a URL the runtime did not hand over in its usual shape, a renewal due.
pub fn fast_gate(ready: &Ready, cache: &IsolateCache, url: &str, cookie_header: &str, now: u64) -> bool {
    if ready.config.origin.is_some() || (ready.revocations_bound && !cache.revocations.is_settled(now)) {
        return false;
    }
    // workerd hands over a normalised absolute URL: split it without the URL parser; anything unusual goes
    // to the full handler.
    let Some((transport, path)) = split_runtime_url(url) else { return false };
    if is_auth_path(path) {
        return false;
    }
    // Only a path that is its own canonical form may be handed to the asset server as received.
    if !matches!(canonicalize(path), Ok(Cow::Borrowed(_))) {
        return false;
    }
    let request = GateRequest { path, cookie_header, transport, now };
    matches!(
        gate(&ready.config, &ready.keys, cache, &NoRenewalRng, request),
        Gate::Allowed { renewal_due: false, .. } | Gate::Public
    )
}

/// The fast path's answer to the JS entry (`src/js/entry.mjs`), as a number: `0` the full handler, `1` the static
/// assets as received, `2` the static assets unless the request carries `Origin`, `Edge-Auth-Client-Id` or
/// `Edge-Auth-Client-Secret` (then the full handler: CORS or a service token may decide it). `2` only when the
/// configuration has `cors` or `service_tokens`, so sites without them pay no header lookups.
pub fn fast_path(ready: &Ready, cache: &IsolateCache, url: &str, cookie_header: &str, now: u64) -> u32 {
    if !fast_gate(ready, cache, url, cookie_header, now) {
        0
    } else if ready.config.service_tokens.is_empty() && ready.config.cors.is_empty() {
        1
    } else if split_runtime_url(url).is_some_and(|(_, path)| crate::core::cors::covers(&ready.config.cors, path)) {
        // A CORS path: its every answer carries `Vary: Origin` (and the grant), which the full handler adds.
        0
    } else {
        2
    }
}

/// The fast path never renews (it answers `false` when a renewal is due), so it needs no randomness.
/// (A renewal the gate would attempt regardless fails here and is redone by the full handler.)
struct NoRenewalRng;

impl Rng for NoRenewalRng {
    fn fill(&self, _buf: &mut [u8]) -> Result<(), CryptoError> {
        Err(CryptoError("no randomness on the fast path".into()))
    }
}

/// The canonical form of a site path (not `/auth/*`): what is decided on, and exactly what is forwarded. A path
/// that cannot be canonicalised, or that names `/auth/` only once normalised, is answered `400 bad_path` (and
/// logged).
pub fn site_path<'p>(path: &'p str, log: &impl Log) -> Result<Cow<'p, str>, Response> {
    let why = match canonicalize(path) {
        Ok(canonical) if !is_auth_path(&canonical) => return Ok(canonical),
        Err(why) => why.describe(),
        Ok(_) => "the path names /auth/ only once normalised",
    };
    // The path itself is left out: it is what could not be read (control characters, malformed escapes).
    log.event(&Event::new(Kind::RequestRefused, Level::Warn).reason("bad_path").message(why));
    Err(FlowError::BadPath(why).to_html_response())
}

/// The answer when the platform itself failed (the operator's log has the error): `500`, plain text, never
/// cached.
pub fn internal_error() -> Response {
    Response {
        status: 500,
        headers: vec![("content-type", "text/plain; charset=utf-8".into()), ("cache-control", "no-store".into())],
        body: "edge-auth could not handle this request; the operator has the details in the logs.".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::core::secret::Secret;
    use crate::core::session::record::Session;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY";
    const NOW: u64 = 1_750_000_000;
    const CONNECTOR: &str = r#"{"id":"acme","kind":"oidc","issuer":"https://idp.acme.example","client_id":"edge",
        "client_secret_binding":"ACME_SECRET","domains":["acme.example"]}"#;

    struct Vars;

    impl crate::core::ports::Secrets for Vars {
        fn secret(&self, binding: &str) -> Option<Secret<String>> {
            match binding {
                "ACME_SECRET" => Some(Secret::new("s".into())),
                "SESSION_KEYS" => Some(Secret::new(KEY.into())),
                _ => None,
            }
        }
    }

    #[derive(Default)]
    struct Logs(RefCell<Vec<String>>);

    impl Log for Logs {
        fn event(&self, event: &Event) {
            self.0.borrow_mut().push(event.to_json(None));
        }
    }

    fn ready(extra: &str, revocations_bound: bool) -> Ready {
        let config = format!(r#"{{"connectors":[{CONNECTOR}]{extra}}}"#);
        Ready::from_bindings(&config, &Vars, revocations_bound).unwrap()
    }

    fn cookie(ready: &Ready, renewed_at: u64) -> String {
        let session = Session {
            sub: "u-1".into(),
            email: "alice@acme.example".into(),
            name: None,
            connector: "acme".into(),
            iss: "https://idp.acme.example".into(),
            iat: renewed_at,
            exp: NOW + 3600,
            sid: None,
            renewed_at,
            groups: vec![],
        };
        format!("__Host-edge-auth-session={}", session.seal(&ready.keys, "__Host-edge-auth-session"))
    }

    #[test]
    fn only_simple_static_requests_take_the_fast_path() {
        let static_site = ready("", false);
        let cache = IsolateCache::default();
        let signed_in = cookie(&static_site, NOW - 60);
        let fast = |ready: &Ready, url: &str, cookie: &str| fast_gate(ready, &cache, url, cookie, NOW);
        assert!(fast(&static_site, "https://app.example/docs/a.html", &signed_in));
        assert!(!fast(&static_site, "https://app.example/docs/a.html", ""), "no session: the full handler");
        assert!(!fast(&static_site, "https://app.example/docs/a.html", "__Host-edge-auth-session=forged"));
        assert!(!fast(&static_site, "https://app.example/auth/me", &signed_in), "/auth/*");
        assert!(!fast(&static_site, "https://app.example/auth", &signed_in));
        assert!(!fast(&static_site, "https://app.example/%61dmin", &signed_in), "not its canonical form");
        assert!(!fast(&static_site, "https://app.example/a//b", &signed_in));
        assert!(!fast(&static_site, "ftp://app.example/docs", &signed_in), "an unusual URL");
        assert!(!fast(&static_site, "http://app.example/docs", &signed_in), "plain http off loopback");
        let mut origin = ready("", false);
        let origin_config = format!(r#"{{"connectors":[{CONNECTOR}],"origin":{{"url":"https://origin.example"}}}}"#);
        origin.config = crate::core::config::Config::from_json(&origin_config).unwrap();
        assert!(!fast(&origin, "https://app.example/docs", &cookie(&origin, NOW - 60)), "origin mode");
        let revocations = ready("", true);
        assert!(
            !fast(&revocations, "https://app.example/docs", &cookie(&revocations, NOW - 60)),
            "a revocation list this isolate has not loaded"
        );
        let public = ready(r#","policies":[{"path":"/pub/*","public":true}]"#, false);
        assert!(fast(&public, "https://app.example/pub/x.css", ""), "a public path needs no session");
        let idle = ready(r#","session":{"idle_timeout_seconds":600}"#, false);
        assert!(fast(&idle, "https://app.example/docs", &cookie(&idle, NOW - 60)));
        assert!(!fast(&idle, "https://app.example/docs", &cookie(&idle, NOW - 400)), "a renewal is due");
    }

    #[test]
    fn machine_clients_make_the_js_entry_look_at_the_headers() {
        let cache = IsolateCache::default();
        let hash = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let plain = ready("", false);
        let tokens = ready(&format!(r#","service_tokens":[{{"id":"ci","secret_sha256":"{hash}"}}]"#), false);
        let cors = ready(
            r#","cors":[{"paths":["/api/*"],"allowed_origins":["https://app.example"],"allowed_methods":["GET"]}]"#,
            false,
        );
        let path = |ready: &Ready, cookie: &str| fast_path(ready, &cache, "https://app.example/docs", cookie, NOW);
        assert_eq!(path(&plain, &cookie(&plain, NOW - 60)), 1);
        assert_eq!(path(&tokens, &cookie(&tokens, NOW - 60)), 2, "a token header must reach the full handler");
        assert_eq!(path(&cors, &cookie(&cors, NOW - 60)), 2, "an Origin header must reach the full handler");
        assert_eq!(path(&tokens, ""), 0);
        // A path a CORS rule covers always goes to the full handler, which adds `Vary: Origin` to every answer.
        let api = |cookie: &str| fast_path(&cors, &cache, "https://app.example/api/x", cookie, NOW);
        assert_eq!(api(&cookie(&cors, NOW - 60)), 0);
    }

    #[test]
    fn an_internal_error_is_a_plain_uncached_500() {
        let r = internal_error();
        assert_eq!(r.status, 500);
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert!(r.body.contains("the operator has the details in the logs"));
    }

    #[test]
    fn site_paths_are_canonical_or_refused() {
        let logs = Logs::default();
        assert!(matches!(site_path("/docs/a.html", &logs), Ok(Cow::Borrowed("/docs/a.html"))));
        assert_eq!(site_path("/%61dmin", &logs).unwrap(), "/admin");
        assert!(logs.0.borrow().is_empty());
        for (path, why) in [
            ("/%61uth/me", "the path names /auth/ only once normalised"),
            ("/x/../auth/callback", "the path names /auth/ only once normalised"),
        ] {
            let refused = site_path(path, &logs).unwrap_err();
            assert_eq!((refused.status, refused.header("x-edge-auth-error")), (400, Some("bad_path")), "{path}");
            assert_eq!(
                logs.0.borrow().last().map(String::as_str),
                Some(
                    format!(r#"{{"event":"request_refused","level":"warn","reason":"bad_path","message":"{why}"}}"#)
                        .as_str()
                )
            );
        }
        let refused = site_path("/a%00b", &logs).unwrap_err();
        assert_eq!(refused.status, 400);
        assert_eq!(logs.0.borrow().len(), 3);
    }
}
