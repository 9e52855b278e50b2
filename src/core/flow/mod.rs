//! The login flow: start, callback, session check, `/auth/me`, logout. Generic over the platform traits,
//! so the whole flow runs on the host in tests with canned IdP responses and real signatures.
//!
//! The hot path (a protected request with a session cookie) is [`gate`]: [`check_session`] finds the cookie,
//! verifies its seal once per isolate ([`crate::core::session::memo`]: one HMAC and one small JSON decode the
//! first time, a lookup after), then checks expiry, idle timeout and revocations, and the policy decides;
//! no IdP round trip, no Durable Object or KV call. [`authenticate`] is the seal-and-expiry check alone (for
//! `/auth/*` routes that only need to know who is signed in).

mod callback;
mod document_cache;
mod entra_domains;
pub mod health;
mod isolate;
mod login;
mod logout;
mod metadata;
#[cfg(feature = "saml")]
mod saml;
mod single_flight;
mod single_use;
pub mod site_uris;
mod spent;
#[cfg(feature = "saml")]
mod wsfed;

pub use document_cache::{freshness, Freshness};
pub use isolate::IsolateCache;
pub use single_flight::IN_FLIGHT_LIMIT_SECONDS;
pub use spent::MAX_SPENT_TRANSACTIONS;
// The issuer rules live in `core::oidc::issuer`; re-exported for `edge-auth-check` and the fuzz targets.
pub use crate::core::oidc::issuer::{
    discovery_issuer_rule, entra_domain_discovery_url, entra_tenant_of_issuer, parse_domain_owner, DomainOwner,
    IssuerPredicate,
};

use url::form_urlencoded;

use crate::core::b64;
use crate::core::config::Config;
use crate::core::error::{FlowError, InternalError};
use crate::core::http::{Method, Outcome, Request, Response};
use crate::core::log::{self, Event, Kind, Level};
use crate::core::pages::{PageSettings, Pages};
use crate::core::policy::{self, Requirement};
use crate::core::ports::{Log, Platform, Rng};
use crate::core::service_token::{self, TokenGate, TokenHeaders};
use crate::core::session::codec::KeyRing;
use crate::core::session::cookies::{set_cookie, CookieKind, SameSite, Transport};
use crate::core::session::record::{Session, SessionState};
use crate::core::session::return_to::return_to_or_root;
use crate::core::url::transport_of;

/// Routes under this prefix are handled by the flow; everything else is protected content.
pub const AUTH_PREFIX: &str = "/auth/";
/// Public static files for the login pages.
pub const STATIC_PREFIX: &str = "/auth/static/";

/// After a background refresh was started (whether it then failed or not), the next one for the same
/// document waits at least this long: an IdP that is down is not asked again on every sign-in.
pub const REFRESH_RETRY_SECONDS: u64 = 30;
/// Minimum time between two JWKS refetches caused by an unknown `kid`.
pub const JWKS_REFETCH_COOLDOWN_SECONDS: u64 = 60;

pub use crate::core::pages::LOGIN_PAGE_CSP;

/// Is this path one of ours (`/auth/...` or exactly `/auth`)?
pub fn is_auth_path(path: &str) -> bool {
    path.starts_with(AUTH_PREFIX) || path == "/auth"
}

/// A validly sealed, unexpired session cookie from the `Cookie` header (absolute lifetime only; see
/// [`check_session`] for the idle timeout and IdP logouts).
pub fn authenticate(cookie_header: &str, transport: Transport, keys: &KeyRing, now: u64) -> Option<Session> {
    Session::from_cookie_header(cookie_header, CookieKind::Session.name(transport), keys, now)
}

/// The full session check: sealed, unexpired, not idle too long, not ended by the IdP.
pub fn check_session(
    config: &Config,
    keys: &KeyRing,
    cache: &IsolateCache,
    cookie_header: &str,
    transport: Transport,
    now: u64,
) -> Option<SessionState> {
    let session =
        cache.verified_sessions.authenticate(cookie_header, CookieKind::Session.name(transport), keys, now)?;
    // A session of a connector the configuration no longer has (removed, or renamed) ends: taking an IdP out of
    // AUTH_CONFIG must not leave the sessions it issued valid until they expire.
    config.any_connector(&session.connector)?;
    if cache.revocations.is_revoked(&session, now) {
        return None;
    }
    session.state(&config.session, now)
}

