//! The login flow: start, callback, session check, `/auth/me`, logout. Generic over the platform traits,
//! so the whole flow runs on the host in tests with canned IdP responses and real signatures.
//!
//! The hot path (a protected request with a session cookie) is [`authenticate`]: one cookie lookup, one
//! HMAC, one small JSON decode; no allocation of the request, no IdP round trip.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use url::form_urlencoded;

use crate::core::b64;
use crate::core::config::{Config, Connector};
use crate::core::error::{sanitize_idp_error_code, FlowError};
use crate::core::http::{transport_of, Method, Outcome, Request, Response};
use crate::core::oidc::authorize::AuthorizationRequest;
use crate::core::oidc::discovery::{parse_provider_metadata, ProviderMetadata};
use crate::core::oidc::id_token::{self, Expectations, VerifiedIdToken};
use crate::core::oidc::jwks::{parse_jwks, select_key, JwkSet, KeySelection};
use crate::core::oidc::jws::UntrustedJws;
use crate::core::oidc::token::{choose_auth_method, parse_token_response, TokenRequest};
use crate::core::platform::{HttpRequest, Platform};
use crate::core::routing::parse_email;
use crate::core::secret::constant_time_eq;
use crate::core::session::codec::KeyRing;
use crate::core::session::cookies::{delete_cookie, set_cookie, CookieKind, SameSite, Transport};
use crate::core::session::record::{truncate_chars, Session, MAX_EMAIL_LEN, MAX_NAME_CHARS};
use crate::core::session::return_to::return_to_or_root;
use crate::core::session::transaction::{LoginTransaction, LOGIN_TRANSACTION_TTL_SECONDS};

/// Routes under this prefix are handled by the flow; everything else is protected content.
pub const AUTH_PREFIX: &str = "/auth/";
/// Public static files for the login pages.
pub const STATIC_PREFIX: &str = "/auth/static/";
pub const LOGIN_PAGE_ASSET: &str = "/auth/static/login";
pub const SIGNED_OUT_PAGE_ASSET: &str = "/auth/static/signed-out";

/// How long discovery documents and JWKS are reused before refetching.
pub const METADATA_TTL_SECONDS: u64 = 3600;
/// Minimum time between two JWKS refetches caused by an unknown `kid`.
pub const JWKS_REFETCH_COOLDOWN_SECONDS: u64 = 60;

/// How many spent login transactions an isolate remembers (expired ones are dropped first).
pub const MAX_SPENT_TRANSACTIONS: usize = 10_000;

/// Per-isolate state shared by requests: provider metadata and key sets (keyed by issuer), and the login
/// transactions already used here, so a replayed callback (same `state`, same transaction cookie) is refused
/// before it reaches the IdP. The replay memory is per isolate; the transaction cookie's 10-minute expiry
/// bounds what another isolate could accept.
#[derive(Default)]
pub struct ProviderCache {
    entries: RefCell<HashMap<String, ProviderEntry>>,
    spent_transactions: RefCell<HashMap<String, u64>>,
}

#[derive(Default, Clone)]
struct ProviderEntry {
    metadata: Option<(Rc<ProviderMetadata>, u64)>,
    jwks: Option<(Rc<JwkSet>, u64)>,
    last_forced_jwks_fetch: Option<u64>,
    /// A JWKS fetch in progress: concurrent requests wait for it instead of fetching again.
    jwks_in_flight: Option<Rc<InFlight<JwksResult>>>,
}

type JwksResult = Result<Rc<JwkSet>, FlowError>;

/// Single-flight slot for one isolate (single-threaded): the first request fetches, the others await
/// the same result.
struct InFlight<T: Clone> {
    result: RefCell<Option<T>>,
    waiters: RefCell<Vec<Waker>>,
}

impl<T: Clone> InFlight<T> {
    fn new() -> Rc<Self> {
        Rc::new(InFlight { result: RefCell::new(None), waiters: RefCell::new(Vec::new()) })
    }

