//! The Cloudflare Workers shell. It moves bytes between workers-rs and the core and provides the
//! platform traits; it decides nothing.

mod bindings;
mod body;
mod durable_object;
mod fetch;
mod origin;
mod replay;
mod revocations;
mod state;
pub mod webcrypto;

use std::time::Duration;

use worker::{event, Context, Env, Headers, Request, Response, Result};

use crate::core::assertion::Principal;
use crate::core::cors;
use crate::core::deployment::Ready;
use crate::core::entry::{fast_path, internal_error, site_path};
use crate::core::fetch::{FetchError, HttpRequest, HttpResponse};
use crate::core::flow::{
    forbidden, is_auth_path, site_gate, unauthenticated, upgrade_to_https, Flow, Gate, GateRequest, SiteGate,
};
use crate::core::http::{self as core_http, is_navigation, Method, Outcome};
use crate::core::incoming::{form_body_cap, with_form, FormBody};
use crate::core::log::{Event, Kind, Level};
use crate::core::oidc::jwks::{Alg, HashAlg, Jwk};
use crate::core::ports::{
    Clock, CryptoError, HttpClient, KeyUnwrapper, Log, OaepHash, Rng, Secrets, SignatureVerifier, UnwrapError,
};
use crate::core::secret::Secret;
use crate::core::service_token::{self, TokenGate, TokenHeaders};
use crate::core::session::revocation::Revocation;
use crate::core::session::revocation::{Recorded, RevocationPage};
use crate::core::session::revocation_state::Reload;
use crate::core::url::transport_of;

/// Binding of the static assets (`[assets] binding` in wrangler.toml).
const ASSETS_BINDING: &str = "ASSETS";
/// How often a request waiting for another one's work (an IdP fetch, the revocation reload) checks whether it
/// finished: on a timer of its own request, see [`Clock::pause`].
const IN_FLIGHT_POLL: Duration = Duration::from_millis(10);
/// How long at most a request waits for another request's revocation reload.
const RELOAD_WAIT: Duration = Duration::from_secs(30);

/// The hot path, called synchronously by the JS entry (`build/index.js`, written by scripts/build.sh)
/// before anything else: `true` means "a valid session (or a public path) for static content, no cookie
/// to renew": the entry then hands the request to `ASSETS` itself, without the workers-rs request and
/// response wrapping. Anything else (`false`) goes to the full handler below, which decides again.
///
/// The answer is a number ([`fast_path`]): `0` the full handler, `1` the assets, `2` the assets unless the request
/// carries `Origin` or a service-token header (which the entry checks only then).
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn edge_auth_fast_gate(url: &str, cookie_header: &str) -> u32 {
    let Some(state) = state::loaded_state() else { return 0 };
    let Ok(ready) = &state.ready else { return 0 };
    fast_path(ready, &state.cache, url, cookie_header, WorkerPlatform::unix_now())
}

#[event(fetch)]
pub async fn main(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let request_id = request_id(&req);
    match handle(req, &env, &ctx, &request_id).await {
        Ok(response) => Ok(response),
        Err(e) => {
            let message = e.to_string();
            let event = Event::new(Kind::InternalError, Level::Error).message(&message);
            write_event(&event, &request_id);
            to_worker_response(internal_error())
        }
    }
}

/// The request's id in the log: Cloudflare's `cf-ray` (also in Cloudflare's own logs of the request), else a
/// random one.
fn request_id(req: &Request) -> String {
    if let Ok(Some(ray)) = req.headers().get("cf-ray") {
        if !ray.is_empty() && ray.len() <= 64 && ray.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return ray;
        }
    }
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One JSON line, by level (Workers Logs records the level of the console method).
fn write_event(event: &Event, request_id: &str) {
    let line = wasm_bindgen::JsValue::from_str(&event.to_json(Some(request_id).filter(|id| !id.is_empty())));
    match event.level {
        Level::Info => web_sys::console::log_1(&line),
        Level::Warn => web_sys::console::warn_1(&line),
        Level::Error => web_sys::console::error_1(&line),
    }
}