/// The `Set-Cookie` of a sliding renewal: the same session with `renewed_at = now`.
pub fn renewal_cookie(
    config: &Config,
    keys: &KeyRing,
    rng: &dyn Rng,
    mut session: Session,
    transport: Transport,
    now: u64,
) -> Option<String> {
    session.renewed_at = now;
    let name = CookieKind::Session.name(transport);
    let max_age = session.exp.saturating_sub(now);
    let (_, sealed) = session.seal_within_budget(keys, name, &config.session, rng).ok()?;
    Some(set_cookie(name, &sealed, max_age, transport, SameSite::Lax))
}

/// What to do with a request for protected content (anything outside `/auth/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// A public path: no session needed.
    Public,
    /// Signed in and allowed; `renewal_due` when the idle timeout's sliding renewal is due, and `renew` is
    /// its `Set-Cookie` (absent if it could not be sealed).
    Allowed { session: Session, renewal_due: bool, renew: Option<String> },
    /// No valid session (absent, expired, idle, ended by the IdP): answer with [`unauthenticated`].
    Unauthenticated,
    /// Signed in, but an access policy does not admit this user here: answer with [`forbidden`].
    Forbidden(Session),
}

/// What the session gate looks at in a request for protected content.
#[derive(Debug, Clone, Copy)]
pub struct GateRequest<'a> {
    /// The canonical path ([`crate::core::path::canonicalize`]): what is decided on and forwarded.
    pub path: &'a str,
    pub cookie_header: &'a str,
    pub transport: Transport,
    pub now: u64,
}

/// The hot path: policy lookup, one cookie decode and HMAC, idle and revocation checks. `rng` is only
/// used when a sliding renewal is due (and the cookie is encrypted).
pub fn gate(config: &Config, keys: &KeyRing, cache: &IsolateCache, rng: &dyn Rng, request: GateRequest<'_>) -> Gate {
    let site = if config.origin.is_some() { policy::Site::Origin } else { policy::Site::Assets };
    let requirement = policy::requirement(&config.policies, request.path, site);
    if requirement == Requirement::Public {
        return Gate::Public;
    }
    session_gate(config, keys, cache, rng, request, &requirement)
}

/// [`gate`] for a path that is not public.
fn session_gate(
    config: &Config,
    keys: &KeyRing,
    cache: &IsolateCache,
    rng: &dyn Rng,
    request: GateRequest<'_>,
    requirement: &Requirement<'_>,
) -> Gate {
    let GateRequest { cookie_header, transport, now, .. } = request;
    let Some(state) = check_session(config, keys, cache, cookie_header, transport, now) else {
        return Gate::Unauthenticated;
    };
    let renewal_due = matches!(state, SessionState::ValidRenew(_));
    let renew = match &state {
        SessionState::ValidRenew(s) => renewal_cookie(config, keys, rng, s.clone(), transport, now),
        SessionState::Valid(_) => None,
    };
    let session = state.into_session();
    if let Requirement::Rules(rules) = requirement {
        if !rules.iter().all(|rule| policy::allows(rule, &session)) {
            return Gate::Forbidden(session);
        }
    }
    Gate::Allowed { session, renewal_due, renew }
}

/// What to do with a request for protected content, service tokens included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteGate<'a> {
    /// No service token presented (or none configured): the session decides, as in [`gate`].
    Session(Gate),
    /// The request presents a service token (`Edge-Auth-Client-Id` / `-Secret`) for a path that is not public:
    /// the token alone decides, the cookie is not looked at.
    Token(TokenGate<'a>),
}

