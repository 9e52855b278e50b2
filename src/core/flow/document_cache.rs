//! The discovery documents and key sets of the IdPs (and the owners of Entra domains, from Entra's discovery
//! for a domain: [`Flow::entra_domain_owner`]), kept per issuer in the isolate with the time until which they
//! are fresh: what the IdP's `Cache-Control` allows (the platform's [`HttpResponse::fresh_for`]; see
//! [`memory_lifetime`] for the bounds: 5 min – 24 h, 1 h without the header, 5 min with `no-store`). Then:
//!
//! - **fresh**: used as is;
//! - **stale** (up to [`STALE_WHILE_REVALIDATE_SECONDS`] past freshness): still used at once, and the request
//!   marks the document for one background refresh ([`DocumentCache::refresh_pending`]), which the platform
//!   runs after answering ([`Flow::refresh_due`]). A document is scheduled at most once per
//!   [`REFRESH_RETRY_SECONDS`], so concurrent stale requests start one refresh; a key-set refresh shares the
//!   single-flight slot of foreground JWKS fetches ([`crate::core::flow::single_flight`]). A failed refresh
//!   keeps the stale copy, is logged, and the next attempt waits for that backoff;
//! - **expired** (past the stale window): the request fetches in the foreground, and falls back to the old
//!   copy when the IdP fails (stale-if-error).
//!
//! An unknown `kid` forces one JWKS refetch past every cache, shared by concurrent sign-ins, then a cooldown.
//! The fetches themselves are in [`crate::core::flow::metadata`] and [`crate::core::flow::entra_domains`].
//!
//! [`HttpResponse::fresh_for`]: crate::core::fetch::HttpResponse::fresh_for
//! [`memory_lifetime`]: crate::core::cache::memory_lifetime
//! [`Flow::entra_domain_owner`]: crate::core::flow::Flow
//! [`Flow::refresh_due`]: crate::core::flow::Flow::refresh_due

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::core::cache::STALE_WHILE_REVALIDATE_SECONDS;
use crate::core::error::IdpFailure;
use crate::core::flow::single_flight::{Fetched, InFlight};
use crate::core::flow::REFRESH_RETRY_SECONDS;
use crate::core::oidc::discovery::ProviderMetadata;
use crate::core::oidc::jwks::JwkSet;

/// The IdPs' documents, keyed by issuer (an Entra domain's owner by `domain <discovery URL>`), and the
/// background refreshes requests asked for.
#[derive(Default)]
pub struct DocumentCache {
    entries: RefCell<HashMap<String, ProviderEntry>>,
    /// Background refreshes asked for by requests that were served a stale document.
    pub(super) due: RefCell<Vec<Refresh>>,
}

/// Whether a cached document may be used: see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    /// Usable at once, with a background refresh.
    Stale,
    /// Past the stale window: refetch in the foreground (stale-if-error).
    Expired,
}

/// The freshness at `now` of a document fresh until `fresh_until`.
pub fn freshness(fresh_until: u64, now: u64) -> Freshness {
    if now < fresh_until {
        Freshness::Fresh
    } else if now < fresh_until.saturating_add(STALE_WHILE_REVALIDATE_SECONDS) {
        Freshness::Stale
    } else {
        Freshness::Expired
    }
}

#[derive(Default, Clone)]
pub(super) struct ProviderEntry {
    /// The documents, each with the time until which it is fresh.
    pub(super) metadata: Option<(Rc<ProviderMetadata>, u64)>,
    pub(super) jwks: Option<(Rc<JwkSet>, u64)>,
    pub(super) last_forced_jwks_fetch: Option<u64>,
    /// The fetches in progress (see [`DocumentCache::lead`]): concurrent requests (and background refreshes)
    /// wait for them instead of fetching again.
    pub(super) metadata_in_flight: Option<Rc<InFlight<Fetched<ProviderMetadata>>>>,
    pub(super) jwks_in_flight: Option<Rc<InFlight<Fetched<JwkSet>>>>,
    /// When a background refresh was last scheduled (the retry backoff).
    pub(super) metadata_refresh_at: Option<u64>,
    pub(super) jwks_refresh_at: Option<u64>,
}

