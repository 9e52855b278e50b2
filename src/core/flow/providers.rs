//! Per-isolate state: discovery documents and key sets (cached, stale-if-error, single-flight refetch),
//! the memory of spent login transactions, and the list of sessions the IdPs ended.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::core::config::{Connector, EntraTenancy, Protocol, ENTRA_CONSUMERS_TENANT_ID};
use crate::core::error::FlowError;
use crate::core::flow::{Flow, JWKS_REFETCH_COOLDOWN_SECONDS, METADATA_TTL_SECONDS};
use crate::core::oidc::discovery::{parse_provider_metadata_accepting, ProviderMetadata};
use crate::core::oidc::jwks::{parse_jwks, JwkSet};
use crate::core::platform::{HttpRequest, Platform};
use crate::core::session::memo::VerifiedSessions;
use crate::core::session::record::Session;
use crate::core::session::revocation::{Revocation, RevocationList};

/// How many spent login transactions an isolate remembers (expired ones are dropped first).
pub const MAX_SPENT_TRANSACTIONS: usize = 10_000;

/// Per-isolate state shared by requests: provider metadata and key sets (keyed by issuer), and the login
/// transactions already used here, so a replayed callback (same `state`, same transaction cookie) is refused
/// before it reaches the IdP. The replay memory is per isolate; the transaction cookie's 10-minute expiry
/// bounds what another isolate could accept.
#[derive(Default)]
pub struct IsolateCache {
    entries: RefCell<HashMap<String, ProviderEntry>>,
    spent_transactions: RefCell<HashMap<String, u64>>,
    revocations: RefCell<RevocationList>,
    /// When the revocation list was last loaded from the shared store (`None`: never).
    revocations_loaded_at: RefCell<Option<u64>>,
    /// Revocations recorded by this isolate (kept across reloads until the store lists them).
    local_revocations: RefCell<Vec<Revocation>>,
    /// Session cookies whose seal this isolate has verified (the hot path skips re-verifying them).
    pub verified_sessions: VerifiedSessions,
}

#[derive(Default, Clone)]
struct ProviderEntry {
    metadata: Option<(Rc<ProviderMetadata>, u64)>,
    jwks: Option<(Rc<JwkSet>, u64)>,
    last_forced_jwks_fetch: Option<u64>,
    /// A JWKS fetch in progress: concurrent requests wait for it instead of fetching again.
    jwks_in_flight: Option<Rc<InFlight<JwksResult>>>,
}

type JwksResult = Result<Rc<JwkSet>, FlowError>;

/// Single-flight slot for one isolate (single-threaded): the first request fetches, the others await
/// the same result.
struct InFlight<T: Clone> {
    result: RefCell<Option<T>>,
    waiters: RefCell<Vec<Waker>>,
}

impl<T: Clone> InFlight<T> {
    fn new() -> Rc<Self> {
        Rc::new(InFlight { result: RefCell::new(None), waiters: RefCell::new(Vec::new()) })
    }

    fn complete(&self, value: T) {
        *self.result.borrow_mut() = Some(value);
        for waker in self.waiters.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    fn wait(self: &Rc<Self>) -> WaitInFlight<T> {
        WaitInFlight(self.clone())
    }
}

struct WaitInFlight<T: Clone>(Rc<InFlight<T>>);

impl<T: Clone> Future for WaitInFlight<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if let Some(value) = self.0.result.borrow().clone() {
            return Poll::Ready(value);
        }
        self.0.waiters.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    }
}

/// Completes the in-flight slot even if the fetching request is dropped half-way, so waiters never hang.
struct InFlightGuard<'a> {
    cache: &'a IsolateCache,
    issuer: &'a str,
    slot: Rc<InFlight<JwksResult>>,
}

impl InFlightGuard<'_> {
    fn finish(self, value: JwksResult) {
        self.slot.complete(value);
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        if self.slot.result.borrow().is_none() {
            self.slot.complete(Err(FlowError::IdpUnreachable("jwks_uri: the fetch was abandoned".into())));
        }
        self.cache.update(self.issuer, |e| {
            if e.jwks_in_flight.as_ref().is_some_and(|s| Rc::ptr_eq(s, &self.slot)) {
                e.jwks_in_flight = None;
            }
        });
    }
}

impl IsolateCache {
    fn entry(&self, issuer: &str) -> ProviderEntry {
        self.entries.borrow().get(issuer).cloned().unwrap_or_default()
    }

    fn update(&self, issuer: &str, f: impl FnOnce(&mut ProviderEntry)) {
        let mut entries = self.entries.borrow_mut();
        f(entries.entry(issuer.to_string()).or_default());
    }

    /// Whether the IdP ended this session (front- or back-channel logout).
    pub fn is_revoked(&self, session: &Session) -> bool {
        self.revocations.borrow().is_revoked(session)
    }

