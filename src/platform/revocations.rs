//! The revocation log: the `RevocationLog` Durable Object class (SQLite storage, `src/js/revocation_log.mjs`),
//! bound as `REVOCATION_LOG`, one object for the deployment. Only the two calls live here; reading (cursor,
//! single flight, bounds, failing closed) is decided by the core
//! ([`crate::core::session::revocation_state`]), and so is what the answers mean
//! ([`RevocationPage::from_log_answer`], [`Recorded::from_log_answer`]).

use std::time::Duration;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::Env;

use crate::core::fetch::FetchError;
use crate::core::session::revocation::{Recorded, Revocation, RevocationPage};
use crate::platform::durable_object::{answer, stub};

pub const REVOCATION_LOG_BINDING: &str = "REVOCATION_LOG";
/// The name of the one object that holds the log (also in `src/js/entry.mjs`, which starts a fresh isolate's
/// first read).
const LOG_OBJECT: &str = "revocations";
/// How long a call may take: a write not answered by then is reported to the IdP as failed (it retries); a
/// read, as a failed reload (the list in use stays, within its age bound).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

#[wasm_bindgen]
extern "C" {
    /// A stub of the `RevocationLog` object.
    type RevocationLogStub;

    /// RPC: a promise of "written", "known" or a refusal.
    #[wasm_bindgen(method, catch)]
    fn record(this: &RevocationLogStub, key: &str, entry: &str) -> Result<JsValue, JsValue>;

    /// RPC: a promise of the JSON text of what was written after `cursor`.
    #[wasm_bindgen(method, catch)]
    fn since(this: &RevocationLogStub, cursor: f64) -> Result<JsValue, JsValue>;
}

fn log_stub(env: &Env) -> Result<RevocationLogStub, FetchError> {
    Ok(stub(env, REVOCATION_LOG_BINDING, LOG_OBJECT).map_err(FetchError::Network)?.unchecked_into())
}

pub async fn record(env: &Env, revocation: &Revocation) -> Result<Recorded, FetchError> {
    // By the serde_json writer the session cookies use; read back by name.
    let entry = serde_json::to_string(revocation).map_err(|e| FetchError::InvalidRequest(e.to_string()))?;
    let call = log_stub(env)?.record(&revocation.store_key(), &entry);
    let answer = answer(call, REVOCATION_LOG_BINDING, CALL_TIMEOUT).await.map_err(FetchError::Network)?;
    answer
        .as_string()
        .as_deref()
        .and_then(Recorded::from_log_answer)
        .ok_or_else(|| FetchError::Network(format!("{REVOCATION_LOG_BINDING}: unexpected answer to record")))
}

/// The property of the request object under which the JS entry (`src/js/entry.mjs`) hands a fresh isolate's
/// first request the `since(0)` call it started before the wasm handler ran.
const PREFETCHED_SINCE: &str = "__edgeAuthPrefetchedSince";

/// The `since(0)` call the JS entry already made for this request, taken off the request (once): on a fresh
/// isolate the read's round trip to the object then overlaps the handler's own start (V8 compiling what it runs).
/// The call was made by this same request, earlier: whatever it answers was in the log when the request came.
pub fn take_prefetched_since(request: &JsValue) -> Option<JsValue> {
    let key = JsValue::from_str(PREFETCHED_SINCE);
    let call = js_sys::Reflect::get(request, &key).ok().filter(|v| !v.is_undefined() && !v.is_null())?;
    let _ = js_sys::Reflect::delete_property(request.unchecked_ref::<js_sys::Object>(), &key);
    Some(call)
}

/// The page of the log after `cursor`; `prefetched`: the same call, already made (see [`take_prefetched_since`]).
pub async fn since(env: &Env, cursor: u64, prefetched: Option<JsValue>) -> Result<RevocationPage, FetchError> {
    let call = match prefetched {
        Some(call) => Ok(call),
        // Sequence numbers stay far below 2^53 (one per revocation written).
        None => log_stub(env)?.since(cursor as f64),
    };
    let answer = answer(call, REVOCATION_LOG_BINDING, CALL_TIMEOUT).await.map_err(FetchError::Network)?;
    let text = answer
        .as_string()
        .ok_or_else(|| FetchError::Network(format!("{REVOCATION_LOG_BINDING}: unexpected answer to since")))?;
    RevocationPage::from_log_answer(text.as_bytes())
        .map_err(|e| FetchError::Network(format!("{REVOCATION_LOG_BINDING}: unexpected answer to since: {e}")))
}