/// [`gate`], with service tokens: the full handler's decision. A public path stays public whatever the request
/// carries; otherwise, when service tokens are configured and the request carries either token header, the
/// token decides ([`service_token::gate`]) and its use is logged by id (never the secret).
pub fn site_gate<'a>(
    config: &'a Config,
    keys: &KeyRing,
    cache: &IsolateCache,
    platform: &(impl Rng + Log),
    request: GateRequest<'_>,
    token: TokenHeaders<'_>,
) -> SiteGate<'a> {
    let site = if config.origin.is_some() { policy::Site::Origin } else { policy::Site::Assets };
    let requirement = policy::requirement(&config.policies, request.path, site);
    if requirement == Requirement::Public {
        return SiteGate::Session(Gate::Public);
    }
    if config.service_tokens.is_empty() || !token.present() {
        return SiteGate::Session(session_gate(config, keys, cache, platform, request, &requirement));
    }
    let decision = service_token::gate(&config.service_tokens, &requirement, token, request.now);
    // Every use, by id (never the secret): the audit trail of machine access.
    let (level, outcome, id) = match &decision {
        TokenGate::Allowed(t) => (Level::Info, "allowed", Some(t.id.as_str())),
        TokenGate::Forbidden(t) => (Level::Warn, "forbidden", Some(t.id.as_str())),
        TokenGate::Refused(_) => (Level::Warn, "refused", None),
    };
    let mut event =
        Event::new(Kind::ServiceToken, level).outcome(outcome).text("token_id", id).text("path", Some(request.path));
    if let TokenGate::Refused(why) = &decision {
        event = event.message(&why.log_detail());
    }
    platform.event(&event);
    SiteGate::Token(decision)
}

