//! Calling edge-auth's Durable Objects (the single-use store `REPLAY_GUARD`, the revocation log
//! `REVOCATION_LOG`) over RPC: the binding is used directly (`idFromName`, `get`, then the object's own method),
//! not through workers-rs's `ObjectNamespace`, whose stub speaks `fetch` only. Every call has a deadline: an
//! object that does not answer in time is an error, never a hung request.

use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::pin_mut;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::Env;

use crate::platform::bindings::error_message;

#[wasm_bindgen]
extern "C" {
    /// A Durable Object namespace binding.
    type DurableObjectNamespace;

    #[wasm_bindgen(method, catch, js_name = idFromName)]
    fn id_from_name(this: &DurableObjectNamespace, name: &str) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn get(this: &DurableObjectNamespace, id: &JsValue) -> Result<JsValue, JsValue>;
}

/// The stub of the object `name` of the namespace bound as `binding`, to be cast to the object's own stub
/// type. Errors name the binding (for the operator's log).
pub fn stub(env: &Env, binding: &str, name: &str) -> Result<JsValue, String> {
    let missing = || format!("no Durable Object binding {binding} (wrangler.toml)");
    let namespace = js_sys::Reflect::get(env.as_ref(), &JsValue::from_str(binding)).map_err(|_| missing())?;
    // Not an object: absent (or a plain variable). An object that is not a namespace throws below.
    if !namespace.is_object() {
        return Err(missing());
    }
    let namespace: DurableObjectNamespace = namespace.unchecked_into();
    let failed = |e: JsValue| format!("{binding}: {}", error_message(&e, "the Durable Object call failed"));
    let id = namespace.id_from_name(name).map_err(failed)?;
    namespace.get(&id).map_err(failed)
}

/// The answer of an RPC call made on a stub (a thenable, or the exception the call threw), within `timeout`.
pub async fn answer(call: Result<JsValue, JsValue>, binding: &str, timeout: Duration) -> Result<JsValue, String> {
    let failed = |e: JsValue| format!("{binding}: {}", error_message(&e, "the Durable Object call failed"));
    let answer = JsFuture::from(js_sys::Promise::resolve(&call.map_err(failed)?));
    let deadline = worker::Delay::from(timeout);
    pin_mut!(answer);
    match select(answer, deadline).await {
        Either::Left((answer, _)) => answer.map_err(failed),
        Either::Right(_) => Err(format!("{binding}: no answer within {} s", timeout.as_secs())),
    }
}
