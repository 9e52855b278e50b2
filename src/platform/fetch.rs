//! Outgoing HTTP to IdPs, with a timeout, and the location's Cache API behind the isolates' memory.
//!
//! Only requests the core marks as documents ([`HttpRequest::document`]: discovery documents, key sets) go near
//! the Cache API; per-user answers (UserInfo, Facebook's Graph `/me`) and token requests never do, whatever
//! their method. The cache is edge-auth's own ([`CACHE_NAME`], opened once per isolate), never `caches.default`,
//! and every copy carries a MAC ([`DOCUMENT_MAC_HEADER`], computed by the core's `KeyRing::document_mac` from
//! `SESSION_KEYS`) over its URL, its expiry and its body: any Worker of the zone can write to that cache, so a
//! copy without a valid MAC is a miss (and the operator is told, once per URL).
//!
//! A document is kept in the Cache API for as long as the IdP's `Cache-Control: max-age` says, bounded to
//! 5 min – 24 h (1 h when it says nothing; never with `no-store` or `private`), so a fresh isolate in the same
//! location does not ask the IdP again. The copy carries `x-edge-auth-fresh-until` (Unix seconds); a hit
//! answers with what remains of that lifetime as `fresh_for`, which is how long the isolate then keeps it in
//! memory. A copy past that time is kept for the stale window (24 h) but used only when the IdP cannot answer
//! (stale-if-error, for isolates that never saw the document); a copy without the header counts as a miss. A
//! refetch ([`CachePolicy::DocumentRefetch`](crate::core::fetch::CachePolicy::DocumentRefetch), after an unknown `kid`) always goes to the IdP.
//!
//! Built on web-sys and direct bindings (`fetch`, `caches.open`) rather than workers-rs's `Fetch`,
//! `RequestInit` and `Cache`, whose conversions carry every Cloudflare `cf` option (about 10 KB of wasm).

use std::cell::RefCell;
use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::pin_mut;
use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::Delay;

use crate::core::cache::STALE_WHILE_REVALIDATE_SECONDS;
use crate::core::cache::{cache_lifetime, cached_copy, CachedCopy, DOCUMENT_MAC_HEADER, FRESH_UNTIL_HEADER};
use crate::core::fetch::{FetchError, HttpRequest, HttpResponse};
use crate::core::session::codec::KeyRing;
use crate::platform::bindings::{self, error_message};

/// Responses from IdPs larger than this are refused.
const MAX_RESPONSE_BYTES: usize = 512 * 1024;

/// edge-auth's own cache in the location (`caches.open`): not `caches.default`, which every Worker of the zone
/// reads and writes under the same URLs. (Other Workers can still open a cache of this name: hence the MAC.)
pub const CACHE_NAME: &str = "edge-auth";

/// How many URLs with unauthentic copies an isolate remembers having reported (then it stays quiet).
const MAX_REPORTED_URLS: usize = 64;

