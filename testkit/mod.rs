//! The Rust test kit: one fake platform and one set of fixtures for the host tests (`tests/*.rs`) and the fuzz
//! harness (`fuzz/src`). Plain source files, included with `#[path]` by each (`tests/flow.rs`:
//! `#[path = "../testkit/mod.rs"] mod testkit;`, `fuzz/src/lib.rs` likewise), so there is no second crate that
//! would build `edge-auth` twice and nothing of it reaches the worker.
//!
//! - [`platform`]: `FakePlatform`, every port of `edge_auth::core::ports` in memory: a settable clock, a
//!   deterministic RNG, a signature verifier (`ring`, or "accept everything" for the fuzzer, so the claim
//!   checks behind it are reached), an HTTP client answering from scripted routes and/or a closure, secrets,
//!   a log kept for the assertions, a revocation store, the location's shared cache.
//! - [`idp`]: an identity provider's signing keys (ES256, EdDSA, RS256/PS256, an unpublished impostor) that
//!   mint real JWKs and signed tokens with `ring`, and `ring` as the reference verifier.
//! - [`fixtures`]: fixed realistic inputs: session keys, configurations (the README's, one connector of every
//!   kind), the `tests/fixtures/jws.json` keys and tokens (signed by npm `jose`), discovery documents, a
//!   session and a login transaction.
//! - [`futures`]: `block_on`, a future that is pending once, and joins that interleave requests on one thread.
//! - [`flow_http`]: the browser's side of the federation flow tests (requests, cookies of the answers, the
//!   refusal and sign-in assertions) and their `World` (tests/saml_flow.rs, tests/wsfed_flow.rs).
//!
//! The kit names the core's types in these five files only: when the core's API moves, the kit is fixed here.
//! Harness code may `unwrap`/`expect` on *fixed* inputs (a failure is a harness bug, seen on the first run).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

pub mod fixtures;
pub mod flow_http;
pub mod futures;
pub mod idp;
pub mod platform;

#[allow(unused_imports)]
pub use futures::block_on;
#[allow(unused_imports)]
pub use platform::{fetch_error, Answer, FakePlatform, Verifier};

/// base64url without padding (JOSE, cookies).
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).expect("base64url")
}
