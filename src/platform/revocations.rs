//! The shared revocation store: Workers KV (binding `REVOCATIONS`). One key per revocation, with the
//! revocation itself as the key's metadata, so a `list` call reads 1000 of them. Only the store's two
//! primitives live here; reloading (single flight, bounds, failing closed) is decided by the core
//! ([`crate::core::session::revocation_state`]).
//!
//! The KV binding is called directly (`put`, `list` with options given as JSON), not through workers-rs's
//! KV wrapper: that wrapper converts options with serde-wasm-bindgen, which costs the worker ~25 KB of wasm
//! for two calls.

use serde::Deserialize;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::Env;

use crate::core::fetch::FetchError;
use crate::core::json::from_object_slice;
use crate::core::session::revocation::Revocation;
use crate::core::session::revocation::RevocationPage;

pub const REVOCATIONS_BINDING: &str = "REVOCATIONS";
const PREFIX: &str = "rev:";
/// KV's largest page.
const PAGE_SIZE: u32 = 1000;

#[wasm_bindgen]
extern "C" {
    /// A Workers KV namespace binding.
    pub type KvNamespace;

    #[wasm_bindgen(method, catch)]
    fn put(this: &KvNamespace, key: &str, value: &str, options: &JsValue) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn list(this: &KvNamespace, options: &JsValue) -> Result<js_sys::Promise, JsValue>;
}

/// The `REVOCATIONS` binding, if the deployment has one.
pub fn binding(env: &Env) -> Option<KvNamespace> {
    let value = js_sys::Reflect::get(env.as_ref(), &JsValue::from_str(REVOCATIONS_BINDING)).ok()?;
    // A KV binding is an object with `put` and `list` (a plain variable would be a string).
    let has = |m: &str| js_sys::Reflect::get(&value, &JsValue::from_str(m)).is_ok_and(|f| f.is_function());
    (value.is_object() && has("put") && has("list")).then(|| value.unchecked_into())
}

fn js_error(e: JsValue) -> FetchError {
    FetchError::Network(crate::platform::bindings::error_message(&e, "KV call failed"))
}

fn no_binding() -> FetchError {
    FetchError::Network(format!("no KV binding {REVOCATIONS_BINDING}"))
}

/// Options for a KV call, from JSON (serde_json is in the worker anyway).
fn options(json: serde_json::Value) -> Result<JsValue, FetchError> {
    js_sys::JSON::parse(&json.to_string()).map_err(js_error)
}

/// A JSON object of `members`, built directly: `json!` passes each value through serde_json's `to_value`,
/// a `Value`-into-`Value` serializer the worker needs nowhere else.
fn object(members: &mut [(&str, serde_json::Value)]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (k, v) in members {
        map.insert(k.to_string(), v.take());
    }
    serde_json::Value::Object(map)
}

pub async fn record(env: &Env, revocation: &Revocation, ttl_seconds: u64) -> Result<(), FetchError> {
    let kv = binding(env).ok_or_else(no_binding)?;
    // The metadata as text by the serde_json writer the session cookies use (`to_value` monomorphised a
    // `Value` serializer for this one struct); members in field order, read back by name.
    let metadata = serde_json::to_string(revocation).map_err(|e| FetchError::InvalidRequest(e.to_string()))?;
    let opts = js_sys::JSON::parse(&format!(r#"{{"expirationTtl":{},"metadata":{metadata}}}"#, ttl_seconds.max(60)))
        .map_err(js_error)?;
    JsFuture::from(kv.put(&revocation.store_key(), "1", &opts).map_err(js_error)?).await.map_err(js_error)?;
    Ok(())
}

/// One page of `list`, as much of it as we read.
#[derive(Deserialize)]
struct ListPage {
    keys: Vec<ListedKey>,
    #[serde(default)]
    list_complete: bool,
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct ListedKey {
    metadata: Option<serde_json::Value>,
}

/// One page of `list`, as the core reads it.
pub async fn list(env: &Env, cursor: Option<&str>) -> Result<RevocationPage, FetchError> {
    let kv = binding(env).ok_or_else(no_binding)?;
    let mut request = object(&mut [("prefix", PREFIX.into()), ("limit", PAGE_SIZE.into())]);
    if let (Some(c), serde_json::Value::Object(o)) = (cursor, &mut request) {
        o.insert("cursor".into(), c.into());
    }
    let page = JsFuture::from(kv.list(&options(request)?).map_err(js_error)?).await.map_err(js_error)?;
    let json: String = js_sys::JSON::stringify(&page).map_err(js_error)?.into();
    // from_slice, not from_str: one serde_json reader in the worker (a second costs 2.4 KB gzipped).
    let page: ListPage = serde_json::from_slice(json.as_bytes())
        .map_err(|e| FetchError::Network(format!("unexpected KV list answer: {e}")))?;
    let mut out = RevocationPage::default();
    for key in page.keys {
        // Read back from its text by the one serde_json reader (`from_value` is a second deserializer), as an
        // object only (an array would be read by position).
        match key.metadata.and_then(|m| from_object_slice::<Revocation>(m.to_string().as_bytes()).ok()) {
            Some(r) => out.entries.push(r),
            None => out.unreadable += 1,
        }
    }
    out.cursor = RevocationPage::next_cursor(page.list_complete, page.cursor)
        .map_err(|why| FetchError::Network(["KV list: ", why].concat()))?;
    Ok(out)
}