thread_local! {
    /// The cache, once opened: kept for the isolate's life.
    static OPENED: RefCell<Option<bindings::Cache>> = const { RefCell::new(None) };
    /// URLs whose unauthentic copies were already reported.
    static REPORTED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn js_error(e: JsValue) -> FetchError {
    FetchError(error_message(&e, "the request failed"))
}

pub async fn send(request: HttpRequest, timeout: Duration, keys: &KeyRing) -> Result<HttpResponse, FetchError> {
    let mut stale = None;
    if request.may_read_shared_cache() {
        match cached(&request.url, keys).await {
            Some((CachedCopy::Fresh(_), hit)) => return Ok(hit),
            Some((CachedCopy::Stale, copy)) => stale = Some(copy),
            _ => {}
        }
    }
    let response = match (send_to_network(&request, timeout).await, stale) {
        (Ok(response), _) if response.status == 200 => response,
        // Stale-if-error across isolates: the IdP cannot answer, the location still has its last document.
        (failed, Some(copy)) => {
            let why = match &failed {
                Ok(r) => format!("HTTP {}", r.status),
                Err(e) => e.0.clone(),
            };
            worker::console_warn!("edge-auth: {} failed ({why}); using the expired copy in the cache", request.url);
            return Ok(copy);
        }
        (failed, None) => failed?,
    };
    if request.may_store_in_shared_cache() && response.status == 200 {
        if let Some(seconds) = response.fresh_for {
            if let Err(e) = store(&request.url, &response.body, seconds, keys).await {
                worker::console_warn!("edge-auth: could not cache {}: {}", request.url, e.0);
            }
        }
    }
    Ok(response)
}

/// edge-auth's cache ([`CACHE_NAME`]), or `None` without a Cache API (tried again by the next request).
async fn edge_auth_cache() -> Option<bindings::Cache> {
    if let Some(cache) = OPENED.with(|o| o.borrow().clone()) {
        return Some(cache);
    }
    // Each request awaits its own `caches.open` (no I/O): a promise of another request is not awaited here.
    let cache = JsFuture::from(bindings::open_cache(CACHE_NAME).ok()?).await.ok().filter(JsValue::is_object)?;
    let cache: bindings::Cache = cache.unchecked_into();
    OPENED.with(|o| *o.borrow_mut() = Some(cache.clone()));
    Some(cache)
}

/// Tell the operator about a copy without a valid MAC, once per URL (per isolate).
fn report_unauthentic(url: &str) {
    let first = REPORTED.with(|r| {
        let mut reported = r.borrow_mut();
        if reported.len() >= MAX_REPORTED_URLS || reported.iter().any(|u| u == url) {
            return false;
        }
        reported.push(url.to_string());
        true
    });
    if first {
        worker::console_warn!(
            "edge-auth: ignored the copy of {url} in the cache: its MAC is missing or wrong (another Worker wrote \
             it, or a key since removed from SESSION_KEYS)"
        );
    }
}

/// The location's copy, fresh (with what remains of its lifetime) or stale (`fresh_for` 0: the isolate
/// treats it as due for a refresh at once); `None` for a miss, an unusable copy or one without a valid MAC.
async fn cached(url: &str, keys: &KeyRing) -> Option<(CachedCopy, HttpResponse)> {
    let cache = edge_auth_cache().await?;
    let hit = JsFuture::from(cache.lookup(url).ok()?).await.ok()?;
    let hit: web_sys::Response = hit.dyn_into().ok()?;
    let headers = hit.headers();
    let fresh_until = headers.get(FRESH_UNTIL_HEADER).ok().flatten();
    let state = cached_copy(fresh_until.as_deref(), super::WorkerPlatform::unix_now());
    let fresh_for = match state {
        CachedCopy::Fresh(left) => left,
        CachedCopy::Stale => 0,
        CachedCopy::Unusable => return None,
    };
    if hit.status() != 200 {
        return None;
    }
    let body = read_body(&hit).await.ok()?;
    let mac = headers.get(DOCUMENT_MAC_HEADER).ok().flatten();
    if !keys.verify_document_mac(url, fresh_until.as_deref(), &body, mac.as_deref()) {
        report_unauthentic(url);
        return None;
    }
    Some((state, HttpResponse { status: 200, body, fresh_for: Some(fresh_for) }))
}

async fn store(url: &str, body: &[u8], seconds: u64, keys: &KeyRing) -> Result<(), FetchError> {
    let cache = edge_auth_cache().await.ok_or_else(|| FetchError("the Cache API is not available".into()))?;
    let headers = web_sys::Headers::new().map_err(js_error)?;
    headers.set("content-type", "application/json").map_err(js_error)?;
    // Kept past its freshness for the stale window: a stale copy still serves when the IdP cannot answer.
    let keep = seconds.saturating_add(STALE_WHILE_REVALIDATE_SECONDS);
    headers.set("cache-control", &format!("public, max-age={keep}")).map_err(js_error)?;
    let fresh_until = super::WorkerPlatform::unix_now().saturating_add(seconds);
    headers.set(FRESH_UNTIL_HEADER, &fresh_until.to_string()).map_err(js_error)?;
    headers.set(DOCUMENT_MAC_HEADER, &keys.document_mac(url, fresh_until, body)).map_err(js_error)?;
    let init = web_sys::ResponseInit::new();
    init.set_headers(&headers);
    let copy = web_sys::Response::new_with_opt_buffer_source_and_init(Some(&Uint8Array::from(body)), &init)
        .map_err(js_error)?;
    JsFuture::from(cache.put(url, &copy).map_err(js_error)?).await.map_err(js_error)?;
    Ok(())
}

/// The body, at most [`MAX_RESPONSE_BYTES`]: a larger `Content-Length` is refused before reading, and the
/// stream is cut (cancelled) as soon as it passes the cap, so a hostile or broken IdP cannot make the isolate
/// buffer more than that.
async fn read_body(response: &web_sys::Response) -> Result<Vec<u8>, FetchError> {
    let declared = response.headers().get("content-length").ok().flatten();
    match crate::platform::body::read_capped(response.body(), declared.as_deref(), MAX_RESPONSE_BYTES).await {
        Ok(body) => Ok(body),
        Err(crate::platform::body::BodyError::TooLarge) => {
            Err(FetchError(format!("response larger than {MAX_RESPONSE_BYTES} bytes")))
        }
        Err(crate::platform::body::BodyError::Failed(why)) => Err(FetchError(why)),
    }
}

/// The IdP's answer; `fresh_for` is [`cache_lifetime`] of its `Cache-Control`.
async fn send_to_network(request: &HttpRequest, timeout: Duration) -> Result<HttpResponse, FetchError> {
    let headers = web_sys::Headers::new().map_err(js_error)?;
    for (name, value) in &request.headers {
        headers.set(name, value).map_err(js_error)?;
    }
    let controller = web_sys::AbortController::new().map_err(js_error)?;
    let init = web_sys::RequestInit::new();
    init.set_method(if request.method == "POST" { "POST" } else { "GET" });
    init.set_headers(&headers);
    init.set_signal(Some(&controller.signal()));
    if let Some(body) = &request.body {
        init.set_body(&JsValue::from_str(body));
    }
    let req = web_sys::Request::new_with_str_and_init(&request.url, &init).map_err(js_error)?;
    let exchange = async {
        let response = bindings::fetch(&req).await.map_err(js_error)?;
        let status = response.status();
        let cache_control = response.headers().get("cache-control").ok().flatten();
        let body = read_body(&response).await?;
        Ok(HttpResponse { status, body, fresh_for: cache_lifetime(cache_control.as_deref()) })
    };
    let deadline = Delay::from(timeout);
    pin_mut!(exchange);
    match select(exchange, deadline).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => {
            controller.abort();
            Err(FetchError(format!("no answer within {} s", timeout.as_secs())))
        }
    }
}
