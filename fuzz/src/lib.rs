//! Shared harness code for edge-auth's fuzz targets: fixed fixtures (key ring, configuration, keys, a
//! realistic discovery document), a fake platform, the structured input of the `callback_flow` target,
//! and a tiny encoder used by `examples/gen_seeds.rs` to write seed files for structured targets.
//!
//! Harness code may `expect` on *fixed* inputs (a failure there is a harness bug, visible on the first
//! run); it never panics on fuzzer-chosen data except in the oracles, which panic on purpose.

pub mod fixtures;
pub mod flow;
pub mod known;
pub mod paths;
pub mod platform;
pub mod seedwriter;
pub mod text;

pub use text::{Bytes, Text};

/// Run a future to completion. The fake platform never pends, so this returns at the first poll.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}