/// Where the fetch in flight of one kind of document is kept in a provider entry.
pub(super) type SlotOf<T> = fn(&mut ProviderEntry) -> &mut Option<Rc<InFlight<Fetched<T>>>>;

pub(super) fn metadata_slot(e: &mut ProviderEntry) -> &mut Option<Rc<InFlight<Fetched<ProviderMetadata>>>> {
    &mut e.metadata_in_flight
}

pub(super) fn jwks_slot(e: &mut ProviderEntry) -> &mut Option<Rc<InFlight<Fetched<JwkSet>>>> {
    &mut e.jwks_in_flight
}

/// A background refresh to run after the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refresh {
    /// The discovery document of this connector (by id; its issuer is the cache key).
    Discovery { connector: String },
    /// The key set of this (discovered) issuer.
    Jwks { issuer: String, jwks_uri: String },
    /// The owner of an Entra domain.
    EntraDomain { authority: String, domain: String },
    /// The SAML metadata of this connector (by id).
    #[cfg(feature = "saml")]
    SamlMetadata { connector: String },
}

/// The lead of one document fetch ([`DocumentCache::lead`]). Completes the in-flight slot even if the fetching
/// request is dropped half-way, so waiters never hang, and frees the slot.
pub(super) struct InFlightGuard<'a, T> {
    cache: &'a DocumentCache,
    key: &'a str,
    slot: Rc<InFlight<Fetched<T>>>,
    field: SlotOf<T>,
    /// The document, for the error of an abandoned fetch.
    what: &'static str,
}

impl<T> InFlightGuard<'_, T> {
    pub(super) fn finish(self, value: Fetched<T>) {
        self.slot.complete(value);
    }
}

impl<T> Drop for InFlightGuard<'_, T> {
    fn drop(&mut self) {
        if self.slot.result.borrow().is_none() {
            self.slot.complete(Err(IdpFailure::Abandoned(self.what)));
        }
        let field = self.field;
        self.cache.update(self.key, |e| {
            let in_flight = field(e);
            if in_flight.as_ref().is_some_and(|s| Rc::ptr_eq(s, &self.slot)) {
                *in_flight = None;
            }
        });
    }
}

impl DocumentCache {
    pub(super) fn entry(&self, issuer: &str) -> ProviderEntry {
        self.entries.borrow().get(issuer).cloned().unwrap_or_default()
    }

    pub(super) fn update(&self, issuer: &str, f: impl FnOnce(&mut ProviderEntry)) {
        let mut entries = self.entries.borrow_mut();
        f(entries.entry(issuer.to_string()).or_default());
    }