/// The answer for a signed-in user whom a policy does not admit: who is signed in, and a way to switch (in the
/// visitor's language: `accept_language` is the request's `Accept-Language`).
pub fn forbidden(pages: &PageSettings, accept_language: Option<&str>, session: &Session, navigation: bool) -> Response {
    if !navigation {
        return Response::json(403, r#"{"error":"forbidden"}"#.to_string())
            .with_header("x-edge-auth-error", "forbidden");
    }
    let pages = Pages::new(pages, accept_language);
    pages.response(403, pages.forbidden(&session.email)).with_header("x-edge-auth-error", "forbidden")
}

/// What an unauthenticated request to protected content gets.
pub fn unauthenticated(path_and_query: &str, navigation: bool) -> Response {
    if navigation {
        let target = return_to_or_root(Some(path_and_query));
        let location = if target == "/" {
            "/auth/login".to_string()
        } else {
            let encoded: String = form_urlencoded::byte_serialize(target.as_bytes()).collect();
            format!("/auth/login?return_to={encoded}")
        };
        Response::redirect(location)
    } else {
        Response::json(401, r#"{"error":"unauthenticated","login":"/auth/login"}"#.to_string())
            .with_header("x-edge-auth-error", "unauthenticated")
    }
}

/// Answer for plain-http requests to a non-loopback host: go to https.
pub fn upgrade_to_https(url: &url::Url) -> Response {
    let mut u = url.clone();
    let _ = u.set_scheme("https");
    let _ = u.set_port(None);
    Response::redirect(u.to_string())
}

pub struct Flow<'a, P: Platform> {
    pub config: &'a Config,
    pub keys: &'a KeyRing,
    pub platform: &'a P,
    pub providers: &'a IsolateCache,
}

/// A refusal, with the cookies to set anyway (the spent login transaction is always cleared).
pub type FlowResult = Result<Outcome, (FlowError, Vec<String>)>;

impl From<FlowError> for (FlowError, Vec<String>) {
    fn from(e: FlowError) -> Self {
        (e, vec![])
    }
}

impl<P: Platform> Flow<'_, P> {
    /// Handle a request to an `/auth/*` route.
    pub async fn handle(&self, req: &Request) -> Outcome {
        match self.route(req).await {
            Ok(outcome) => outcome,
            Err((error, cookies)) => self.refusal(req, &error, &cookies),
        }
    }

    /// [`Self::handle`], with a refusal still as its typed [`FlowError`] (what the tests look at).
    pub async fn route(&self, req: &Request) -> FlowResult {
        let Some(transport) = transport_of(&req.url) else {
            return Ok(Outcome::Respond(upgrade_to_https(&req.url)));
        };
        let path = req.url.path();
        if path.starts_with(STATIC_PREFIX) {
            // Handed to the asset server as received: only plain paths (an encoded `/` or `..` could read as
            // a file outside /auth/static/ there).
            if !crate::core::path::is_plain(path) {
                return Ok(Outcome::Respond(FlowError::NotFound.to_page(&self.pages(req))));
            }
            return Ok(match req.method {
                Method::Get | Method::Head => Outcome::ServeAuthStatic { headers: public_file_headers() },
                _ => Outcome::Respond(FlowError::MethodNotAllowed.to_page(&self.pages(req))),
            });
        }
        #[cfg(feature = "saml")]
        if let Some(rest) = path.strip_prefix(crate::core::incoming::SAML_ROUTE_PREFIX) {
            return self.saml_route(rest, req, transport).await;
        }
        #[cfg(feature = "saml")]
        if let Some(id) = path.strip_prefix(crate::core::incoming::WSFED_ROUTE_PREFIX) {
            return self.wsfed_route(id, req, transport).await;
        }
        match (path, req.method) {
            ("/auth/login", Method::Get | Method::Head) => self.login(req, transport).await,
            (site_uris::CALLBACK_PATH, Method::Get | Method::Post) => self.callback(req, transport).await,
            ("/auth/me", Method::Get | Method::Head) => Ok(self.me(req, transport)),
            ("/auth/logout", Method::Post) => self.logout(req, transport).await,
            ("/auth/logout", Method::Get | Method::Head) => {
                Ok(Outcome::Respond(logout::confirmation_page(&self.pages(req))))
            }
            (site_uris::SIGNED_OUT_PATH, Method::Get | Method::Head) => Ok(self.page(req, |p| p.signed_out())),
            (site_uris::FRONTCHANNEL_LOGOUT_PATH, Method::Get) => self.frontchannel_logout(req, transport).await,
            (site_uris::BACKCHANNEL_LOGOUT_PATH, Method::Post) => self.backchannel_logout(req).await,
            ("/auth/jwks.json", Method::Get | Method::Head) => Ok(self.assertion_jwks()),
            ("/auth/health", Method::Get | Method::Head) => Ok(self.health()),
            (
                "/auth/login"
                | "/auth/callback"
                | "/auth/me"
                | "/auth/logout"
                | "/auth/signed-out"
                | "/auth/logout/frontchannel"
                | "/auth/logout/backchannel"
                | "/auth/jwks.json"
                | "/auth/health",
                _,
            ) => Err(FlowError::MethodNotAllowed.into()),
            _ => Err(FlowError::NotFound.into()),
        }
    }

    /// `/auth/saml/{id}/acs` and `/auth/saml/{id}/metadata` (`rest`: what follows `/auth/saml/`). In the build
    /// without SAML (which refuses SAML connectors when it loads the configuration) these paths are not found.
    #[cfg(feature = "saml")]
    async fn saml_route(&self, rest: &str, req: &Request, transport: Transport) -> FlowResult {
        let Some((id, endpoint)) = rest.split_once('/') else { return Err(FlowError::NotFound.into()) };
        match (endpoint, req.method) {
            ("acs", Method::Post) => self.saml_acs(id, req, transport).await,
            ("metadata", Method::Get | Method::Head) => self.saml_metadata(id, req),
            ("acs" | "metadata", _) => Err(FlowError::MethodNotAllowed.into()),
            _ => Err(FlowError::NotFound.into()),
        }
    }

    /// The answer to a refused request: the operator log line, the visitor's page (JSON for `/auth/me`) in the
    /// visitor's language, and the cookies to set anyway.
    pub fn refusal(&self, req: &Request, error: &FlowError, cookies: &[String]) -> Outcome {
        let path = req.url.path();
        self.log_refusal(req, error);
        let mut response = if path == "/auth/me" { error.to_json_response() } else { error.to_page(&self.pages(req)) };
        for c in cookies {
            response = response.with_cookie(c.clone());
        }
        Outcome::Respond(response)
    }

    /// The pages of this request: the configuration's settings, the visitor's language.
    pub(crate) fn pages<'r>(&'r self, req: &Request) -> Pages<'r> {
        Pages::new(&self.config.pages, req.accept_language.as_deref())
    }

    /// A visitor page (200) rendered by `body`.
    fn page(&self, req: &Request, body: impl FnOnce(&Pages<'_>) -> String) -> Outcome {
        let pages = self.pages(req);
        Outcome::Respond(pages.response(200, body(&pages)))
    }

    /// The log event of a refused request: a failed `sign_in` on the routes that end a sign-in (with the
    /// connector when it is known: the login transaction's, or the configured one its path names), else
    /// `request_refused`.
    fn log_refusal(&self, req: &Request, error: &FlowError) {
        let path = req.url.path();
        let detail = error.log_detail();
        let idp_error = match error {
            FlowError::Idp(code) => Some(code.as_str()),
            _ => None,
        };
        let connector = self.sign_in_connector(req);
        let event = match &connector {
            Some(connector) => {
                Event::new(Kind::SignIn, Level::Warn).outcome(log::FAILURE).connector_opt(connector.as_deref())
            }
            None => Event::new(Kind::RequestRefused, Level::Warn),
        };
        let event = event.request(method_name(req.method), path);
        self.platform.event(&event.reason(error.code()).idp_error(idp_error).message(&detail));
    }

    /// `Some` on the routes that start or end a sign-in, with the connector when it is known: the one of the
    /// login transaction (`/auth/callback`), or a configured connector named by the path (SAML, WS-Federation).
    fn sign_in_connector(&self, req: &Request) -> Option<Option<String>> {
        let path = req.url.path();
        if path == "/auth/login" && matches!(req.method, Method::Get | Method::Head) {
            // The connector is in the events of what failed (`idp_fetch_failed`); the address's domain may be
            // no connector's.
            return Some(None);
        }
        if path == "/auth/callback" && matches!(req.method, Method::Get | Method::Post) {
            let transport = transport_of(&req.url)?;
            let name = CookieKind::LoginTransaction.name(transport);
            let tx = crate::core::session::transaction::LoginTransaction::from_cookie_header(
                &req.cookie_header,
                name,
                self.keys,
                self.now(),
            );
            return Some(tx.map(|tx| tx.connector));
        }
        #[cfg(feature = "saml")]
        {
            let id = path
                .strip_prefix(crate::core::incoming::SAML_ROUTE_PREFIX)
                .and_then(|rest| rest.strip_suffix("/acs"))
                .or_else(|| {
                    path.strip_prefix(crate::core::incoming::WSFED_ROUTE_PREFIX).filter(|_| req.method == Method::Post)
                });
            if let Some(id) = id {
                return Some(self.config.xml_connector(id).map(|c| c.id.clone()));
            }
        }
        None
    }

    /// The `sign_in` success event of a session just issued.
    fn log_sign_in(&self, session: &Session) {
        let event = Event::new(Kind::SignIn, Level::Info)
            .outcome(log::SUCCESS)
            .connector(&session.connector)
            .subject(&session.sub)
            .email(&session.email)
            .session_id(session.sid.as_deref());
        self.platform.event(&event);
    }

    fn now(&self) -> u64 {
        self.platform.now()
    }

    fn random_token(&self) -> Result<String, FlowError> {
        let mut bytes = [0u8; 32];
        self.platform.fill(&mut bytes).map_err(InternalError::Randomness)?;
        Ok(b64::encode(bytes))
    }

    /// `GET /auth/jwks.json`: the public key(s) of the assertions sent to the origin.
    fn assertion_jwks(&self) -> Outcome {
        let key = self
            .platform
            .secret(crate::core::assertion::ASSERTION_KEY_BINDING)
            .and_then(|s| crate::core::assertion::AssertionKey::from_secret(s.expose()).ok());
        let mut response = Response::json(200, crate::core::assertion::jwks_document(key.as_ref()));
        response.headers.retain(|(k, _)| *k != "cache-control");
        Outcome::Respond(
            response
                .with_header("cache-control", "public, max-age=300")
                .with_header("access-control-allow-origin", "*"),
        )
    }

    fn me(&self, req: &Request, transport: Transport) -> Outcome {
        match check_session(self.config, self.keys, self.providers, &req.cookie_header, transport, self.now()) {
            Some(state) => Outcome::Respond(Response::json(200, state.session().to_me_json())),
            None => Outcome::Respond(unauthenticated("/auth/me", false)),
        }
    }
}

/// The security headers of edge-auth's own public files and pages: the login pages' CSP (never framed, script
/// and style from this site only), no sniffing, no referrer.
fn public_file_headers() -> Vec<(&'static str, String)> {
    vec![
        ("content-security-policy", LOGIN_PAGE_CSP.to_string()),
        ("x-content-type-options", "nosniff".to_string()),
        ("referrer-policy", "no-referrer".to_string()),
    ]
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Other => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthenticated_navigation_keeps_the_destination() {
        let r = unauthenticated("/search?q=annual%20report", true);
        assert_eq!(r.status, 302);
        assert_eq!(r.header("location"), Some("/auth/login?return_to=%2Fsearch%3Fq%3Dannual%2520report"));
        assert_eq!(unauthenticated("//evil.example", true).header("location"), Some("/auth/login"));
        assert_eq!(unauthenticated("/api", false).status, 401);
    }
}
