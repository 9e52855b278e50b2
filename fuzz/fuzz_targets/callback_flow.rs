//! The whole `Flow::handle` (and the platform's hot path) with a fake platform, driven by a structured,
//! fuzzer-chosen sequence of requests and IdP replies. See `src/flow.rs`: an empty input is a complete,
//! successful login callback; the oracles panic when a security rule is broken.
#![no_main]

use edge_auth_fuzz::flow::{run, FlowInput};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: edge_auth_fuzz::known::install(), |input: FlowInput| {
    edge_auth_fuzz::known::guard(|| {
        let _ = run(&input);
    });
});