async fn handle(req: Request, env: &Env, ctx: &Context, request_id: &str) -> Result<Response> {
    let url = req.url()?;
    let state = state::isolate_state(env);
    let ready = match &state.ready {
        Ok(ready) => ready,
        Err(config_errors) => {
            // Every error, in the log only: the page says nothing of the configuration.
            let message = config_errors.to_string();
            write_event(&Event::new(Kind::ConfigError, Level::Error).message(&message), request_id);
            if url.path() == "/auth/health" {
                return to_worker_response(crate::core::flow::health::config_error_health());
            }
            // The configuration's own page settings are not loaded: the default ones, in the visitor's language.
            let settings = crate::core::pages::PageSettings::default();
            let accept_language = req.headers().get("accept-language")?;
            let pages = crate::core::pages::Pages::new(&settings, accept_language.as_deref());
            let error = crate::core::error::FlowError::from(config_errors.first().clone());
            return to_worker_response(error.to_page(&pages));
        }
    };
    let Some(transport) = transport_of(&url) else {
        return to_worker_response(upgrade_to_https(&url));
    };
    let path = url.path();
    let now = WorkerPlatform::unix_now();

    if ready.revocations_bound {
        match state.cache.revocations.plan_reload(now) {
            Reload::None => {}
            Reload::Background => {
                ctx.wait_until(background(env.clone(), state.clone(), now, true, request_id.to_string()))
            }
            // A fresh isolate (or one without a usable list) learns the list before admitting anyone (or
            // answering /auth/me): every request waits for the same single reload.
            Reload::Wait => {
                let platform = WorkerPlatform::new(env, &state, ready, request_id)
                    .with_prefetched_since(revocations::take_prefetched_since(req.inner()));
                state.cache.revocations.reload(&platform, now).await;
                wait_for_reload(&state).await;
            }
        }
    }

    if !is_auth_path(path) {
        // Decided once, on the canonical path, which is also exactly what is forwarded.
        let platform = WorkerPlatform::new(env, &state, ready, request_id);
        let path = match site_path(path, &platform) {
            Ok(canonical) => canonical,
            Err(refused) => return to_worker_response(refused),
        };
        let path = path.as_ref();
        let headers = req.headers();
        let cors = &ready.config.cors;
        let origin_header = if cors.is_empty() { None } else { headers.get("origin")? };
        // A CORS preflight for a configured path is answered here (granted or not), never forwarded.
        if let (Some(origin), "OPTIONS") = (&origin_header, req.inner().method().as_str()) {
            if let Some(method) = headers.get("access-control-request-method")? {
                let requested = headers.get("access-control-request-headers")?;
                if let Some(answer) = cors::preflight(cors, path, origin, &method, requested.as_deref()) {
                    return to_worker_response(answer);
                }
            }
        }
        let cors_headers = cors::response_headers(cors, path, origin_header.as_deref());
        // The hot path: the policy, one header read, one HMAC; the request then goes through untouched.
        let cookie = headers.get("cookie")?.unwrap_or_default();
        let (token_id, token_secret) = if ready.config.service_tokens.is_empty() {
            (None, None)
        } else {
            (headers.get(service_token::ID_HEADER)?, headers.get(service_token::SECRET_HEADER)?)
        };
        let token = TokenHeaders { id: token_id.as_deref(), secret: token_secret.as_deref() };
        let request = GateRequest { path, cookie_header: &cookie, transport, now };
        let response = match site_gate(&ready.config, &ready.keys, &state.cache, &platform, request, token) {
            SiteGate::Session(Gate::Public) => forward(req, env, &url, path, ready, None, now).await?,
            SiteGate::Session(Gate::Allowed { session, renew, .. }) => {
                let response = forward(req, env, &url, path, ready, Some(Principal::User(&session)), now).await?;
                match renew {
                    Some(cookie) => with_extra_headers(response, &[("set-cookie", cookie)])?,
                    None => response,
                }
            }
            SiteGate::Session(Gate::Unauthenticated) => {
                let path_and_query = match url.query() {
                    Some(q) => format!("{path}?{q}"),
                    None => path.to_string(),
                };
                to_worker_response(unauthenticated(&path_and_query, navigation(&req)?))?
            }
            SiteGate::Session(Gate::Forbidden(session)) => {
                let accept_language = req.headers().get("accept-language")?;
                let navigation = navigation(&req)?;
                to_worker_response(forbidden(&ready.config.pages, accept_language.as_deref(), &session, navigation))?
            }
            SiteGate::Token(TokenGate::Allowed(t)) => {
                forward(req, env, &url, path, ready, Some(Principal::ServiceToken(&t.id)), now).await?
            }
            SiteGate::Token(TokenGate::Refused(_)) => to_worker_response(service_token::refused())?,
            SiteGate::Token(TokenGate::Forbidden(_)) => to_worker_response(service_token::forbidden())?,
        };
        // On a path a CORS rule covers, the worker alone speaks CORS: the origin's own `Access-Control-*` headers
        // (a reflected origin, credentials the rule does not grant) are dropped.
        return if cors.is_empty() || !cors::covers(cors, path) {
            Ok(response)
        } else {
            with_extra_headers_over(response, &cors_headers, "access-control-")
        };
    }

    // The sign-in flow (everything under /auth/) behind a boxed future of its own: its code is a separate wasm
    // function that a fresh isolate compiles only when a request reaches it (V8 compiles wasm lazily, function by
    // function; inlined here, a first request for site content paid for compiling the whole flow).
    let auth: std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response>> + '_>> =
        Box::pin(handle_auth(req, url, env, ctx, &state, ready, request_id, now));
    auth.await
}

