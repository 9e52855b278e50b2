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

    /// The Cache API's `caches`.
    type CacheStorage;

    /// `caches.open(name)`: a promise of the named cache.
    #[wasm_bindgen(method, catch)]
    fn open(this: &CacheStorage, name: &str) -> Result<js_sys::Promise, JsValue>;

    /// A Cache API cache (a named one: edge-auth never uses `caches.default`).
    #[derive(Clone)]
    pub type Cache;

    /// `cache.match(url)`: a `Response`, or `undefined` on a miss.
    #[wasm_bindgen(method, catch, js_name = "match")]
    pub fn lookup(this: &Cache, url: &str) -> Result<js_sys::Promise, JsValue>;

    /// `cache.delete(url)`: a promise of whether there was a copy.
    #[wasm_bindgen(method, catch)]
    pub fn delete(this: &Cache, url: &str) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    pub fn put(this: &Cache, url: &str, response: &web_sys::Response) -> Result<js_sys::Promise, JsValue>;
}

/// `caches.open(name)`: the location's cache of that name (a promise), or an error when there is no Cache API.
pub fn open_cache(name: &str) -> Result<js_sys::Promise, crate::core::fetch::FetchError> {
    let missing = || crate::core::fetch::FetchError::Network("the Cache API is not available".into());
    let caches = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("caches")).map_err(|_| missing())?;
    if !caches.is_object() {
        return Err(missing());
    }
    caches
        .unchecked_into::<CacheStorage>()
        .open(name)
        .map_err(|e| crate::core::fetch::FetchError::Network(error_message(&e, "caches.open failed")))
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
