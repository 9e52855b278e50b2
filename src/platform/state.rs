//! Per-isolate state: the deployment as the core found it ([`Ready::from_bindings`], once per isolate: bindings
//! do not change during an isolate's life), and the provider cache.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::{JsCast, JsValue};
use worker::Env;

use crate::core::config::{ConfigError, ConfigErrors};
use crate::core::deployment::Ready;
use crate::core::flow::IsolateCache;
use crate::core::location_cache::LocationCache;
use crate::core::ports::Secrets;
use crate::core::secret::Secret;

pub struct IsolateState {
    pub ready: Result<Ready, ConfigErrors>,
    pub cache: IsolateCache,
    /// What this isolate told the operator about the location's cache.
    pub documents: LocationCache,
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
    // The seed of the maps keyed by outside strings (core::keyed_hash), before any is filled. Without
    // randomness (never in Workers) they keep std's address-derived keys.
    let mut seed = [0u8; 16];
    if getrandom::fill(&mut seed).is_ok() {
        crate::core::keyed_hash::seed_isolate(seed);
    }
    let state =
        Rc::new(IsolateState { ready: load(env), cache: IsolateCache::default(), documents: LocationCache::default() });
    STATE.with(|s| *s.borrow_mut() = Some(state.clone()));
    state
}

fn load(env: &Env) -> Result<Ready, ConfigErrors> {
    // The worker always reads its revocations from the shared log: without the binding every reload fails, and
    // sessions are refused with a log line that names it (never admitted without the list).
    Ready::from_bindings(&read_config_text(env)?, &EnvSecrets(env), true)
}

/// The Worker's secrets (and plain-text vars), by binding name.
pub struct EnvSecrets<'a>(pub &'a Env);

impl Secrets for EnvSecrets<'_> {
    fn secret(&self, binding: &str) -> Option<Secret<String>> {
        read_secret(self.0, binding).map(Secret::new)
    }
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
fn read_secret(env: &Env, binding: &str) -> Option<String> {
    let value = js_sys::Reflect::get(env.as_ref(), &JsValue::from_str(binding)).ok()?;
    value.dyn_ref::<js_sys::JsString>().map(String::from)
}
