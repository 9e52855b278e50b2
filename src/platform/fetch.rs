//! Outgoing HTTP to IdPs, with a timeout, and the location's Cache API behind the isolates' memory.
//!
//! GET answers (discovery documents, JWKS) are kept in the Workers Cache API for as long as the IdP's
//! `Cache-Control: max-age` says, bounded to 5 min – 24 h (1 h when it says nothing; never with
//! `no-store` or `private`), so a fresh isolate in the same location does not ask the IdP again. The copy
//! carries `x-edge-auth-fresh-until` (Unix seconds); a hit answers with what remains of that lifetime as
//! `fresh_for`, which is how long the isolate then keeps it in memory. A copy past that time is kept for
//! the stale window (24 h) but used only when the IdP cannot answer (stale-if-error, for isolates that never
//! saw the document); a copy without the header counts as a miss. A request marked `Cache-Control: no-cache`
//! (the refetch after an unknown `kid`) always goes to the IdP.

//!
//! Built on web-sys and two direct bindings (`fetch`, `caches.default`) rather than workers-rs's `Fetch`,
//! `RequestInit` and `Cache`, whose conversions carry every Cloudflare `cf` option (about 10 KB of wasm).

use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::pin_mut;
use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::Delay;

use crate::core::flow::STALE_WHILE_REVALIDATE_SECONDS;
use crate::core::http::{cache_lifetime, cached_copy, CachedCopy, FRESH_UNTIL_HEADER};
use crate::core::platform::{FetchError, HttpRequest, HttpResponse};
use crate::platform::bindings::{self, error_message};

/// Responses from IdPs larger than this are refused.
const MAX_RESPONSE_BYTES: usize = 512 * 1024;

fn js_error(e: JsValue) -> FetchError {
    FetchError(error_message(&e, "the request failed"))
}

pub async fn send(request: HttpRequest, timeout: Duration) -> Result<HttpResponse, FetchError> {
    let cacheable = request.method == "GET";
    let revalidate = request.headers.iter().any(|(k, v)| *k == "cache-control" && v.contains("no-cache"));
    let mut stale = None;
    if cacheable && !revalidate {
        match cached(&request.url).await {
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
    if cacheable && response.status == 200 {
        if let Some(seconds) = response.fresh_for {
            if let Err(e) = store(&request.url, &response.body, seconds).await {
                worker::console_warn!("edge-auth: could not cache {}: {}", request.url, e.0);
            }
        }
    }
    Ok(response)
}

/// The location's copy, fresh (with what remains of its lifetime) or stale (`fresh_for` 0: the isolate
/// treats it as due for a refresh at once).
async fn cached(url: &str) -> Option<(CachedCopy, HttpResponse)> {
    let hit = JsFuture::from(bindings::default_cache().ok()?.lookup(url).ok()?).await.ok()?;
    let hit: web_sys::Response = hit.dyn_into().ok()?;
    let fresh_until = hit.headers().get(FRESH_UNTIL_HEADER).ok().flatten();
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
    Some((state, HttpResponse { status: 200, body, fresh_for: Some(fresh_for) }))
}

async fn store(url: &str, body: &[u8], seconds: u64) -> Result<(), FetchError> {
    let headers = web_sys::Headers::new().map_err(js_error)?;
    headers.set("content-type", "application/json").map_err(js_error)?;
    // Kept past its freshness for the stale window: a stale copy still serves when the IdP cannot answer.
    let keep = seconds.saturating_add(STALE_WHILE_REVALIDATE_SECONDS);
    headers.set("cache-control", &format!("public, max-age={keep}")).map_err(js_error)?;
    let fresh_until = super::WorkerPlatform::unix_now().saturating_add(seconds).to_string();
    headers.set(FRESH_UNTIL_HEADER, &fresh_until).map_err(js_error)?;
    let init = web_sys::ResponseInit::new();
    init.set_headers(&headers);
    let copy = web_sys::Response::new_with_opt_buffer_source_and_init(Some(&Uint8Array::from(body)), &init)
        .map_err(js_error)?;
    JsFuture::from(bindings::default_cache()?.put(url, &copy).map_err(js_error)?).await.map_err(js_error)?;
    Ok(())
}

async fn read_body(response: &web_sys::Response) -> Result<Vec<u8>, FetchError> {
    let buffer = JsFuture::from(response.array_buffer().map_err(js_error)?).await.map_err(js_error)?;
    Ok(Uint8Array::new(&buffer).to_vec())
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
        if body.len() > MAX_RESPONSE_BYTES {
            return Err(FetchError(format!("response larger than {MAX_RESPONSE_BYTES} bytes")));
        }
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