    /// Replace the revocation list with what the shared store holds (plus what this isolate recorded).
    pub fn load_revocations(&self, entries: Vec<Revocation>, now: u64) {
        let mut list = RevocationList::from_entries(entries);
        // Keep local entries the store may not list yet (KV listings are eventually consistent).
        for r in self.local_revocations.borrow().iter() {
            list.insert(r.clone());
        }
        *self.revocations.borrow_mut() = list;
        *self.revocations_loaded_at.borrow_mut() = Some(now);
    }

    /// A failed reload still counts as an attempt (retry after the refresh interval, not on every request).
    pub fn mark_revocations_attempted(&self, now: u64) {
        *self.revocations_loaded_at.borrow_mut() = Some(now);
    }

    /// Record a revocation in this isolate immediately.
    pub fn add_revocation(&self, r: Revocation) {
        let mut local = self.local_revocations.borrow_mut();
        if local.len() >= 1000 {
            local.drain(..500);
        }
        local.push(r.clone());
        self.revocations.borrow_mut().insert(r);
    }

    /// Whether the revocation list should be reloaded (never loaded, or older than `refresh`).
    pub fn revocations_due(&self, now: u64, refresh: u64) -> bool {
        self.revocations_loaded_at.borrow().is_none_or(|t| now.saturating_sub(t) >= refresh)
    }

    /// Whether the revocation list was ever loaded in this isolate.
    pub fn revocations_loaded(&self) -> bool {
        self.revocations_loaded_at.borrow().is_some()
    }

    /// Record a login transaction's `state` as used. `false` if it was used before (a replay).
    pub fn spend_transaction(&self, state: &str, expires_at: u64, now: u64) -> bool {
        let mut spent = self.spent_transactions.borrow_mut();
        if spent.len() >= MAX_SPENT_TRANSACTIONS {
            spent.retain(|_, exp| *exp > now);
            if spent.len() >= MAX_SPENT_TRANSACTIONS {
                // Bounded memory: forget the oldest half (their cookies expire within minutes anyway).
                let mut expiries: Vec<u64> = spent.values().copied().collect();
                expiries.sort_unstable();
                let cutoff = expiries.get(expiries.len() / 2).copied().unwrap_or(u64::MAX);
                spent.retain(|_, exp| *exp > cutoff);
            }
        }
        spent.insert(state.to_string(), expires_at).is_none()
    }
}

/// A predicate over the discovery document's `issuer`.
pub type IssuerPredicate<'a> = Box<dyn Fn(&str) -> bool + 'a>;

/// The discovery document's `issuer` a connector accepts, and a description for errors.
pub fn discovery_issuer_rule(connector: &Connector) -> (String, IssuerPredicate<'_>) {
    let entra = match &connector.protocol {
        Protocol::OpenIdConnect { entra: Some(e), .. } => e,
        _ => return (connector.issuer.clone(), Box::new(move |found: &str| found == connector.issuer)),
    };
    let authority = entra.authority.as_str();
    match &entra.tenancy {
        EntraTenancy::Multi { .. } => {
            let template = format!("{authority}/{{tenantid}}/v2.0");
            (template.clone(), Box::new(move |found: &str| found == template))
        }
        EntraTenancy::Consumers => {
            let expected = format!("{authority}/{ENTRA_CONSUMERS_TENANT_ID}/v2.0");
            (expected.clone(), Box::new(move |found: &str| found == expected))
        }
        EntraTenancy::Single { tenant, allowed_tenants } => (
            format!("{authority}/<tenant id of {tenant}>/v2.0"),
            Box::new(move |found: &str| match entra_tenant_of_issuer(authority, found) {
                Some(id) => {
                    (!crate::core::config::is_guid(tenant) || id == tenant.as_str())
                        && (allowed_tenants.is_empty() || allowed_tenants.iter().any(|t| t == id))
                }
                None => false,
            }),
        ),
    }
}

/// The tenant id in an Entra issuer `{authority}/{tenant id}/v2.0`.
pub fn entra_tenant_of_issuer<'a>(authority: &str, issuer: &'a str) -> Option<&'a str> {
    let id = issuer.strip_prefix(authority)?.strip_prefix('/')?.strip_suffix("/v2.0")?;
    crate::core::config::is_guid(id).then_some(id)
}

