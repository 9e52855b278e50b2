//! The single-use store: the `ReplayGuard` Durable Object class (SQLite storage, `src/js/replay_guard.mjs`),
//! bound as `REPLAY_GUARD`. Only the call lives here: which object holds an id is decided by the core
//! ([`crate::core::replay::shard_name`]); the object answers "first" or "seen" atomically.
//!
//! The binding is called directly (`idFromName`, `get`, the object's RPC method `claim`) rather than through
//! workers-rs's `ObjectNamespace` (its stub speaks `fetch` only).

use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::pin_mut;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::core::ports::ReplayGuard;
use crate::core::replay::{shard_name, Claim, ReplayStoreError};
use crate::platform::bindings::error_message;
use crate::platform::WorkerPlatform;

pub const REPLAY_GUARD_BINDING: &str = "REPLAY_GUARD";
/// How long a claim may take: an object that does not answer by then refuses the sign-in (fail closed).
const CLAIM_TIMEOUT: Duration = Duration::from_secs(5);

#[wasm_bindgen]
extern "C" {
    /// A Durable Object namespace binding.
    type DurableObjectNamespace;

    #[wasm_bindgen(method, catch, js_name = idFromName)]
    fn id_from_name(this: &DurableObjectNamespace, name: &str) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn get(this: &DurableObjectNamespace, id: &JsValue) -> Result<ReplayGuardStub, JsValue>;

    /// A stub of one `ReplayGuard` object.
    type ReplayGuardStub;

    /// RPC: a promise of `"first"` or `"seen"`.
    #[wasm_bindgen(method, catch)]
    fn claim(this: &ReplayGuardStub, scope: &str, id: &str, until: f64) -> Result<JsValue, JsValue>;
}

fn store_error(e: JsValue) -> ReplayStoreError {
    ReplayStoreError(format!("{REPLAY_GUARD_BINDING}: {}", error_message(&e, "the Durable Object call failed")))
}

impl ReplayGuard for WorkerPlatform<'_> {
    async fn claim(&self, scope: &str, id: &str, until: u64) -> Result<Claim, ReplayStoreError> {
        let missing = || ReplayStoreError(format!("no Durable Object binding {REPLAY_GUARD_BINDING} (wrangler.toml)"));
        let binding =
            js_sys::Reflect::get(self.env.as_ref(), &JsValue::from_str(REPLAY_GUARD_BINDING)).map_err(|_| missing())?;
        // Not an object: absent (or a plain variable). An object that is not a namespace throws below.
        if !binding.is_object() {
            return Err(missing());
        }
        let namespace: DurableObjectNamespace = binding.unchecked_into();
        let object_id = namespace.id_from_name(&shard_name(id)).map_err(store_error)?;
        let stub = namespace.get(&object_id).map_err(store_error)?;
        // An RPC call answers a thenable: adopted into a promise.
        let answer = stub.claim(scope, id, until as f64).map_err(store_error)?;
        let answer = JsFuture::from(js_sys::Promise::resolve(&answer));
        let deadline = worker::Delay::from(CLAIM_TIMEOUT);
        pin_mut!(answer);
        let answer = match select(answer, deadline).await {
            Either::Left((answer, _)) => answer.map_err(store_error)?,
            Either::Right(_) => {
                return Err(ReplayStoreError(format!(
                    "{REPLAY_GUARD_BINDING}: no answer within {} s",
                    CLAIM_TIMEOUT.as_secs()
                )))
            }
        };
        match answer.as_string().as_deref() {
            Some("first") => Ok(Claim::First),
            Some("seen") => Ok(Claim::Seen),
            _ => Err(ReplayStoreError(format!("{REPLAY_GUARD_BINDING}: unexpected answer to claim"))),
        }
    }
}
