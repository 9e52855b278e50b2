//! Direct bindings to the few Workers runtime calls whose workers-rs wrappers cost more wasm than they
//! save code: the global `fetch` and the Cache API (workers-rs's `RequestInit` conversion carries every
//! `cf` option).

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(request: &web_sys::Request) -> js_sys::Promise;

    /// A Cache API cache (`caches.default`).
    pub type Cache;

    /// `cache.match(url)`: a `Response`, or `undefined` on a miss.
    #[wasm_bindgen(method, catch, js_name = "match")]
    pub fn lookup(this: &Cache, url: &str) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    pub fn put(this: &Cache, url: &str, response: &web_sys::Response) -> Result<js_sys::Promise, JsValue>;
}

/// The location's default cache (`caches.default`).
pub fn default_cache() -> Result<Cache, crate::core::platform::FetchError> {
    let missing = || crate::core::platform::FetchError("the Cache API is not available".into());
    let caches = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("caches")).map_err(|_| missing())?;
    let default = js_sys::Reflect::get(&caches, &JsValue::from_str("default")).map_err(|_| missing())?;
    if default.is_object() {
        Ok(default.unchecked_into())
    } else {
        Err(missing())
    }
}

/// `fetch(request)`: the response, or the error the runtime threw (network failure, abort).
pub async fn fetch(request: &web_sys::Request) -> Result<web_sys::Response, JsValue> {
    let response = JsFuture::from(global_fetch(request)).await?;
    response.dyn_into::<web_sys::Response>()
}

/// The message of a thrown JS value (an `Error`'s message, or a thrown string), for logs.
pub fn error_message(e: &JsValue, fallback: &str) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| fallback.into())
}