    fn complete(&self, value: T) {
        *self.result.borrow_mut() = Some(value);
        for waker in self.waiters.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    fn wait(self: &Rc<Self>) -> WaitInFlight<T> {
        WaitInFlight(self.clone())
    }
}

struct WaitInFlight<T: Clone>(Rc<InFlight<T>>);

impl<T: Clone> Future for WaitInFlight<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if let Some(value) = self.0.result.borrow().clone() {
            return Poll::Ready(value);
        }
        self.0.waiters.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    }
}

/// Completes the in-flight slot even if the fetching request is dropped half-way, so waiters never hang.
struct InFlightGuard<'a> {
    cache: &'a ProviderCache,
    issuer: &'a str,
    slot: Rc<InFlight<JwksResult>>,
}

impl InFlightGuard<'_> {
    fn finish(self, value: JwksResult) {
        self.slot.complete(value);
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        if self.slot.result.borrow().is_none() {
            self.slot.complete(Err(FlowError::IdpUnreachable("jwks_uri: the fetch was abandoned".into())));
        }
        self.cache.update(self.issuer, |e| {
            if e.jwks_in_flight.as_ref().is_some_and(|s| Rc::ptr_eq(s, &self.slot)) {
                e.jwks_in_flight = None;
            }
        });
    }
}

impl ProviderCache {
    fn entry(&self, issuer: &str) -> ProviderEntry {
        self.entries.borrow().get(issuer).cloned().unwrap_or_default()
    }

    fn update(&self, issuer: &str, f: impl FnOnce(&mut ProviderEntry)) {
        let mut entries = self.entries.borrow_mut();
        f(entries.entry(issuer.to_string()).or_default());
    }

    /// Record a login transaction's `state` as used. `false` if it was used before (a replay).
    pub fn spend_transaction(&self, state: &str, expires_at: u64, now: u64) -> bool {
        let mut spent = self.spent_transactions.borrow_mut();
        if spent.len() >= MAX_SPENT_TRANSACTIONS {
            spent.retain(|_, exp| *exp > now);
            if spent.len() >= MAX_SPENT_TRANSACTIONS {
                // Bounded memory: forget the oldest half (their cookies expire within minutes anyway).
                let mut expiries: Vec<u64> = spent.values().copied().collect();
                expiries.sort_unstable();
                let cutoff = expiries.get(expiries.len() / 2).copied().unwrap_or(u64::MAX);
                spent.retain(|_, exp| *exp > cutoff);
            }
        }
        spent.insert(state.to_string(), expires_at).is_none()
    }
}

/// Is this path one of ours (`/auth/...` or exactly `/auth`)?
pub fn is_auth_path(path: &str) -> bool {
    path.starts_with(AUTH_PREFIX) || path == "/auth"
}

/// The hot path: a valid session from the `Cookie` header, or `None`.
pub fn authenticate(cookie_header: &str, transport: Transport, keys: &KeyRing, now: u64) -> Option<Session> {
    Session::from_cookie_header(cookie_header, CookieKind::Session.name(transport), keys, now)
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
    pub providers: &'a ProviderCache,
}