/// A request under `/auth/`: the sign-in flow.
#[allow(clippy::too_many_arguments)]
async fn handle_auth(
    req: Request,
    url: url::Url,
    env: &Env,
    ctx: &Context,
    state: &std::rc::Rc<state::IsolateState>,
    ready: &Ready,
    request_id: &str,
    now: u64,
) -> Result<Response> {
    let platform = WorkerPlatform::new(env, state, ready, request_id);
    let core_request = match to_core_request(&req, url, &platform).await? {
        Ok(request) => request,
        Err(refused) => return to_worker_response(refused),
    };
    let flow = Flow { config: &ready.config, keys: &ready.keys, platform: &platform, providers: &state.cache };
    // `Flow::handle`, one future shallower (smaller wasm).
    let outcome = match flow.route(&core_request).await {
        Ok(outcome) => outcome,
        Err((error, cookies)) => flow.refusal(&core_request, &error, &cookies),
    };
    if state.cache.refresh_pending() {
        // Served from a stale discovery document or key set: refresh it after answering.
        ctx.wait_until(background(env.clone(), state.clone(), now, false, request_id.to_string()));
    }
    match outcome {
        Outcome::Respond(response) => to_worker_response(response),
        Outcome::PassThrough => env.assets(ASSETS_BINDING)?.fetch_request(req).await,
        Outcome::ServeAuthStatic { headers } => {
            let asset = env.assets(ASSETS_BINDING)?.fetch_request(req).await?;
            // The asset server's headers are immutable: copy them, then set ours over them.
            let out = Headers::new();
            for (name, value) in asset.headers().entries() {
                out.append(&name, &value)?;
            }
            for (name, value) in &headers {
                out.set(name, value)?;
            }
            Ok(asset.with_headers(out))
        }
    }
}

/// Wait for another request's revocation reload to end, on this request's own timers: woken by the reloading
/// request's I/O, workerd cancels the continuation ("A promise was resolved or rejected from a different
/// request context"), which answered 500 to every waiter. Gives up after `RELOAD_WAIT` (the list then is not
/// usable: sessions are refused).
async fn wait_for_reload(state: &state::IsolateState) {
    for _ in 0..(RELOAD_WAIT.as_millis() / IN_FLIGHT_POLL.as_millis()) {
        if !state.cache.revocations.reload_in_flight() {
            return;
        }
        worker::Delay::from(IN_FLIGHT_POLL).await;
    }
}

/// Work after answering (`ctx.waitUntil`): reload the revocation list (when asked), then run the background
/// refreshes of stale discovery documents and key sets that requests asked for. (One function for both, so
/// the Worker carries one such task type.)
async fn background(
    env: Env,
    state: std::rc::Rc<state::IsolateState>,
    now: u64,
    reload_revocations: bool,
    request_id: String,
) {
    let Ok(ready) = &state.ready else { return };
    if reload_revocations {
        state.cache.revocations.reload(&WorkerPlatform::new(&env, &state, ready, &request_id), now).await;
    }
    if state.cache.refresh_pending() {
        let platform = WorkerPlatform::new(&env, &state, ready, &request_id);
        let flow = Flow { config: &ready.config, keys: &ready.keys, platform: &platform, providers: &state.cache };
        flow.refresh_due().await;
    }
}

