//! Known findings that are reported but not yet fixed, so that long runs can go past them.
//!
//! Off by default: a known panic crashes the target like any other (and `fuzz/regressions/` replays it on
//! every run). With `FUZZ_SKIP_KNOWN=1` in the environment, a panic matching an entry of [`KNOWN`] makes
//! the input count as uninteresting instead, and the fuzzer goes on.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};

/// (where the panic is raised, part of its message, the reproducer in fuzz/regressions/).
pub const KNOWN: &[(&str, &str, &str)] = &[
    // Fixed: idna_adapter-1.0.0's debug_assert on `https://Aé.example/` (fuzz/regressions/{config,
    // jwks_discovery}/idna-adapter-*) — check_endpoint_url now refuses non-ASCII URLs before parsing them.
];
thread_local! {
    static SKIPPED: Cell<bool> = const { Cell::new(false) };
}

fn skipping() -> bool {
    std::env::var_os("FUZZ_SKIP_KNOWN").is_some_and(|v| v == "1")
}

/// Call from the target's `init:`: wraps libfuzzer-sys's aborting panic hook.
pub fn install() {
    if !skipping() {
        return;
    }
    let aborting = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let file = info.location().map(|l| l.file()).unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if KNOWN.iter().any(|(f, m, _)| file.contains(f) && message.contains(m)) {
            SKIPPED.with(|s| s.set(true));
            return; // unwind to `guard`
        }
        aborting(info);
    }));
}

/// Run one input; a known panic (when skipping) ends it quietly, anything else aborts as usual.
pub fn guard(f: impl FnOnce()) {
    if !skipping() {
        return f();
    }
    SKIPPED.with(|s| s.set(false));
    if panic::catch_unwind(AssertUnwindSafe(f)).is_err() {
        if SKIPPED.with(|s| s.get()) {
            return;
        }
        std::process::abort();
    }
}
