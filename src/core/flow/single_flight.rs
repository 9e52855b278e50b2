//! Single flight: every IdP document (discovery document, key set, the owner of an Entra domain; later
//! federation metadata) is fetched at most once per isolate at a time, whatever the concurrency. The first
//! request that needs a fetch leads it ([`DocumentCache::lead`]); requests (and background refreshes) arriving
//! meanwhile wait for its result ([`wait_for`]) instead of asking the IdP again — after a deploy every isolate
//! is cold, and a burst of sign-ins must not become a burst of IdP requests. Waiters check the slot after each
//! [`Clock::pause`] of their own (never woken by the leading request: in workerd that would run them in the
//! leader's request context, and a request waiting on nothing of its own is cancelled as hung). A leader
//! dropped half-way completes its waiters with an error ([`InFlightGuard`]); one that never finishes (its
//! request cancelled without being dropped) is given up after [`IN_FLIGHT_LIMIT_SECONDS`], and the next request
//! fetches again. So no waiter hangs.
//!
//! [`DocumentCache::lead`]: crate::core::flow::document_cache::DocumentCache::lead
//! [`InFlightGuard`]: crate::core::flow::document_cache::InFlightGuard

use std::cell::RefCell;
use std::rc::Rc;

use crate::core::error::IdpFailure;
use crate::core::ports::Clock;

/// The outcome of one document fetch, shared by everyone who waited for it (the failure as an [`IdpFailure`]:
/// copied for each waiter, far less code than a copy of any [`crate::core::error::FlowError`]).
pub(super) type Fetched<T> = Result<Rc<T>, IdpFailure>;

/// How long a fetch may stay in flight before waiters give up on it and the next request fetches again: longer
/// than any fetch takes (the platform gives up on the IdP after 10 s), so only a leader that will never finish
/// (its request cancelled without being dropped) reaches it.
pub const IN_FLIGHT_LIMIT_SECONDS: u64 = 20;

/// Single-flight slot for one isolate (single-threaded): the first request fetches, the others wait for the
/// same result (see the module documentation).
pub(super) struct InFlight<T: Clone> {
    pub(super) result: RefCell<Option<T>>,
    /// When the fetch started (the platform's clock).
    pub(super) started: u64,
    /// Whether it goes past every cache (a refetch after an unknown `kid`): an ordinary fetch may be answered
    /// by the location's cache with a set older than the token's key.
    pub(super) past_caches: bool,
}

impl<T: Clone> InFlight<T> {
    pub(super) fn new(started: u64, past_caches: bool) -> Rc<Self> {
        Rc::new(InFlight { result: RefCell::new(None), started, past_caches })
    }

    pub(super) fn complete(&self, value: T) {
        *self.result.borrow_mut() = Some(value);
    }

    /// Whether requests should still wait for it (not given up on).
    pub(super) fn live(&self, now: u64) -> bool {
        now.saturating_sub(self.started) < IN_FLIGHT_LIMIT_SECONDS
    }
}

/// The result of another request's fetch in flight: checked after each pause of this request (see the module
/// documentation), given up on after [`IN_FLIGHT_LIMIT_SECONDS`].
pub(super) async fn wait_for<T>(
    in_flight: &InFlight<Fetched<T>>,
    what: &'static str,
    clock: &impl Clock,
) -> Fetched<T> {
    loop {
        if let Some(result) = in_flight.result.borrow().clone() {
            return result;
        }
        if !in_flight.live(clock.now()) {
            return Err(IdpFailure::Stalled(what));
        }
        clock.pause().await;
    }
}