fn navigation(req: &Request) -> Result<bool> {
    let method = Method::parse(req.inner().method().as_str());
    let headers = req.headers();
    Ok(is_navigation(method, headers.get("sec-fetch-mode")?.as_deref(), headers.get("accept")?.as_deref()))
}

/// Serve the site at the canonical `path`: static assets, or (origin mode) the origin with the user's identity.
async fn forward(
    req: Request,
    env: &Env,
    url: &url::Url,
    path: &str,
    ready: &Ready,
    principal: Option<Principal<'_>>,
    now: u64,
) -> Result<Response> {
    let Some(origin_settings) = &ready.config.origin else {
        let req = if path == url.path() {
            req
        } else {
            let mut target = url.clone();
            target.set_path(path);
            origin::request_at(&req, &target)?
        };
        return env.assets(ASSETS_BINDING)?.fetch_request(req).await;
    };
    let identity = match (principal, &ready.assertion_key) {
        (Some(principal), Some(key)) => {
            let site = url.origin().ascii_serialization();
            Some((principal, origin::assertion(key, principal, &site, origin_settings, now).await?))
        }
        _ => None,
    };
    origin::proxy(req, url, path, origin_settings, identity).await
}

/// The same response with more headers (responses from `fetch` have immutable headers): `set-cookie` and `vary`
/// are appended to, the others replace what the response had (an origin's own `Access-Control-Allow-Origin`).
fn with_extra_headers(response: Response, extra: &[(&str, String)]) -> Result<Response> {
    with_extra_headers_over(response, extra, "")
}

/// [`with_extra_headers`], dropping the response's headers whose (lower-case) names start with `dropped` first
/// (nothing when it is empty).
fn with_extra_headers_over(response: Response, extra: &[(&str, String)], dropped: &str) -> Result<Response> {
    let status = response.status_code();
    let headers = Headers::new();
    for (k, v) in response.headers().entries() {
        if dropped.is_empty() || !k.to_ascii_lowercase().starts_with(dropped) {
            headers.append(&k, &v)?;
        }
    }
    for (name, value) in extra {
        match *name {
            "set-cookie" | "vary" => headers.append(name, value)?,
            _ => headers.set(name, value)?,
        }
    }
    let (_, body) = response.into_parts();
    Ok(Response::builder().with_status(status).with_headers(headers).body(body))
}

/// The core's view of an `/auth/*` request, or the core's answer to it. A form body is read only when the core
/// says so and never beyond its cap (see [`body::read_capped`]); what was read, or that it was too large, is
/// reported to the core ([`with_form`]), which answers `413` for the latter.
async fn to_core_request(
    req: &Request,
    url: url::Url,
    log: &impl Log,
) -> Result<std::result::Result<core_http::Request, core_http::Response>> {
    let method = Method::parse(req.inner().method().as_str());
    let headers = req.headers();
    let body = match form_body_cap(method, headers.get("content-type")?.as_deref(), url.path()) {
        None => FormBody::NotRead,
        Some(cap) => {
            match body::read_capped(req.inner().body(), headers.get("content-length")?.as_deref(), cap).await {
                Ok(bytes) => FormBody::Read(bytes),
                Err(body::BodyError::TooLarge) => FormBody::Exceeded { limit: cap },
                Err(body::BodyError::Failed(why)) => FormBody::Failed(why),
            }
        }
    };
    let request = core_http::Request {
        method,
        url,
        cookie_header: headers.get("cookie")?.unwrap_or_default(),
        origin_header: headers.get("origin")?,
        sec_fetch_site: headers.get("sec-fetch-site")?,
        accept_language: headers.get("accept-language")?,
        form: Vec::new(),
    };
    Ok(with_form(request, body, log))
}

fn to_worker_response(response: core_http::Response) -> Result<Response> {
    let headers = Headers::new();
    for (name, value) in &response.headers {
        headers.append(name, value)?;
    }
    let out = if response.body.is_empty() { Response::empty()? } else { Response::ok(response.body)? };
    Ok(out.with_status(response.status).with_headers(headers))
}