impl<P: Platform> Flow<'_, P> {
    /// Handle a request to an `/auth/*` route.
    pub async fn handle(&self, req: &Request) -> Outcome {
        let Some(transport) = transport_of(&req.url) else {
            return Outcome::Respond(upgrade_to_https(&req.url));
        };
        let path = req.url.path();
        if path.starts_with(STATIC_PREFIX) {
            return match req.method {
                Method::Get | Method::Head => Outcome::PassThrough,
                _ => Outcome::Respond(FlowError::MethodNotAllowed.to_html_response()),
            };
        }
        let result = match (path, req.method) {
            ("/auth/login", Method::Get | Method::Head) => self.login(req, transport).await,
            ("/auth/callback", Method::Get | Method::Post) => self.callback(req, transport).await,
            ("/auth/me", Method::Get | Method::Head) => Ok(self.me(req, transport)),
            ("/auth/logout", Method::Post) => self.logout(req, transport).await,
            ("/auth/logout", Method::Get | Method::Head) => Ok(Outcome::Respond(logout_confirmation_page())),
            ("/auth/signed-out", Method::Get | Method::Head) => {
                Ok(Outcome::ServePublicAsset { path: SIGNED_OUT_PAGE_ASSET.into(), status: 200 })
            }
            ("/auth/login" | "/auth/callback" | "/auth/me" | "/auth/logout" | "/auth/signed-out", _) => {
                Err(FlowError::MethodNotAllowed.into())
            }
            _ => Err(FlowError::NotFound.into()),
        };
        match result {
            Ok(outcome) => outcome,
            Err((error, cookies)) => {
                self.platform.warn(&format!("edge-auth: {} {}: {}", method_name(req.method), path, error.log_detail()));
                let mut response = if path == "/auth/me" { error.to_json_response() } else { error.to_html_response() };
                for c in cookies {
                    response = response.with_cookie(c);
                }
                Outcome::Respond(response)
            }
        }
    }

    fn now(&self) -> u64 {
        self.platform.now()
    }

    fn random_token(&self) -> Result<String, FlowError> {
        let mut bytes = [0u8; 32];
        self.platform.fill(&mut bytes).map_err(|e| FlowError::Config(format!("no randomness: {e}")))?;
        Ok(b64::encode(bytes))
    }

    // ---- GET /auth/login -------------------------------------------------------------------------------

    async fn login(&self, req: &Request, transport: Transport) -> FlowResult {
        let email = req.query_param("email");
        let connector_id = req.query_param("connector");
        let (connector, login_hint) = match (email, connector_id) {
            (Some(email), _) if !email.trim().is_empty() => {
                let parsed = parse_email(&email).map_err(|e| FlowError::InvalidEmail(e.to_string()))?;
                let connector = self
                    .config
                    .connector_for_domain(&parsed.domain)
                    .ok_or_else(|| FlowError::UnknownDomain(parsed.domain.clone()))?;
                (connector, Some(parsed.address()))
            }
            (_, Some(id)) if !id.is_empty() => {
                let connector =
                    self.config.connector(&id).ok_or_else(|| FlowError::UnknownConnector(truncate_chars(&id, 64)))?;
                (connector, None)
            }
            _ => return Ok(Outcome::ServePublicAsset { path: LOGIN_PAGE_ASSET.into(), status: 200 }),
        };
        let return_to = return_to_or_root(req.query_param("return_to").as_deref());
        let metadata = self.metadata(connector).await?;
        let tx = LoginTransaction {
            connector: connector.id.clone(),
            state: self.random_token()?,
            nonce: self.random_token()?,
            pkce_verifier: self.random_token()?,
            return_to,
            redirect_uri: format!("{}/auth/callback", req.origin()),
            expires_at: self.now().saturating_add(LOGIN_TRANSACTION_TTL_SECONDS),
        };
        let url = AuthorizationRequest {
            authorization_endpoint: &metadata.authorization_endpoint,
            client_id: &connector.client_id,
            redirect_uri: &tx.redirect_uri,
            extra_scopes: &connector.extra_scopes,
            state: &tx.state,
            nonce: &tx.nonce,
            pkce_verifier: &tx.pkce_verifier,
            login_hint: login_hint.as_deref(),
        }
        .url()
        .map_err(|e| FlowError::IdpUnreachable(format!("bad authorization_endpoint: {e}")))?;
        let name = CookieKind::LoginTransaction.name(transport);
        let cookie =
            set_cookie(name, &tx.seal(self.keys, name), LOGIN_TRANSACTION_TTL_SECONDS, transport, SameSite::Lax);
        Ok(Outcome::Respond(Response::redirect(url).with_cookie(cookie)))
    }

    // ---- GET|POST /auth/callback ---------------------------------------------------------------------

    async fn callback(&self, req: &Request, transport: Transport) -> FlowResult {
        let tx_name = CookieKind::LoginTransaction.name(transport);
        // Whatever happens, the transaction is spent.
        let clear_tx = delete_cookie(tx_name, transport);
        let fail = |e: FlowError| (e, vec![clear_tx.clone()]);
        let param = |name: &str| -> Option<String> {
            match req.method {
                Method::Post => req.form_param(name).map(str::to_string),
                _ => req.query_param(name),
            }
        };
        let now = self.now();
        let tx = LoginTransaction::from_cookie_header(&req.cookie_header, tx_name, self.keys, now)
            .ok_or_else(|| fail(FlowError::LoginExpired))?;
        let state = param("state").unwrap_or_default();
        if !constant_time_eq(state.as_bytes(), tx.state.as_bytes()) {
            return Err(fail(FlowError::StateMismatch));
        }
        if !self.providers.spend_transaction(&tx.state, tx.expires_at, now) {
            return Err(fail(FlowError::Replayed));
        }
        let connector = self.config.connector(&tx.connector).ok_or_else(|| fail(FlowError::LoginExpired))?;
        let metadata = self.metadata(connector).await.map_err(|(e, _)| fail(e))?;
        // RFC 9207: the response names its issuer when the provider says it will; if present, it must match.
        let iss = param("iss");
        let iss_ok = match &iss {
            Some(i) => i == &metadata.issuer,
            None => !metadata.authorization_response_iss_parameter_supported,
        };
        if !iss_ok {
            return Err(fail(FlowError::IssuerMismatch { expected: metadata.issuer.clone(), found: iss }));
        }
        if let Some(error) = param("error") {
            return Err(fail(FlowError::Idp(sanitize_idp_error_code(&error))));
        }
        let code = param("code")
            .filter(|c| !c.is_empty() && c.len() <= 4096)
            .ok_or_else(|| fail(FlowError::InvalidCallback))?;

        let verified = self.exchange_and_verify(connector, &metadata, &tx, &code).await.map_err(fail)?;
        let claims = verified.claims();
        let email = claims.email.as_deref().ok_or_else(|| fail(FlowError::EmailMissing))?;
        if claims.email_verified.is_some_and(|v| !v.0) {
            return Err(fail(FlowError::EmailUnverified(truncate_chars(email, 320))));
        }
        let parsed = parse_email(email).map_err(|e| fail(FlowError::IdToken(format!("email claim: {e}"))))?;
        if !connector.owns_domain(&parsed.domain) {
            return Err(fail(FlowError::EmailDomainMismatch {
                domain: parsed.domain,
                connector: connector.id.clone(),
            }));
        }
        let address = parsed.address();
        if address.len() > MAX_EMAIL_LEN {
            return Err(fail(FlowError::IdToken("email claim too long".into())));
        }
        let session = Session {
            sub: claims.sub.clone(),
            email: address,
            name: claims.name.as_deref().map(|n| truncate_chars(n.trim(), MAX_NAME_CHARS)).filter(|n| !n.is_empty()),
            connector: connector.id.clone(),
            iss: claims.iss.clone(),
            iat: now,
            exp: now.saturating_add(self.config.session.lifetime_seconds),
            sid: claims.sid.as_deref().map(|s| truncate_chars(s, 128)),
        };
        let session_name = CookieKind::Session.name(transport);
        let session_cookie = set_cookie(
            session_name,
            &session.seal(self.keys, session_name),
            self.config.session.lifetime_seconds,
            transport,
            SameSite::Lax,
        );
        Ok(Outcome::Respond(Response::redirect(tx.return_to.clone()).with_cookie(clear_tx).with_cookie(session_cookie)))
    }

    async fn exchange_and_verify(
        &self,
        connector: &Connector,
        metadata: &ProviderMetadata,
        tx: &LoginTransaction,
        code: &str,
    ) -> Result<VerifiedIdToken, FlowError> {
        let secret = self.platform.secret(&connector.client_secret_binding).ok_or_else(|| {
            FlowError::Config(format!(
                "connector {:?}: the secret {:?} named by client_secret_binding is not set",
                connector.id, connector.client_secret_binding
            ))
        })?;
        let auth_method = choose_auth_method(connector.token_endpoint_auth_method, metadata).ok_or_else(|| {
            FlowError::Config(format!(
                "connector {:?}: the provider supports neither client_secret_basic nor client_secret_post",
                connector.id
            ))
        })?;
        let request = TokenRequest {
            token_endpoint: &metadata.token_endpoint,
            auth_method,
            client_id: &connector.client_id,
            client_secret: &secret,
            code,
            redirect_uri: &tx.redirect_uri,
            pkce_verifier: &tx.pkce_verifier,
        }
        .to_http();
        let response =
            self.platform.send(request).await.map_err(|e| FlowError::IdpUnreachable(format!("token endpoint: {e}")))?;
        let tokens = parse_token_response(&response).map_err(|e| FlowError::TokenExchange(e.to_string()))?;
        let jws = UntrustedJws::parse(tokens.id_token.expose()).map_err(|e| FlowError::IdToken(e.to_string()))?;
        let (jwks, just_fetched) = self.jwks(metadata, false).await?;
        let selected = match select_key(&jwks, jws.alg(), jws.kid()) {
            // The provider may have rotated its keys: refetch once (rate-limited, coalesced), then decide.
            // A set this request has just fetched is already the newest.
            KeySelection::UnknownKid if !just_fetched => {
                let (refreshed, _) = self.jwks(metadata, true).await?;
                pick(select_key(&refreshed, jws.alg(), jws.kid()))?.clone()
            }
            other => pick(other)?.clone(),
        };
        let expect = Expectations {
            issuer: &metadata.issuer,
            client_id: &connector.client_id,
            nonce: &tx.nonce,
            now: self.now(),
            leeway: self.config.clock_leeway_seconds,
            access_token: tokens.access_token.as_ref().map(|t| t.expose().as_str()),
            code: Some(code),
        };
        id_token::verify(&jws, &selected, self.platform, &expect).await.map_err(|e| FlowError::IdToken(e.to_string()))
    }

    // ---- GET /auth/me --------------------------------------------------------------------------------

    fn me(&self, req: &Request, transport: Transport) -> Outcome {
        match authenticate(&req.cookie_header, transport, self.keys, self.now()) {
            Some(session) => Outcome::Respond(Response::json(200, session.to_me_json())),
            None => Outcome::Respond(unauthenticated("/auth/me", false)),
        }
    }

    // ---- POST /auth/logout ---------------------------------------------------------------------------

    async fn logout(&self, req: &Request, transport: Transport) -> FlowResult {
        if !is_same_origin(req) {
            return Err((FlowError::Csrf, vec![]));
        }
        let session_name = CookieKind::Session.name(transport);
        let clear = delete_cookie(session_name, transport);
        let signed_out = format!("{}/auth/signed-out", req.origin());
        let session = authenticate(&req.cookie_header, transport, self.keys, self.now());
        let mut location = "/auth/signed-out".to_string();
        if let Some(connector) = session.as_ref().and_then(|s| self.config.connector(&s.connector)) {
            match self.metadata(connector).await {
                Ok(metadata) => {
                    if let Some(end) = &metadata.end_session_endpoint {
                        if let Ok(mut u) = url::Url::parse(end) {
                            u.query_pairs_mut()
                                .append_pair("client_id", &connector.client_id)
                                .append_pair("post_logout_redirect_uri", &signed_out);
                            location = u.into();
                        }
                    }
                }
                Err((e, _)) => self.platform.warn(&format!(
                    "edge-auth: logout: no end_session_endpoint for connector {:?}: {}",
                    connector.id,
                    e.log_detail()
                )),
            }
        }
        Ok(Outcome::Respond(Response::redirect(location).with_cookie(clear)))
    }

    // ---- provider metadata and keys ------------------------------------------------------------------

    async fn metadata(&self, connector: &Connector) -> Result<Rc<ProviderMetadata>, (FlowError, Vec<String>)> {
        let now = self.now();
        let cached = self.providers.entry(&connector.issuer).metadata;
        if let Some((m, at)) = &cached {
            if now.saturating_sub(*at) < METADATA_TTL_SECONDS {
                return Ok(m.clone());
            }
        }
        let fetched = self.fetch_metadata(connector).await;
        match (fetched, cached) {
            (Ok(m), _) => {
                let m = Rc::new(m);
                self.providers.update(&connector.issuer, |e| e.metadata = Some((m.clone(), now)));
                Ok(m)
            }
            // Stale-if-error: an IdP outage does not stop logins while we have its last good metadata.
            (Err(e), Some((stale, _))) => {
                self.platform.warn(&format!(
                    "edge-auth: using cached discovery for {:?}: {}",
                    connector.id,
                    e.log_detail()
                ));
                Ok(stale)
            }
            (Err(e), None) => Err((e, vec![])),
        }
    }

    async fn fetch_metadata(&self, connector: &Connector) -> Result<ProviderMetadata, FlowError> {
        let url = connector.discovery_url();
        let response = self
            .platform
            .send(HttpRequest::get(&url))
            .await
            .map_err(|e| FlowError::IdpUnreachable(format!("discovery {url}: {e}")))?;
        if response.status != 200 {
            return Err(FlowError::IdpUnreachable(format!("discovery {url}: HTTP {}", response.status)));
        }
        parse_provider_metadata(&connector.issuer, &response.body)
            .map_err(|e| FlowError::IdpUnreachable(format!("connector {:?}: {e}", connector.id)))
    }

    /// The provider's key set, and whether this call fetched it. `force` (after an unknown `kid`) refetches
    /// unless a forced fetch was attempted within the cooldown; concurrent fetches are coalesced into one.
    async fn jwks(&self, metadata: &ProviderMetadata, force: bool) -> Result<(Rc<JwkSet>, bool), FlowError> {
        let now = self.now();
        let issuer = metadata.issuer.as_str();
        let entry = self.providers.entry(issuer);
        if let Some(in_flight) = &entry.jwks_in_flight {
            return in_flight.wait().await.map(|set| (set, true));
        }
        if let Some((set, at)) = &entry.jwks {
            let fetch_now = if force {
                entry.last_forced_jwks_fetch.is_none_or(|t| now.saturating_sub(t) >= JWKS_REFETCH_COOLDOWN_SECONDS)
            } else {
                now.saturating_sub(*at) >= METADATA_TTL_SECONDS
            };
            if !fetch_now {
                return Ok((set.clone(), false));
            }
        }
        let slot = InFlight::new();
        self.providers.update(issuer, |e| {
            e.jwks_in_flight = Some(slot.clone());
            if force {
                e.last_forced_jwks_fetch = Some(now);
            }
        });
        let guard = InFlightGuard { cache: self.providers, issuer, slot };
        let fetched = async {
            let response = self
                .platform
                .send(HttpRequest::get(&metadata.jwks_uri))
                .await
                .map_err(|e| FlowError::IdpUnreachable(format!("jwks_uri: {e}")))?;
            if response.status != 200 {
                return Err(FlowError::IdpUnreachable(format!("jwks_uri: HTTP {}", response.status)));
            }
            parse_jwks(&response.body).map_err(|e| FlowError::IdpUnreachable(format!("jwks_uri: {e}")))
        }
        .await;
        let result = match (fetched, entry.jwks) {
            (Ok(set), _) => {
                let set = Rc::new(set);
                self.providers.update(issuer, |e| e.jwks = Some((set.clone(), now)));
                Ok(set)
            }
            // Stale-if-error: keep validating with the last good keys while the IdP is down.
            (Err(e), Some((stale, _))) => {
                self.platform.warn(&format!("edge-auth: using cached JWKS for {issuer:?}: {}", e.log_detail()));
                Ok(stale)
            }
            (Err(e), None) => Err(e),
        };
        guard.finish(result.clone());
        result.map(|set| (set, true))
    }
}

