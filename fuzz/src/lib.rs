//! Shared harness code for edge-auth's fuzz targets: the test kit shared with the host tests (`../testkit`:
//! the fake platform and the fixtures), the structured input of the `callback_flow` target with its driver,
//! its IdP and its oracles (`flow/`), and a tiny encoder used by `examples/gen_seeds.rs` to write seed files
//! for structured targets.
//!
//! Harness code may `expect` on *fixed* inputs (a failure there is a harness bug, visible on the first
//! run); it never panics on fuzzer-chosen data except in the oracles, which panic on purpose.

#[path = "../../testkit/mod.rs"]
pub mod testkit;

pub mod flow;
pub mod known;
pub mod paths;
pub mod seedwriter;
pub mod text;

pub use testkit::{block_on, fixtures, platform};
pub use text::{Bytes, Text};
