//! The shared revocation store: Workers KV (binding `REVOCATIONS`). One key per revocation, with the
//! revocation itself as the key's metadata, so a single `list` call loads them all.

use std::rc::Rc;

use worker::Env;

use crate::core::platform::FetchError;
use crate::core::session::revocation::Revocation;
use crate::platform::state::IsolateState;

pub const REVOCATIONS_BINDING: &str = "REVOCATIONS";
/// How often an isolate reloads the list (the staleness bound within a location, on top of KV's own
/// propagation delay between locations).
pub const REFRESH_SECONDS: u64 = 10;
const PREFIX: &str = "rev:";

pub async fn record(env: &Env, revocation: &Revocation, ttl_seconds: u64) -> Result<(), FetchError> {
    let kv =
        env.kv(REVOCATIONS_BINDING).map_err(|e| FetchError(format!("no KV binding {REVOCATIONS_BINDING}: {e}")))?;
    kv.put(&revocation.store_key(), "1")
        .map_err(|e| FetchError(e.to_string()))?
        .expiration_ttl(ttl_seconds.max(60))
        .metadata(revocation)
        .map_err(|e| FetchError(e.to_string()))?
        .execute()
        .await
        .map_err(|e| FetchError(e.to_string()))
}

/// Load every revocation (following list cursors) into the isolate's list.
pub async fn reload(env: Env, state: Rc<IsolateState>, now: u64) {
    let Ok(kv) = env.kv(REVOCATIONS_BINDING) else { return };
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let mut list = kv.list().prefix(PREFIX.to_string()).limit(1000);
        if let Some(c) = cursor.take() {
            list = list.cursor(c);
        }
        match list.execute().await {
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
