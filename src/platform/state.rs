//! Per-isolate state: the validated configuration and session keys (read once per isolate: bindings do
//! not change during an isolate's life), and the provider cache.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::{JsCast, JsValue};
use worker::Env;

use crate::core::assertion::{AssertionKey, ASSERTION_KEY_BINDING};
use crate::core::config::{Config, ConfigError};
use crate::core::flow::IsolateCache;
use crate::core::session::codec::KeyRing;

pub struct Ready {
    pub config: Config,
    pub keys: KeyRing,
    /// Signs the assertions sent to the origin (origin mode only).
    pub assertion_key: Option<AssertionKey>,
    /// Whether the KV namespace for IdP logouts is bound.
    pub revocations_bound: bool,
}

pub struct IsolateState {
    pub ready: Result<Ready, ConfigError>,
    pub cache: IsolateCache,
}

thread_local! {
    static STATE: RefCell<Option<Rc<IsolateState>>> = const { RefCell::new(None) };
}

/// The state if an earlier request loaded it (the fast path never loads: it has no `env`).
pub fn loaded_state() -> Option<Rc<IsolateState>> {
    STATE.with(|s| s.borrow().clone())
}

pub fn isolate_state(env: &Env) -> Rc<IsolateState> {
    if let Some(s) = STATE.with(|s| s.borrow().clone()) {
        return s;
    }
    let state = Rc::new(IsolateState { ready: load(env), cache: IsolateCache::default() });
    STATE.with(|s| *s.borrow_mut() = Some(state.clone()));
    state
}

fn load(env: &Env) -> Result<Ready, ConfigError> {
    let text = read_config_text(env)?;
    let config = Config::from_json(&text)?;
    for c in &config.connectors {
        if read_secret(env, &c.client_secret_binding).is_none_or(|s| s.is_empty()) {
            return Err(ConfigError {
                connector: Some(c.id.clone()),
                field: "client_secret_binding".into(),
                reason: format!(
                    "the Worker secret {:?} is not set (run: bash scripts/wrangler.sh secret put {})",
                    c.client_secret_binding, c.client_secret_binding
                ),
            });
        }
    }
    let keys_text = read_secret(env, "SESSION_KEYS").ok_or_else(|| {
        ConfigError::top(
            "SESSION_KEYS",
            "the Worker secret SESSION_KEYS is not set (run: bash scripts/wrangler.sh secret put SESSION_KEYS)",
        )
    })?;
    let keys = KeyRing::from_secret(&keys_text)?;
    let assertion_key = match read_secret(env, ASSERTION_KEY_BINDING) {
        Some(text) => Some(AssertionKey::from_secret(&text)?),
        None if config.origin.is_some() => {
            return Err(ConfigError::top(
                ASSERTION_KEY_BINDING,
                "origin mode needs a signing key for the assertions it sends: generate one with \
                 `node scripts/generate-assertion-key.mjs` and store it with \
                 `bash scripts/wrangler.sh secret put ASSERTION_SIGNING_KEY`",
            ))
        }
        None => None,
    };
    let revocations_bound = crate::platform::revocations::binding(env).is_some();
    Ok(Ready { config, keys, assertion_key, revocations_bound })
}

/// `AUTH_CONFIG` as a JSON string, or as a JSON object binding (serialised back to text).
fn read_config_text(env: &Env) -> Result<String, ConfigError> {
    let missing = || ConfigError::top("AUTH_CONFIG", "the AUTH_CONFIG variable is not set");
    let value = js_sys::Reflect::get(env.as_ref(), &JsValue::from_str("AUTH_CONFIG")).map_err(|_| missing())?;
    if value.is_undefined() || value.is_null() {
        return Err(missing());
    }
    if let Some(s) = value.as_string() {
        return Ok(s);
    }
    if value.is_object() {
        return js_sys::JSON::stringify(&value)
            .ok()
            .and_then(|s| s.as_string())
            .ok_or_else(|| ConfigError::top("AUTH_CONFIG", "the object could not be serialised as JSON"));
    }
    Err(ConfigError::top("AUTH_CONFIG", "must be a JSON string or a JSON object"))
}

/// A secret (or plain-text var) binding's value.
pub fn read_secret(env: &Env, binding: &str) -> Option<String> {
    let value = js_sys::Reflect::get(env.as_ref(), &JsValue::from_str(binding)).ok()?;
    value.dyn_ref::<js_sys::JsString>().map(String::from)
}
