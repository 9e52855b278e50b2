//! The `callback_flow` target: its structured input ([`input`]), the IdP whose replies the input scripts
//! ([`idp`], JSON written member by member with [`json`]), the driver that plays the input through
//! `Flow::handle` and the platform's hot path for non-`/auth/` paths ([`driver`]), and the oracles checked
//! after every step ([`oracle`]: each security rule in its own module, with a small reference model written from
//! the specification rather than calls into the code under test).
//!
//! Design rule: variant 0 / `false` / empty is always the *realistic* choice, so an all-zero (or empty)
//! input is a complete, successful callback: a genuine login-transaction cookie, `state`/`code`/`iss`
//! that match it, a real discovery document and JWKS, and a token response whose ID token passes every
//! claim check. The fuzzer then mutates away from a working login instead of searching for one.

pub mod driver;
pub mod idp;
pub mod input;
mod json;
pub mod oracle;

pub use driver::{run, visible, Report, StepReport};
pub use idp::{idp_profile, IdpProfile};
pub use input::*;

/// Steps after the first are capped so one input stays cheap.
pub const MAX_STEPS: usize = 5;
pub const DEFAULT_CODE: &str = "SplxlOBeZQQYbYS6WxSbIA";
/// Generated long values stay above every limit in the code (16 KiB tokens, 4 KiB codes) but below the
/// sizes where each input costs milliseconds of per-byte instrumentation.
pub const MAX_REPEAT: usize = 20_001;
/// OIDC Core A.3's access token; its SHA-256 `at_hash` is `77QmUPtjPfzWtF2AnpK9RQ`.
pub const DEFAULT_ACCESS_TOKEN: &str = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