type FlowResult = Result<Outcome, (FlowError, Vec<String>)>;

impl From<FlowError> for (FlowError, Vec<String>) {
    fn from(e: FlowError) -> Self {
        (e, vec![])
    }
}

fn pick(selection: KeySelection<'_>) -> Result<&crate::core::oidc::jwks::Jwk, FlowError> {
    match selection {
        KeySelection::Found(k) => Ok(k),
        KeySelection::UnknownKid => {
            Err(FlowError::IdToken("no key with the token's kid, even after a JWKS refetch".into()))
        }
        KeySelection::Ambiguous => {
            Err(FlowError::IdToken("the token has no kid and several keys could verify it".into()))
        }
        KeySelection::NoSuitableKey => Err(FlowError::IdToken("no key in the JWKS fits the token's algorithm".into())),
    }
}

/// A state-changing request must come from our own pages: `Origin` equal to ours, or (browsers that omit
/// `Origin`) `Sec-Fetch-Site: same-origin`.
fn is_same_origin(req: &Request) -> bool {
    match (&req.origin_header, &req.sec_fetch_site) {
        (Some(origin), _) => origin == &req.origin(),
        (None, Some(site)) => site == "same-origin",
        (None, None) => false,
    }
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Other => "OTHER",
    }
}

fn logout_confirmation_page() -> Response {
    Response::html(
        200,
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign out</title>
<link rel="stylesheet" href="/auth/static/style.css">
<link rel="icon" href="/auth/static/favicon.svg" type="image/svg+xml">
</head>
<body>
<main class="card">
<h1>Sign out?</h1>
<p>You will be signed out of this site and sent to your identity provider to end your session there.</p>
<form method="post" action="/auth/logout"><p class="action"><button class="button" type="submit">Sign out</button></p></form>
</main>
</body>
</html>
"#
        .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_is_spent_once() {
        let cache = ProviderCache::default();
        assert!(cache.spend_transaction("s1", 100, 10));
        assert!(!cache.spend_transaction("s1", 100, 10), "replay");
        assert!(cache.spend_transaction("s2", 100, 10));
    }

    #[test]
    fn spent_memory_is_bounded() {
        let cache = ProviderCache::default();
        for i in 0..(MAX_SPENT_TRANSACTIONS + 10) {
            assert!(cache.spend_transaction(&format!("s{i}"), 1000 + i as u64, 10));
        }
        assert!(cache.spent_transactions.borrow().len() <= MAX_SPENT_TRANSACTIONS);
        // The most recent ones are still remembered.
        assert!(!cache.spend_transaction(&format!("s{}", MAX_SPENT_TRANSACTIONS + 9), 0, 10));
    }

    #[test]
    fn unauthenticated_navigation_keeps_the_destination() {
        let r = unauthenticated("/search?q=annual%20report", true);
        assert_eq!(r.status, 302);
        assert_eq!(r.header("location"), Some("/auth/login?return_to=%2Fsearch%3Fq%3Dannual%2520report"));
        assert_eq!(unauthenticated("//evil.example", true).header("location"), Some("/auth/login"));
        assert_eq!(unauthenticated("/api", false).status, 401);
    }
}
