//! Direct bindings to the few Workers runtime calls whose workers-rs wrappers cost more wasm than they
//! save code: the global `fetch` (workers-rs's `RequestInit` conversion carries every `cf` option).

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(request: &web_sys::Request) -> js_sys::Promise;
}

/// `fetch(request)`: the response, or the error the runtime threw (network failure, abort).
pub async fn fetch(request: &web_sys::Request) -> Result<web_sys::Response, JsValue> {
    let response = JsFuture::from(global_fetch(request)).await?;
    response.dyn_into::<web_sys::Response>()
}

/// The message of a JS error value, for logs.
pub fn error_message(e: &JsValue, fallback: &str) -> String {
    e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).unwrap_or_else(|| fallback.into())
}
