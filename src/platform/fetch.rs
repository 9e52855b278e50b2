//! Outgoing HTTP to IdPs, with a timeout, and the location's Cache API behind the isolates' memory.
//!
//! GET answers (discovery documents, JWKS) are kept in the Workers Cache API for as long as the IdP's
//! `Cache-Control: max-age` says, bounded to 5 min – 24 h (1 h when it says nothing; never with
//! `no-store` or `private`), so a fresh isolate in the same location does not ask the IdP again. The copy
//! carries `x-edge-auth-fresh-until` (Unix seconds); a hit answers with what remains of that lifetime as
//! `fresh_for`, which is how long the isolate then keeps it in memory, and a copy without that header or
//! past it counts as a miss. A request marked `Cache-Control: no-cache` (the refetch after an unknown
//! `kid`) always goes to the IdP.

use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::pin_mut;
use wasm_bindgen::JsValue;
use worker::{AbortController, Cache, Delay, Fetch, Headers, Method, Request, RequestInit, Response};

use crate::core::http::{cache_lifetime, remaining_lifetime, FRESH_UNTIL_HEADER};
use crate::core::platform::{FetchError, HttpRequest, HttpResponse};

/// Responses from IdPs larger than this are refused.
const MAX_RESPONSE_BYTES: usize = 512 * 1024;

pub async fn send(request: HttpRequest, timeout: Duration) -> Result<HttpResponse, FetchError> {
    let cacheable = request.method == "GET";
    let revalidate = request.headers.iter().any(|(k, v)| *k == "cache-control" && v.contains("no-cache"));
    if cacheable && !revalidate {
        if let Ok(Some(mut hit)) = Cache::default().get(request.url.as_str(), false).await {
            let fresh_until = hit.headers().get(FRESH_UNTIL_HEADER).ok().flatten();
            let remaining = remaining_lifetime(fresh_until.as_deref(), super::WorkerPlatform::unix_now());
            if let (200, Some(left)) = (hit.status_code(), remaining) {
                if let Ok(body) = hit.bytes().await {
                    return Ok(HttpResponse { status: 200, body, fresh_for: Some(left) });
                }
            }
        }
    }
    let response = send_to_network(&request, timeout).await?;
    if cacheable && response.status == 200 {
        if let Some(seconds) = response.fresh_for {
            if let Err(e) = store(&request.url, &response.body, seconds).await {
                worker::console_warn!("edge-auth: could not cache {}: {e}", request.url);
            }
        }
    }
    Ok(response)
}

async fn store(url: &str, body: &[u8], seconds: u64) -> worker::Result<()> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", &format!("public, max-age={seconds}"))?;
    headers.set(FRESH_UNTIL_HEADER, &super::WorkerPlatform::unix_now().saturating_add(seconds).to_string())?;
    let copy = Response::from_bytes(body.to_vec())?.with_headers(headers);
    Cache::default().put(url, copy).await
}

/// The IdP's answer; `fresh_for` is [`cache_lifetime`] of its `Cache-Control`.
async fn send_to_network(request: &HttpRequest, timeout: Duration) -> Result<HttpResponse, FetchError> {
    let err = |e: worker::Error| FetchError(e.to_string());
    let headers = Headers::new();
    for (name, value) in &request.headers {
        headers.set(name, value).map_err(err)?;
    }
    let mut init = RequestInit::new();
    init.with_method(if request.method == "POST" { Method::Post } else { Method::Get });
    init.with_headers(headers);
    if let Some(body) = &request.body {
        init.with_body(Some(JsValue::from_str(body)));
    }
    let req = Request::new_with_init(&request.url, &init).map_err(err)?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = async {
        let fetch = Fetch::Request(req);
        let mut response = fetch.send_with_signal(&signal).await.map_err(err)?;
        let status = response.status_code();
        let cache_control = response.headers().get("cache-control").ok().flatten();
        let body = response.bytes().await.map_err(err)?;
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