/// The platform traits, implemented with the Workers runtime (the location's cache and the network: in
/// [`fetch`]).
pub struct WorkerPlatform<'a> {
    env: &'a Env,
    /// `SESSION_KEYS`: the MACs of the IdP documents kept in the location's cache.
    keys: &'a crate::core::session::codec::KeyRing,
    /// The isolate's use of the location's cache.
    documents: &'a crate::core::location_cache::LocationCache,
    /// The request's id in the log ([`request_id`]).
    request_id: &'a str,
    /// The first read of the revocation log, already started by the JS entry for this request
    /// ([`revocations::take_prefetched_since`]): used by the first `since(0)`, once.
    prefetched_since: std::cell::Cell<Option<wasm_bindgen::JsValue>>,
}

impl<'a> WorkerPlatform<'a> {
    fn new(env: &'a Env, state: &'a state::IsolateState, ready: &'a Ready, request_id: &'a str) -> WorkerPlatform<'a> {
        WorkerPlatform {
            env,
            keys: &ready.keys,
            documents: &state.documents,
            request_id,
            prefetched_since: std::cell::Cell::new(None),
        }
    }

    fn with_prefetched_since(self, call: Option<wasm_bindgen::JsValue>) -> WorkerPlatform<'a> {
        self.prefetched_since.set(call);
        self
    }
}

impl WorkerPlatform<'_> {
    pub(crate) fn unix_now() -> u64 {
        (js_sys::Date::now() / 1000.0) as u64
    }
}

impl Clock for WorkerPlatform<'_> {
    fn now(&self) -> u64 {
        Self::unix_now()
    }

    /// A timer of the calling request (see [`Clock::pause`]).
    async fn pause(&self) {
        worker::Delay::from(IN_FLIGHT_POLL).await;
    }
}

impl Rng for WorkerPlatform<'_> {
    fn fill(&self, buf: &mut [u8]) -> std::result::Result<(), CryptoError> {
        getrandom::fill(buf).map_err(|e| CryptoError(e.to_string()))
    }
}

impl KeyUnwrapper for WorkerPlatform<'_> {
    async fn rsa_oaep_decrypt(
        &self,
        private_key_pkcs8: &[u8],
        hash: OaepHash,
        encrypted_key: &[u8],
    ) -> std::result::Result<Vec<u8>, UnwrapError> {
        webcrypto::rsa_oaep_decrypt(private_key_pkcs8, hash, encrypted_key).await
    }
}

impl SignatureVerifier for WorkerPlatform<'_> {
    async fn verify(
        &self,
        alg: Alg,
        key: &Jwk,
        signing_input: &[u8],
        signature: &[u8],
    ) -> std::result::Result<bool, CryptoError> {
        webcrypto::verify(alg, key, signing_input, signature).await
    }

    async fn long_digest(&self, hash: HashAlg, data: &[u8]) -> std::result::Result<Vec<u8>, CryptoError> {
        webcrypto::digest(hash, data).await
    }

    #[cfg(feature = "xml")]
    async fn verify_rsa_sha1(
        &self,
        key: &Jwk,
        signed: &[u8],
        signature: &[u8],
    ) -> std::result::Result<bool, CryptoError> {
        webcrypto::verify_rsa_sha1(key, signed, signature).await
    }
}

/// Through the location's cache, as the core decides ([`LocationCache::send`](crate::core::location_cache::LocationCache::send)).
impl HttpClient for WorkerPlatform<'_> {
    async fn send(&self, request: HttpRequest) -> std::result::Result<HttpResponse, FetchError> {
        self.documents.send(self, self.keys, request).await
    }
}

impl Secrets for WorkerPlatform<'_> {
    fn secret(&self, binding: &str) -> Option<Secret<String>> {
        state::EnvSecrets(self.env).secret(binding)
    }
}

impl crate::core::ports::RevocationStore for WorkerPlatform<'_> {
    async fn record_revocation(&self, revocation: &Revocation) -> std::result::Result<Recorded, FetchError> {
        revocations::record(self.env, revocation).await
    }

    async fn revocations_since(&self, cursor: u64) -> std::result::Result<RevocationPage, FetchError> {
        let prefetched = if cursor == 0 { self.prefetched_since.take() } else { None };
        revocations::since(self.env, cursor, prefetched).await
    }
}

impl Log for WorkerPlatform<'_> {
    fn event(&self, event: &Event) {
        write_event(event, self.request_id);
    }
}
