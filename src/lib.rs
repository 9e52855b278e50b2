//! edge-auth: enterprise single sign-on at the edge.
//!
//! The crate has two halves:
//! - [`core`]: sans-IO logic (configuration, email-domain routing, OpenID Connect messages, JWKS key
//!   selection, ID-token claim checks, the cookie codec, the login flow). It compiles and is tested on the
//!   host; it never touches `worker`, `js_sys` or `web_sys`.
//! - `platform` (wasm32 only): the Cloudflare Workers shell. It moves bytes between workers-rs and the core,
//!   and provides WebCrypto signature verification, `fetch`, the clock and randomness. It decides nothing.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod core;

#[cfg(target_arch = "wasm32")]
pub mod platform;