impl<P: Platform> Flow<'_, P> {
    pub(super) async fn metadata(
        &self,
        connector: &Connector,
    ) -> Result<Rc<ProviderMetadata>, (FlowError, Vec<String>)> {
        let metadata = self.metadata_for_issuer(connector).await?;
        // The cache is shared by connectors with the same issuer URL; each applies its own issuer rule (an
        // Entra connector's allowed_tenants must hold even when another connector fetched the document).
        let (expected, accept) = discovery_issuer_rule(connector);
        if !accept(&metadata.issuer) {
            return Err((
                FlowError::IdpUnreachable(format!(
                    "connector {:?}: the discovery document's issuer {:?} is not acceptable (expected {expected})",
                    connector.id, metadata.issuer
                )),
                vec![],
            ));
        }
        Ok(metadata)
    }

    async fn metadata_for_issuer(
        &self,
        connector: &Connector,
    ) -> Result<Rc<ProviderMetadata>, (FlowError, Vec<String>)> {
        let now = self.now();
        let cached = self.providers.entry(&connector.issuer).metadata;
        if let Some((m, at)) = &cached {
            if now.saturating_sub(*at) < METADATA_TTL_SECONDS {
                return Ok(m.clone());
            }
        }
        let fetched = self.fetch_metadata(connector).await;
        match (fetched, cached) {
            (Ok(m), _) => {
                let m = Rc::new(m);
                self.providers.update(&connector.issuer, |e| e.metadata = Some((m.clone(), now)));
                Ok(m)
            }
            // Stale-if-error: an IdP outage does not stop logins while we have its last good metadata.
            (Err(e), Some((stale, _))) => {
                self.platform.warn(&format!(
                    "edge-auth: using cached discovery for {:?}: {}",
                    connector.id,
                    e.log_detail()
                ));
                Ok(stale)
            }
            (Err(e), None) => Err((e, vec![])),
        }
    }

    pub(super) async fn fetch_metadata(&self, connector: &Connector) -> Result<ProviderMetadata, FlowError> {
        let url = connector.discovery_url();
        let response = self
            .platform
            .send(HttpRequest::get(&url))
            .await
            .map_err(|e| FlowError::IdpUnreachable(format!("discovery {url}: {e}")))?;
        if response.status != 200 {
            return Err(FlowError::IdpUnreachable(format!("discovery {url}: HTTP {}", response.status)));
        }
        let (expected, accept) = discovery_issuer_rule(connector);
        parse_provider_metadata_accepting(&response.body, &expected, accept)
            .map_err(|e| FlowError::IdpUnreachable(format!("connector {:?}: {e}", connector.id)))
    }

    /// The provider's key set, and whether this call fetched it. `force` (after an unknown `kid`) refetches
    /// unless a forced fetch was attempted within the cooldown; concurrent fetches are coalesced into one.
    pub(super) async fn jwks(&self, metadata: &ProviderMetadata, force: bool) -> Result<(Rc<JwkSet>, bool), FlowError> {
        let now = self.now();
        let issuer = metadata.issuer.as_str();
        let entry = self.providers.entry(issuer);
        if let Some(in_flight) = &entry.jwks_in_flight {
            return in_flight.wait().await.map(|set| (set, true));
        }
        if let Some((set, at)) = &entry.jwks {
            let fetch_now = if force {
                entry.last_forced_jwks_fetch.is_none_or(|t| now.saturating_sub(t) >= JWKS_REFETCH_COOLDOWN_SECONDS)
            } else {
                now.saturating_sub(*at) >= METADATA_TTL_SECONDS
            };
            if !fetch_now {
                return Ok((set.clone(), false));
            }
        }
        let slot = InFlight::new();
        self.providers.update(issuer, |e| {
            e.jwks_in_flight = Some(slot.clone());
            if force {
                e.last_forced_jwks_fetch = Some(now);
            }
        });
        let guard = InFlightGuard { cache: self.providers, issuer, slot };
        let fetched = async {
            let mut request = HttpRequest::get(&metadata.jwks_uri);
            if force {
                // Past every cache: the point is to see keys published since.
                request.headers.push(("cache-control", "no-cache".to_string()));
            }
            let response =
                self.platform.send(request).await.map_err(|e| FlowError::IdpUnreachable(format!("jwks_uri: {e}")))?;
            if response.status != 200 {
                return Err(FlowError::IdpUnreachable(format!("jwks_uri: HTTP {}", response.status)));
            }
            parse_jwks(&response.body).map_err(|e| FlowError::IdpUnreachable(format!("jwks_uri: {e}")))
        }
        .await;
        let result = match (fetched, entry.jwks) {
            (Ok(set), _) => {
                let set = Rc::new(set);
                self.providers.update(issuer, |e| e.jwks = Some((set.clone(), now)));
                Ok(set)
            }
            // Stale-if-error: keep validating with the last good keys while the IdP is down.
            (Err(e), Some((stale, _))) => {
                self.platform.warn(&format!("edge-auth: using cached JWKS for {issuer:?}: {}", e.log_detail()));
                Ok(stale)
            }
            (Err(e), None) => Err(e),
        };
        guard.finish(result.clone());
        result.map(|set| (set, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_is_spent_once() {
        let cache = IsolateCache::default();
        assert!(cache.spend_transaction("s1", 100, 10));
        assert!(!cache.spend_transaction("s1", 100, 10), "replay");
        assert!(cache.spend_transaction("s2", 100, 10));
    }

    #[test]
    fn spent_memory_is_bounded() {
        let cache = IsolateCache::default();
        for i in 0..(MAX_SPENT_TRANSACTIONS + 10) {
            assert!(cache.spend_transaction(&format!("s{i}"), 1000 + i as u64, 10));
        }
        assert!(cache.spent_transactions.borrow().len() <= MAX_SPENT_TRANSACTIONS);
        // The most recent ones are still remembered.
        assert!(!cache.spend_transaction(&format!("s{}", MAX_SPENT_TRANSACTIONS + 9), 0, 10));
    }
}
