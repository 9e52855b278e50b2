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

use crate::core::deployment::Ready;
use crate::core::entry::{fast_gate, internal_error, site_path};
use crate::core::fetch::{FetchError, HttpRequest, HttpResponse};
use crate::core::flow::{forbidden, gate, is_auth_path, unauthenticated, upgrade_to_https, Flow, Gate, GateRequest};
use crate::core::http::{self as core_http, is_navigation, Method, Outcome};
use crate::core::incoming::{form_body_cap, with_form, FormBody};
use crate::core::log::{Event, Kind, Level};
use crate::core::oidc::jwks::{Alg, HashAlg, Jwk};
use crate::core::ports::{
    Clock, CryptoError, HttpClient, KeyUnwrapper, Log, OaepHash, Rng, Secrets, SignatureVerifier, UnwrapError,
};
use crate::core::secret::Secret;
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
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn edge_auth_fast_gate(url: &str, cookie_header: &str) -> bool {
    let Some(state) = state::loaded_state() else { return false };
    let Ok(ready) = &state.ready else { return false };
    fast_gate(ready, &state.cache, url, cookie_header, WorkerPlatform::unix_now())
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
        Err(config_error) => {
            let message = config_error.to_string();
            write_event(&Event::new(Kind::ConfigError, Level::Error).message(&message), request_id);
            if url.path() == "/auth/health" {
                return to_worker_response(crate::core::flow::health::config_error_health());
            }
            return to_worker_response(crate::core::error::FlowError::from(config_error.clone()).to_html_response());
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
                state.cache.revocations.reload(&WorkerPlatform::new(env, &state, ready, request_id), now).await;
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
        // The hot path: the policy, one header read, one HMAC; the request then goes through untouched.
        let cookie = req.headers().get("cookie")?.unwrap_or_default();
        let request = GateRequest { path, cookie_header: &cookie, transport, now };
        return match gate(&ready.config, &ready.keys, &state.cache, &platform, request) {
            Gate::Public => forward(req, env, &url, path, ready, None, now).await,
            Gate::Allowed { session, renew, .. } => {
                let response = forward(req, env, &url, path, ready, Some(&session), now).await?;
                match renew {
                    Some(cookie) => with_extra_header(response, "set-cookie", &cookie),
                    None => Ok(response),
                }
            }
            Gate::Unauthenticated => {
                let path_and_query = match url.query() {
                    Some(q) => format!("{path}?{q}"),
                    None => path.to_string(),
                };
                to_worker_response(unauthenticated(&path_and_query, navigation(&req)?))
            }
            Gate::Forbidden(session) => to_worker_response(forbidden(&session, navigation(&req)?)),
        };
    }

    let platform = WorkerPlatform::new(env, &state, ready, request_id);
    let core_request = match to_core_request(&req, url.clone(), &platform).await? {
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
        Outcome::ServePublicAsset { path, status, headers, fallback } => {
            let asset_url = format!("{}{}", url.origin().ascii_serialization(), path);
            let mut asset = env.assets(ASSETS_BINDING)?.fetch(asset_url, None).await?;
            if asset.status_code() != 200 {
                let message = format!("public page {path} is missing from www/; serving the built-in page");
                platform.event(&Event::new(Kind::ConfigError, Level::Warn).message(&message));
                return to_worker_response(fallback);
            }
            let content_type = asset.headers().get("content-type")?.unwrap_or_else(|| "text/html".into());
            let body = asset.bytes().await?;
            let out = Headers::new();
            out.set("content-type", &content_type)?;
            for (name, value) in &headers {
                out.append(name, value)?;
            }
            Ok(Response::from_bytes(body)?.with_status(status).with_headers(out))
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
    session: Option<&crate::core::session::record::Session>,
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
    let identity = match (session, &ready.assertion_key) {
        (Some(session), Some(key)) => {
            let site = url.origin().ascii_serialization();
            Some((session, origin::assertion(key, session, &site, origin_settings, now).await?))
        }
        _ => None,
    };
    origin::proxy(req, url, path, origin_settings, identity).await
}

/// The same response with one more header (responses from `fetch` have immutable headers).
fn with_extra_header(response: Response, name: &str, value: &str) -> Result<Response> {
    let status = response.status_code();
    let headers = Headers::new();
    for (k, v) in response.headers().entries() {
        headers.append(&k, &v)?;
    }
    headers.append(name, value)?;
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
}

impl<'a> WorkerPlatform<'a> {
    fn new(env: &'a Env, state: &'a state::IsolateState, ready: &'a Ready, request_id: &'a str) -> WorkerPlatform<'a> {
        WorkerPlatform { env, keys: &ready.keys, documents: &state.documents, request_id }
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
        revocations::since(self.env, cursor).await
    }
}

impl Log for WorkerPlatform<'_> {
    fn event(&self, event: &Event) {
        write_event(event, self.request_id);
    }
}