    /// Lead the fetch of a document (the `field` slot of the provider entry `key`): requests that find the slot
    /// taken wait for [`InFlightGuard::finish`]'s value instead of fetching. Call only after finding the slot
    /// free, with no `await` in between (one isolate is single-threaded: nothing else runs meanwhile).
    pub(super) fn lead<'a, T>(
        &'a self,
        key: &'a str,
        field: SlotOf<T>,
        what: &'static str,
        now: u64,
    ) -> InFlightGuard<'a, T> {
        self.lead_fetch(key, field, what, now, false)
    }

    /// [`Self::lead`]; `past_caches` for a refetch past every cache.
    pub(super) fn lead_fetch<'a, T>(
        &'a self,
        key: &'a str,
        field: SlotOf<T>,
        what: &'static str,
        now: u64,
        past_caches: bool,
    ) -> InFlightGuard<'a, T> {
        let slot = InFlight::new(now, past_caches);
        self.update(key, |e| *field(e) = Some(slot.clone()));
        InFlightGuard { cache: self, key, slot, field, what }
    }

    /// Whether requests asked for background refreshes: the platform then runs [`Flow::refresh_due`](crate::core::flow::Flow::refresh_due) after
    /// answering.
    pub fn refresh_pending(&self) -> bool {
        !self.due.borrow().is_empty()
    }

    /// Ask for a background refresh, unless one was scheduled for the same document within
    /// [`REFRESH_RETRY_SECONDS`] (coalesced — a refresh gives up after the platform's 10 s timeout — and backed
    /// off after a failure) or a fetch of the document is already in flight.
    pub(super) fn schedule(&self, key: &str, refresh: Refresh, now: u64) {
        let mut scheduled = false;
        self.update(key, |e| {
            let (last, in_flight) = match refresh {
                Refresh::Discovery { .. } | Refresh::EntraDomain { .. } => {
                    (&mut e.metadata_refresh_at, e.metadata_in_flight.as_ref().is_some_and(|s| s.live(now)))
                }
                #[cfg(feature = "saml")]
                Refresh::SamlMetadata { .. } => {
                    (&mut e.metadata_refresh_at, e.metadata_in_flight.as_ref().is_some_and(|s| s.live(now)))
                }
                Refresh::Jwks { .. } => {
                    (&mut e.jwks_refresh_at, e.jwks_in_flight.as_ref().is_some_and(|s| s.live(now)))
                }
            };
            if !in_flight && last.is_none_or(|t| now.saturating_sub(t) >= REFRESH_RETRY_SECONDS) {
                *last = Some(now);
                scheduled = true;
            }
        });
        if scheduled {
            self.due.borrow_mut().push(refresh);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_windows() {
        let until = 1_000_000;
        assert_eq!(freshness(until, until - 1), Freshness::Fresh);
        assert_eq!(freshness(until, until), Freshness::Stale, "fresh until, not including");
        assert_eq!(freshness(until, until + STALE_WHILE_REVALIDATE_SECONDS - 1), Freshness::Stale);
        assert_eq!(freshness(until, until + STALE_WHILE_REVALIDATE_SECONDS), Freshness::Expired);
        assert_eq!(STALE_WHILE_REVALIDATE_SECONDS, 86_400, "the documented stale window");
        assert_eq!(freshness(u64::MAX, u64::MAX - 1), Freshness::Fresh, "no overflow");
    }

    #[test]
    fn background_refreshes_are_coalesced_and_backed_off() {
        let cache = DocumentCache::default();
        let discovery = || Refresh::Discovery { connector: "acme".into() };
        let jwks = || Refresh::Jwks { issuer: "https://idp".into(), jwks_uri: "https://idp/jwks".into() };
        assert!(!cache.refresh_pending());
        cache.schedule("https://idp", discovery(), 100);
        cache.schedule("https://idp", discovery(), 100);
        cache.schedule("https://idp", jwks(), 101);
        assert_eq!(*cache.due.borrow(), vec![discovery(), jwks()], "one of each");
        assert!(cache.refresh_pending());
        cache.due.borrow_mut().clear();
        // Within the retry backoff (the refresh ran and failed, say): not again.
        cache.schedule("https://idp", discovery(), 100 + REFRESH_RETRY_SECONDS - 1);
        assert!(!cache.refresh_pending());
        cache.schedule("https://idp", discovery(), 100 + REFRESH_RETRY_SECONDS);
        assert_eq!(*cache.due.borrow(), vec![discovery()]);
        cache.due.borrow_mut().clear();
        // Another issuer has its own backoff; a JWKS fetch in flight makes a refresh pointless.
        cache.schedule("https://other", discovery(), 101);
        assert_eq!(cache.due.borrow().len(), 1);
        cache.due.borrow_mut().clear();
        cache.update("https://third", |e| e.jwks_in_flight = Some(InFlight::new(500, false)));
        cache.schedule("https://third", jwks(), 500);
        assert!(!cache.refresh_pending());
    }
}
