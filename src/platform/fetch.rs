//! Outgoing HTTP to IdPs (`fetch`, with a timeout and a cap on the answer), and edge-auth's own cache in the
//! location (`caches.open`): the two ports the core's [`LocationCache`](crate::core::location_cache) decides
//! over — which requests may use the cache, fresh and stale copies, their MACs, what is stored. Here only bytes
//! move.
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

use crate::core::cache::StoredResponse;
use crate::core::fetch::{FetchError, HttpRequest, NetworkResponse};
use crate::core::ports::{CacheStore, Network};
use crate::platform::bindings::{self, error_message};
use crate::platform::WorkerPlatform;

/// Outgoing requests to an IdP give up after this long.
const IDP_TIMEOUT: Duration = Duration::from_secs(10);

/// Responses from IdPs larger than this are refused.
const MAX_RESPONSE_BYTES: usize = 512 * 1024;

/// edge-auth's own cache in the location (`caches.open`): not `caches.default`, which every Worker of the zone
/// reads and writes under the same URLs. (Other Workers can still open a cache of this name: hence the MAC.)
pub const CACHE_NAME: &str = "edge-auth";

thread_local! {
    /// The cache, once opened: kept for the isolate's life.
    static OPENED: RefCell<Option<bindings::Cache>> = const { RefCell::new(None) };
}

/// The runtime refused to build the request or a cache entry (a URL or a header it does not take).
fn build_error(e: JsValue) -> FetchError {
    FetchError::InvalidRequest(error_message(&e, "the runtime refused the request"))
}

/// The runtime's call failed (network, aborted stream, cache store).
fn network_error(e: JsValue) -> FetchError {
    FetchError::Network(error_message(&e, "the request failed"))
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

fn unavailable() -> FetchError {
    FetchError::Network("the Cache API is not available".into())
}

/// The body, at most [`MAX_RESPONSE_BYTES`]: a larger `Content-Length` is refused before reading, and the
/// stream is cut (cancelled) as soon as it passes the cap, so a hostile or broken IdP cannot make the isolate
/// buffer more than that.
async fn read_body(response: &web_sys::Response) -> Result<Vec<u8>, FetchError> {
    let declared = response.headers().get("content-length").ok().flatten();
    match crate::platform::body::read_capped(response.body(), declared.as_deref(), MAX_RESPONSE_BYTES).await {
        Ok(body) => Ok(body),
        Err(crate::platform::body::BodyError::TooLarge) => Err(FetchError::TooLarge { limit: MAX_RESPONSE_BYTES }),
        Err(crate::platform::body::BodyError::Failed(why)) => Err(FetchError::Network(why)),
    }
}

impl Network for WorkerPlatform<'_> {
    /// The IdP's answer, its `Cache-Control` as data; given up after [`IDP_TIMEOUT`].
    async fn fetch(&self, request: &HttpRequest) -> Result<NetworkResponse, FetchError> {
        let timeout = IDP_TIMEOUT;
        let headers = web_sys::Headers::new().map_err(build_error)?;
        for (name, value) in &request.headers {
            headers.set(name, value).map_err(build_error)?;
        }
        let controller = web_sys::AbortController::new().map_err(build_error)?;
        let init = web_sys::RequestInit::new();
        init.set_method(if request.method == "POST" { "POST" } else { "GET" });
        init.set_headers(&headers);
        init.set_signal(Some(&controller.signal()));
        if let Some(body) = &request.body {
            init.set_body(&JsValue::from_str(body));
        }
        let req = web_sys::Request::new_with_str_and_init(&request.url, &init).map_err(build_error)?;
        let exchange = async {
            let response = bindings::fetch(&req).await.map_err(network_error)?;
            let status = response.status();
            let cache_control = response.headers().get("cache-control").ok().flatten();
            let body = read_body(&response).await?;
            Ok(NetworkResponse { status, cache_control, body })
        };
        let deadline = Delay::from(timeout);
        pin_mut!(exchange);
        match select(exchange, deadline).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => {
                controller.abort();
                Err(FetchError::Timeout { seconds: timeout.as_secs() })
            }
        }
    }
}

impl CacheStore for WorkerPlatform<'_> {
    /// `cache.match(url)`: the stored response with the values of the headers named and its body (read with
    /// the cap).
    async fn get<const N: usize>(
        &self,
        url: &str,
        names: [&'static str; N],
    ) -> Result<Option<StoredResponse<N>>, FetchError> {
        let cache = edge_auth_cache().await.ok_or_else(unavailable)?;
        let hit = JsFuture::from(cache.lookup(url).map_err(network_error)?).await.map_err(network_error)?;
        let Ok(hit) = hit.dyn_into::<web_sys::Response>() else { return Ok(None) };
        let stored = hit.headers();
        let headers = names.map(|name| stored.get(name).ok().flatten());
        let body = read_body(&hit).await?;
        Ok(Some(StoredResponse { status: hit.status(), headers, body }))
    }

    /// `cache.put(url, response)`: a `200` response with these headers and this body.
    async fn put(&self, url: &str, stored_headers: &[(&'static str, String)], body: &[u8]) -> Result<(), FetchError> {
        let cache = edge_auth_cache().await.ok_or_else(unavailable)?;
        let headers = web_sys::Headers::new().map_err(build_error)?;
        for (name, value) in stored_headers {
            headers.set(name, value).map_err(build_error)?;
        }
        let init = web_sys::ResponseInit::new();
        init.set_headers(&headers);
        let copy = web_sys::Response::new_with_opt_buffer_source_and_init(Some(&Uint8Array::from(body)), &init)
            .map_err(build_error)?;
        JsFuture::from(cache.put(url, &copy).map_err(network_error)?).await.map_err(network_error)?;
        Ok(())
    }

    /// `cache.delete(url)`: whether there was a copy.
    async fn delete(&self, url: &str) -> Result<bool, FetchError> {
        let cache = edge_auth_cache().await.ok_or_else(unavailable)?;
        let deleted = JsFuture::from(cache.delete(url).map_err(network_error)?).await.map_err(network_error)?;
        Ok(deleted.as_bool() == Some(true))
    }
}
