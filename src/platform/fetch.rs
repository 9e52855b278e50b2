//! Outgoing HTTP to IdPs, with a timeout.

use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::pin_mut;
use wasm_bindgen::JsValue;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

use crate::core::platform::{FetchError, HttpRequest, HttpResponse};

/// Responses from IdPs larger than this are refused.
const MAX_RESPONSE_BYTES: usize = 512 * 1024;

pub async fn send(request: HttpRequest, timeout: Duration) -> Result<HttpResponse, FetchError> {
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
        let body = response.bytes().await.map_err(err)?;
        if body.len() > MAX_RESPONSE_BYTES {
            return Err(FetchError(format!("response larger than {MAX_RESPONSE_BYTES} bytes")));
        }
        Ok(HttpResponse { status, body })
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
