//! The shared revocation store: Workers KV (binding `REVOCATIONS`). One key per revocation, with the
//! revocation itself as the key's metadata, so a single `list` call loads them all.
//!
//! The KV binding is called directly (`put`, `list` with options given as JSON), not through workers-rs's
//! KV wrapper: that wrapper converts options with serde-wasm-bindgen, which costs the worker ~25 KB of wasm
//! for two calls.

use std::rc::Rc;

use serde::Deserialize;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::Env;

use crate::core::platform::FetchError;
use crate::core::session::revocation::Revocation;
use crate::platform::state::IsolateState;

pub const REVOCATIONS_BINDING: &str = "REVOCATIONS";
/// How often an isolate reloads the list (the staleness bound within a location, on top of KV's own
/// propagation delay between locations).
pub const REFRESH_SECONDS: u64 = 10;
const PREFIX: &str = "rev:";
/// KV's largest page.
const PAGE_SIZE: u32 = 1000;
/// At most this many pages (50,000 revocations) are read per reload.
const MAX_PAGES: usize = 50;

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
    FetchError(crate::platform::bindings::error_message(&e, "KV call failed"))
}

/// Options for a KV call, from JSON (serde_json is in the worker anyway).
fn options(json: serde_json::Value) -> Result<JsValue, FetchError> {
    js_sys::JSON::parse(&json.to_string()).map_err(js_error)
}

pub async fn record(env: &Env, revocation: &Revocation, ttl_seconds: u64) -> Result<(), FetchError> {
    let kv = binding(env).ok_or_else(|| FetchError(format!("no KV binding {REVOCATIONS_BINDING}")))?;
    let metadata = serde_json::to_value(revocation).map_err(|e| FetchError(e.to_string()))?;
    let opts = options(serde_json::json!({ "expirationTtl": ttl_seconds.max(60), "metadata": metadata }))?;
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

async fn list_page(kv: &KvNamespace, cursor: Option<String>) -> Result<ListPage, FetchError> {
    let mut request = serde_json::json!({ "prefix": PREFIX, "limit": PAGE_SIZE });
    if let (Some(c), Some(o)) = (cursor, request.as_object_mut()) {
        o.insert("cursor".into(), c.into());
    }
    let page = JsFuture::from(kv.list(&options(request)?).map_err(js_error)?).await.map_err(js_error)?;
    let json: String = js_sys::JSON::stringify(&page).map_err(js_error)?.into();
    serde_json::from_str(&json).map_err(|e| FetchError(format!("unexpected KV list answer: {e}")))
}

/// Load every revocation (following list cursors) into the isolate's list.
pub async fn reload(env: Env, state: Rc<IsolateState>, now: u64) {
    let Some(kv) = binding(&env) else { return };
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        match list_page(&kv, cursor.take()).await {
            Ok(page) => {
                entries.extend(
                    page.keys
                        .into_iter()
                        .filter_map(|k| k.metadata)
                        .filter_map(|m| serde_json::from_value::<Revocation>(m).ok()),
                );
                if page.list_complete || page.cursor.is_none() {
                    break;
                }
                cursor = page.cursor;
            }
            Err(e) => {
                worker::console_warn!("edge-auth: could not load revocations from KV: {e}");
                // Keep the previous list; try again after the refresh interval.
                state.cache.mark_revocations_attempted(now);
                return;
            }
        }
    }
    state.cache.load_revocations(entries, now);
}
