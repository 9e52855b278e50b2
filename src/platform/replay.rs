//! The single-use store: the `ReplayGuard` Durable Object class (SQLite storage, `src/js/replay_guard.mjs`),
//! bound as `REPLAY_GUARD`. Only the call lives here: which object holds an id is decided by the core
//! ([`crate::core::replay::shard_name`]); the object answers "first" or "seen" atomically.

use std::time::Duration;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

use crate::core::ports::ReplayGuard;
use crate::core::replay::{shard_name, Claim, ReplayStoreError};
use crate::platform::durable_object::{answer, stub};
use crate::platform::WorkerPlatform;

pub const REPLAY_GUARD_BINDING: &str = "REPLAY_GUARD";
/// How long a claim may take: an object that does not answer by then refuses the sign-in (fail closed).
const CLAIM_TIMEOUT: Duration = Duration::from_secs(5);

#[wasm_bindgen]
extern "C" {
    /// A stub of one `ReplayGuard` object.
    type ReplayGuardStub;

    /// RPC: a promise of `"first"` or `"seen"`.
    #[wasm_bindgen(method, catch)]
    fn claim(this: &ReplayGuardStub, scope: &str, id: &str, until: f64) -> Result<JsValue, JsValue>;
}

impl ReplayGuard for WorkerPlatform<'_> {
    async fn claim(&self, scope: &str, id: &str, until: u64) -> Result<Claim, ReplayStoreError> {
        let stub: ReplayGuardStub =
            stub(self.env, REPLAY_GUARD_BINDING, &shard_name(id)).map_err(ReplayStoreError)?.unchecked_into();
        let call = stub.claim(scope, id, until as f64);
        let answer = answer(call, REPLAY_GUARD_BINDING, CLAIM_TIMEOUT).await.map_err(ReplayStoreError)?;
        match answer.as_string().as_deref() {
            Some("first") => Ok(Claim::First),
            Some("seen") => Ok(Claim::Seen),
            _ => Err(ReplayStoreError(format!("{REPLAY_GUARD_BINDING}: unexpected answer to claim"))),
        }
    }
}
