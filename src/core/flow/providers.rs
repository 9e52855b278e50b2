//! Per-isolate state: discovery documents and key sets, the memory of spent login transactions, and the list
//! of sessions the IdPs ended.
//!
//! Discovery documents and key sets (and the owners of Entra domains, from Entra's discovery for a domain:
//! [`Flow::entra_domain_owner`]) are kept per issuer with the time until which they are fresh: what the
//! IdP's `Cache-Control` allows (the platform's [`HttpResponse::fresh_for`]; see
//! [`memory_lifetime`] for the bounds: 5 min – 24 h, 1 h without the header, 5 min with `no-store`). Then:
//!
//! - **fresh**: used as is;
//! - **stale** (up to [`STALE_WHILE_REVALIDATE_SECONDS`] past freshness): still used at once, and the request
//!   marks the document for one background refresh ([`IsolateCache::refresh_pending`]), which the platform
//!   runs after answering ([`Flow::refresh_due`]). A document is scheduled at most once per
//!   [`REFRESH_RETRY_SECONDS`], so concurrent stale requests start one refresh; a key-set refresh shares the
//!   single-flight slot of foreground JWKS fetches. A failed refresh keeps the stale copy, is logged, and the
//!   next attempt waits for that backoff;
//! - **expired** (past the stale window): the request fetches in the foreground, and falls back to the old
//!   copy when the IdP fails (stale-if-error).
//!
//! An unknown `kid` forces one JWKS refetch past every cache, shared by concurrent sign-ins, then a cooldown.
//!
//! Single flight: every IdP document (discovery document, key set; later federation metadata) is fetched at
//! most once per isolate at a time, whatever the concurrency. The first request that needs a fetch leads it
//! ([`IsolateCache::lead`]); requests (and background refreshes) arriving meanwhile wait for its result instead
//! of asking the IdP again — after a deploy every isolate is cold, and a burst of sign-ins must not become a
//! burst of IdP requests. Waiters check the slot after each [`Clock::pause`] of their own (never woken by the
//! leading request: in workerd that would run them in the leader's request context, and a request waiting on
//! nothing of its own is cancelled as hung). A leader dropped half-way completes its waiters with an error; one
//! that never finishes (its request cancelled without being dropped) is given up after
//! [`IN_FLIGHT_LIMIT_SECONDS`], and the next request fetches again. So no waiter hangs.
//!
//! [`Clock::pause`]: crate::core::ports::Clock::pause
//!
//! [`HttpResponse::fresh_for`]: crate::core::fetch::HttpResponse::fresh_for

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;

use crate::core::cache::memory_lifetime;
use crate::core::cache::STALE_WHILE_REVALIDATE_SECONDS;
use crate::core::config::{Connector, EntraTenancy, Protocol, ENTRA_CONSUMERS_TENANT_ID};
use crate::core::error::FlowError;
use crate::core::fetch::{CachePolicy, HttpRequest};
use crate::core::flow::{Flow, JWKS_REFETCH_COOLDOWN_SECONDS, REFRESH_RETRY_SECONDS};
use crate::core::oidc::discovery::{parse_provider_metadata_accepting, ProviderMetadata};
use crate::core::oidc::jwks::{parse_jwks, JwkSet};
use crate::core::ports::Platform;
use crate::core::session::memo::VerifiedSessions;
use crate::core::session::revocation_state::RevocationState;

/// How many spent login transactions an isolate remembers (expired ones are dropped first).
pub const MAX_SPENT_TRANSACTIONS: usize = 10_000;

/// Per-isolate state shared by requests: provider metadata and key sets (keyed by issuer), and the login
/// transactions already used here, so a replayed callback (same `state`, same transaction cookie) is refused
/// before it reaches the IdP. The replay memory is per isolate; the transaction cookie's 10-minute expiry
/// bounds what another isolate could accept.
#[derive(Default)]
pub struct IsolateCache {
    entries: RefCell<HashMap<String, ProviderEntry>>,
    /// Background refreshes asked for by requests that were served a stale document.
    due: RefCell<Vec<Refresh>>,
    spent_transactions: RefCell<HashMap<String, u64>>,
    /// The sessions the IdPs ended: the list, its reloads and the bounds on writing it.
    pub revocations: RevocationState,
    /// Session cookies whose seal this isolate has verified (the hot path skips re-verifying them).
    pub verified_sessions: VerifiedSessions,
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
struct ProviderEntry {
    /// The documents, each with the time until which it is fresh.
    metadata: Option<(Rc<ProviderMetadata>, u64)>,
    jwks: Option<(Rc<JwkSet>, u64)>,
    last_forced_jwks_fetch: Option<u64>,
    /// The fetches in progress (see [`IsolateCache::lead`]): concurrent requests (and background refreshes)
    /// wait for them instead of fetching again.
    metadata_in_flight: Option<Rc<InFlight<Fetched<ProviderMetadata>>>>,
    jwks_in_flight: Option<Rc<InFlight<Fetched<JwkSet>>>>,
    /// When a background refresh was last scheduled (the retry backoff).
    metadata_refresh_at: Option<u64>,
    jwks_refresh_at: Option<u64>,
}

/// What Entra's discovery for a domain (`{authority}/{domain}/v2.0/.well-known/openid-configuration`) says:
/// the id of the tenant where the domain is verified, or `None` when Entra knows no such tenant (HTTP 400/404:
/// the domain is verified nowhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainOwner {
    pub tenant: Option<String>,
}

/// Entra's discovery URL for a domain: its issuer names the tenant where the domain is verified.
pub fn entra_domain_discovery_url(authority: &str, domain: &str) -> String {
    format!("{authority}/{domain}/v2.0/.well-known/openid-configuration")
}

/// Read Entra's answer to a domain's discovery: `Ok(owner)` for a definite answer (200 with a tenant issuer,
/// or 400/404: no tenant), `Err` for anything else (an outage or an unusable document).
pub fn parse_domain_owner(authority: &str, status: u16, body: &[u8]) -> Result<DomainOwner, String> {
    let issuer = domain_owner_issuer(authority, status, body)?;
    Ok(DomainOwner { tenant: entra_tenant_of_issuer(authority, &issuer).map(str::to_string) })
}

/// [`parse_domain_owner`], as the issuer of the owning tenant (`{authority}/{tenant id}/v2.0`), or `""` for no
/// tenant.
fn domain_owner_issuer(authority: &str, status: u16, body: &[u8]) -> Result<String, String> {
    match status {
        200 => {
            let doc: serde_json::Value =
                serde_json::from_slice(body).map_err(|_| "the document is not JSON".to_string())?;
            let issuer = doc.get("issuer").and_then(|v| v.as_str()).unwrap_or_default();
            match entra_tenant_of_issuer(authority, issuer) {
                Some(_) => Ok(issuer.to_string()),
                None => Err("the issuer is not {authority}/{tenant id}/v2.0".to_string()),
            }
        }
        400 | 404 => Ok(String::new()),
        other => Err(format!("HTTP {other}")),
    }
}

/// The outcome of one document fetch, shared by everyone who waited for it.
type Fetched<T> = Result<Rc<T>, FlowError>;

/// Where the fetch in flight of one kind of document is kept in a provider entry.
type SlotOf<T> = fn(&mut ProviderEntry) -> &mut Option<Rc<InFlight<Fetched<T>>>>;

fn metadata_slot(e: &mut ProviderEntry) -> &mut Option<Rc<InFlight<Fetched<ProviderMetadata>>>> {
    &mut e.metadata_in_flight
}

fn jwks_slot(e: &mut ProviderEntry) -> &mut Option<Rc<InFlight<Fetched<JwkSet>>>> {
    &mut e.jwks_in_flight
}

/// A background refresh to run after the response.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refresh {
    /// The discovery document of this connector (by id; its issuer is the cache key).
    Discovery { connector: String },
    /// The key set of this (discovered) issuer.
    Jwks { issuer: String, jwks_uri: String },
    /// The owner of an Entra domain.
    EntraDomain { authority: String, domain: String },
}

/// How long a fetch may stay in flight before waiters give up on it and the next request fetches again: longer
/// than any fetch takes (the platform gives up on the IdP after 10 s), so only a leader that will never finish
/// (its request cancelled without being dropped) reaches it.
pub const IN_FLIGHT_LIMIT_SECONDS: u64 = 20;

/// Single-flight slot for one isolate (single-threaded): the first request fetches, the others wait for the
/// same result (see the module documentation).
struct InFlight<T: Clone> {
    result: RefCell<Option<T>>,
    /// When the fetch started (the platform's clock).
    started: u64,
    /// Whether it goes past every cache (a refetch after an unknown `kid`): an ordinary fetch may be answered
    /// by the location's cache with a set older than the token's key.
    past_caches: bool,
}

impl<T: Clone> InFlight<T> {
    fn new(started: u64, past_caches: bool) -> Rc<Self> {
        Rc::new(InFlight { result: RefCell::new(None), started, past_caches })
    }

    fn complete(&self, value: T) {
        *self.result.borrow_mut() = Some(value);
    }

    /// Whether requests should still wait for it (not given up on).
    fn live(&self, now: u64) -> bool {
        now.saturating_sub(self.started) < IN_FLIGHT_LIMIT_SECONDS
    }
}

/// The lead of one document fetch ([`IsolateCache::lead`]). Completes the in-flight slot even if the fetching
/// request is dropped half-way, so waiters never hang, and frees the slot.
struct InFlightGuard<'a, T> {
    cache: &'a IsolateCache,
    key: &'a str,
    slot: Rc<InFlight<Fetched<T>>>,
    field: SlotOf<T>,
    /// The document, for the error of an abandoned fetch.
    what: &'static str,
}

impl<T> InFlightGuard<'_, T> {
    fn finish(self, value: Fetched<T>) {
        self.slot.complete(value);
    }
}

impl<T> Drop for InFlightGuard<'_, T> {
    fn drop(&mut self) {
        if self.slot.result.borrow().is_none() {
            self.slot.complete(Err(FlowError::IdpUnreachable(format!("{}: the fetch was abandoned", self.what))));
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

impl IsolateCache {
    fn entry(&self, issuer: &str) -> ProviderEntry {
        self.entries.borrow().get(issuer).cloned().unwrap_or_default()
    }

    fn update(&self, issuer: &str, f: impl FnOnce(&mut ProviderEntry)) {
        let mut entries = self.entries.borrow_mut();
        f(entries.entry(issuer.to_string()).or_default());
    }

    /// Lead the fetch of a document (the `field` slot of the provider entry `key`): requests that find the slot
    /// taken wait for [`InFlightGuard::finish`]'s value instead of fetching. Call only after finding the slot
    /// free, with no `await` in between (one isolate is single-threaded: nothing else runs meanwhile).
    fn lead<'a, T>(&'a self, key: &'a str, field: SlotOf<T>, what: &'static str, now: u64) -> InFlightGuard<'a, T> {
        self.lead_fetch(key, field, what, now, false)
    }

    /// [`Self::lead`]; `past_caches` for a refetch past every cache.
    fn lead_fetch<'a, T>(
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

    /// Whether requests asked for background refreshes: the platform then runs [`Flow::refresh_due`] after
    /// answering.
    pub fn refresh_pending(&self) -> bool {
        !self.due.borrow().is_empty()
    }

    /// Ask for a background refresh, unless one was scheduled for the same document within
    /// [`REFRESH_RETRY_SECONDS`] (coalesced — a refresh gives up after the platform's 10 s timeout — and backed
    /// off after a failure) or a fetch of the document is already in flight.
    fn schedule(&self, key: &str, refresh: Refresh, now: u64) {
        let mut scheduled = false;
        self.update(key, |e| {
            let (last, in_flight) = match refresh {
                Refresh::Discovery { .. } | Refresh::EntraDomain { .. } => {
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

    /// Forget that `state` was used: what it was spent on did not happen (a logout token whose revocation
    /// could not be recorded may be sent again).
    pub fn unspend_transaction(&self, state: &str) {
        self.spent_transactions.borrow_mut().remove(state);
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
        let metadata = self.metadata_for_issuer(connector, false).await?;
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

    /// The discovery document: from memory while fresh; stale (within the stale window) at once, with a
    /// background refresh scheduled; otherwise fetched — once for all concurrent requests — falling back to the
    /// stale copy when the IdP fails. `refresh` (the background refresh itself) fetches unless a fetch is
    /// already in flight.
    async fn metadata_for_issuer(
        &self,
        connector: &Connector,
        refresh: bool,
    ) -> Result<Rc<ProviderMetadata>, (FlowError, Vec<String>)> {
        let now = self.now();
        let entry = self.providers.entry(&connector.issuer);
        let cached = entry.metadata;
        if let (Some((m, fresh_until)), false) = (&cached, refresh) {
            match freshness(*fresh_until, now) {
                Freshness::Fresh => return Ok(m.clone()),
                Freshness::Stale => {
                    let refresh = Refresh::Discovery { connector: connector.id.clone() };
                    self.providers.schedule(&connector.issuer, refresh, now);
                    return Ok(m.clone());
                }
                Freshness::Expired => {}
            }
        }
        if let Some(in_flight) = entry.metadata_in_flight.filter(|s| s.live(now)) {
            return self.wait_for(&in_flight, "discovery").await.map_err(|e| (e, vec![]));
        }
        let guard = self.providers.lead(&connector.issuer, metadata_slot, "discovery", now);
        let fetched = self.fetch_metadata(connector).await;
        let result = match (fetched, cached) {
            (Ok((m, fresh_for)), _) => {
                let m = Rc::new(m);
                let fresh_until = self.now().saturating_add(memory_lifetime(fresh_for));
                self.providers.update(&connector.issuer, |e| e.metadata = Some((m.clone(), fresh_until)));
                Ok(m)
            }
            // Stale-if-error: an IdP outage does not stop logins while we have its last good metadata.
            (Err(e), Some((stale, _))) => {
                let when = if refresh { "background refresh failed, " } else { "" };
                self.platform.warn(&format!(
                    "edge-auth: {when}using cached discovery for {:?}: {}",
                    connector.id,
                    e.log_detail()
                ));
                Ok(stale)
            }
            (Err(e), None) => Err(e),
        };
        guard.finish(result.clone());
        result.map_err(|e| (e, vec![]))
    }

    /// The discovery document, and how long the platform says it is fresh. It is kept (and shared by the
    /// connectors that name the same issuer URL, fetched once for all) when its `issuer` is acceptable to at
    /// least one of them; each connector applies its own rule whenever it uses it ([`Self::metadata`]).
    pub(super) async fn fetch_metadata(
        &self,
        connector: &Connector,
    ) -> Result<(ProviderMetadata, Option<u64>), FlowError> {
        let url = connector.discovery_url();
        let (expected, accept) = discovery_issuer_rule(connector);
        let acceptable = |found: &str| {
            accept(found)
                || (self.config.connectors.iter())
                    .any(|c| c.issuer == connector.issuer && c.id != connector.id && discovery_issuer_rule(c).1(found))
        };
        // A `200` answer that does not parse is asked for once more past every cache: the platform keeps any
        // `200` answer in the location's cache, also a maintenance page or a cut-off document the IdP has fixed
        // since, which every cold isolate of the location would otherwise read until it expires.
        let mut request = HttpRequest::document(&url);
        loop {
            let response = (self.platform.send(request.clone()).await)
                .map_err(|e| FlowError::IdpUnreachable(format!("discovery {url}: {e}")))?;
            if response.status != 200 {
                return Err(FlowError::IdpUnreachable(format!("discovery {url}: HTTP {}", response.status)));
            }
            match parse_provider_metadata_accepting(&response.body, &expected, acceptable) {
                Ok(metadata) => return Ok((metadata, response.fresh_for)),
                Err(_) if request.cache == CachePolicy::Document => request = request.refetched(),
                Err(e) => return Err(FlowError::IdpUnreachable(format!("connector {:?}: {e}", connector.id))),
            }
        }
    }

    /// The provider's key set, and whether it was just fetched past every cache (a refetch: only then is an
    /// unknown `kid` really unknown — an ordinary fetch may be answered by the location's cache with an older
    /// set). `force` (after an unknown `kid`) refetches unless a forced fetch was attempted within the cooldown;
    /// concurrent fetches are coalesced into one (a refetch waits for an ordinary fetch in flight, then refetches).
    /// Without `force`, a stale set is returned at once (and a background refresh scheduled).
    pub(super) fn jwks<'s>(
        &'s self,
        metadata: &'s ProviderMetadata,
        force: bool,
    ) -> impl Future<Output = Result<(Rc<JwkSet>, bool), FlowError>> + 's {
        self.key_set(&metadata.issuer, &metadata.jwks_uri, force, false)
    }

    /// [`Self::jwks`]; `refresh` (the background refresh itself) fetches even a fresh or stale set, unless a
    /// fetch is already in flight.
    async fn key_set(
        &self,
        issuer: &str,
        jwks_uri: &str,
        force: bool,
        refresh: bool,
    ) -> Result<(Rc<JwkSet>, bool), FlowError> {
        let mut now = self.now();
        let mut entry = self.providers.entry(issuer);
        // A refetch that finds an ordinary fetch in flight waits for it, then refetches itself (that fetch may
        // be answered by the location's cache with the set the token's key is missing from).
        while let (true, Some(in_flight)) = (force, entry.jwks_in_flight.clone().filter(|s| s.live(now))) {
            let set = self.wait_for(&in_flight, "jwks_uri").await?;
            if in_flight.past_caches {
                return Ok((set, true));
            }
            now = self.now();
            entry = self.providers.entry(issuer);
        }
        if let (Some((set, fresh_until)), false, false) = (&entry.jwks, force, refresh) {
            match freshness(*fresh_until, now) {
                Freshness::Fresh => return Ok((set.clone(), false)),
                Freshness::Stale => {
                    let refresh = Refresh::Jwks { issuer: issuer.to_string(), jwks_uri: jwks_uri.to_string() };
                    self.providers.schedule(issuer, refresh, now);
                    return Ok((set.clone(), false));
                }
                Freshness::Expired => {}
            }
        }
        if let Some(in_flight) = entry.jwks_in_flight.as_ref().filter(|s| s.live(now)) {
            // "Just fetched" only when the IdP was asked past every cache.
            let past_caches = in_flight.past_caches;
            return self.wait_for(in_flight, "jwks_uri").await.map(|set| (set, past_caches));
        }
        if let (Some((set, _)), true) = (&entry.jwks, force) {
            if entry.last_forced_jwks_fetch.is_some_and(|t| now.saturating_sub(t) < JWKS_REFETCH_COOLDOWN_SECONDS) {
                return Ok((set.clone(), false));
            }
        }
        let guard = self.providers.lead_fetch(issuer, jwks_slot, "jwks_uri", now, force);
        if force {
            self.providers.update(issuer, |e| e.last_forced_jwks_fetch = Some(now));
        }
        let request = if force {
            // Past every cache: the point is to see keys published since.
            HttpRequest::document(jwks_uri).refetched()
        } else {
            HttpRequest::document(jwks_uri)
        };
        let fetched = async {
            // A `200` answer that does not parse: once more past every cache (see `fetch_metadata`).
            let mut request = request;
            loop {
                let response = (self.platform.send(request.clone()).await)
                    .map_err(|e| FlowError::IdpUnreachable(format!("jwks_uri: {e}")))?;
                if response.status != 200 {
                    return Err(FlowError::IdpUnreachable(format!("jwks_uri: HTTP {}", response.status)));
                }
                match parse_jwks(&response.body) {
                    Ok(set) => return Ok((set, response.fresh_for)),
                    Err(_) if request.cache == CachePolicy::Document => request = request.refetched(),
                    Err(e) => return Err(FlowError::IdpUnreachable(format!("jwks_uri: {e}"))),
                }
            }
        }
        .await;
        let result = match (fetched, entry.jwks) {
            (Ok((set, fresh_for)), _) => {
                let set = Rc::new(set);
                let fresh_until = self.now().saturating_add(memory_lifetime(fresh_for));
                self.providers.update(issuer, |e| e.jwks = Some((set.clone(), fresh_until)));
                Ok(set)
            }
            // Stale-if-error: keep validating with the last good keys while the IdP is down.
            (Err(e), Some((stale, _))) => {
                let when = if refresh { "background refresh failed, " } else { "" };
                self.platform.warn(&format!("edge-auth: {when}using cached JWKS for {issuer:?}: {}", e.log_detail()));
                Ok(stale)
            }
            (Err(e), None) => Err(e),
        };
        guard.finish(result.clone());
        // An ordinary fetch may have been answered by the location's cache: not proof the `kid` is unknown.
        result.map(|set| (set, force))
    }

    /// The tenant that owns an Entra domain (`None`: verified in no tenant), from Entra's discovery for the
    /// domain, cached like any discovery document: fresh, stale (served at once, refreshed in the background),
    /// expired (fetched once for all concurrent requests, the last good answer kept when Entra fails). A definite
    /// "no tenant" (400/404) is an answer too, cached the same way. `refresh`: the background refresh itself.
    ///
    /// Kept in the `metadata` of an entry of its own (keyed `domain <discovery URL>`, never an issuer), as a
    /// document whose only member is the owner's issuer (`""` for none): the machinery of discovery documents,
    /// without a second copy of it in the worker.
    pub(super) async fn entra_domain_owner(
        &self,
        authority: &str,
        domain: &str,
        refresh: bool,
    ) -> Result<Option<String>, FlowError> {
        let url = entra_domain_discovery_url(authority, domain);
        let key = format!("domain {url}");
        let owner = |m: &ProviderMetadata| entra_tenant_of_issuer(authority, &m.issuer).map(str::to_string);
        let now = self.now();
        let entry = self.providers.entry(&key);
        let cached = entry.metadata;
        if let (Some((m, fresh_until)), false) = (&cached, refresh) {
            match freshness(*fresh_until, now) {
                Freshness::Fresh => return Ok(owner(m)),
                Freshness::Stale => {
                    let refresh = Refresh::EntraDomain { authority: authority.to_string(), domain: domain.to_string() };
                    self.providers.schedule(&key, refresh, now);
                    return Ok(owner(m));
                }
                Freshness::Expired => {}
            }
        }
        if let Some(in_flight) = entry.metadata_in_flight.filter(|s| s.live(now)) {
            return self.wait_for(&in_flight, "domain discovery").await.map(|m| owner(&m));
        }
        let guard = self.providers.lead(&key, metadata_slot, "domain discovery", now);
        // One request: an answer that is neither a tenant's document nor Entra's "no such tenant" is an error
        // (the last good answer is kept; without one, the sign-in is refused).
        let fetched = match self.platform.send(HttpRequest::document(&url)).await {
            Ok(r) => domain_owner_issuer(authority, r.status, &r.body).map(|issuer| (issuer, r.fresh_for)),
            Err(e) => Err(e.to_string()),
        }
        .map_err(|e| FlowError::IdpUnreachable(format!("domain discovery {url}: {e}")));
        let result = match (fetched, cached) {
            (Ok((issuer, fresh_for)), _) => {
                let m = Rc::new(ProviderMetadata {
                    issuer,
                    authorization_endpoint: String::new(),
                    token_endpoint: String::new(),
                    jwks_uri: String::new(),
                    userinfo_endpoint: None,
                    end_session_endpoint: None,
                    token_endpoint_auth_methods_supported: vec![],
                    id_token_signing_alg_values_supported: vec![],
                    authorization_response_iss_parameter_supported: false,
                });
                let fresh_until = self.now().saturating_add(memory_lifetime(fresh_for));
                self.providers.update(&key, |e| e.metadata = Some((m.clone(), fresh_until)));
                Ok(m)
            }
            // Stale-if-error: an Entra outage does not stop sign-ins while we have the last good answer.
            (Err(e), Some((stale, _))) => {
                let when = if refresh { "background refresh failed, " } else { "" };
                self.platform.warn(&format!(
                    "edge-auth: {when}using the cached owner of Entra domain {domain:?}: {}",
                    e.log_detail()
                ));
                Ok(stale)
            }
            (Err(e), None) => Err(e),
        };
        guard.finish(result.clone());
        result.map(|m| owner(&m))
    }

    /// The result of another request's fetch in flight: checked after each pause of this request (see the
    /// module documentation), given up on after [`IN_FLIGHT_LIMIT_SECONDS`].
    async fn wait_for<T>(&self, in_flight: &InFlight<Fetched<T>>, what: &str) -> Fetched<T> {
        loop {
            if let Some(result) = in_flight.result.borrow().clone() {
                return result;
            }
            if !in_flight.live(self.now()) {
                return Err(FlowError::IdpUnreachable(format!("{what}: the fetch in flight did not finish")));
            }
            self.platform.pause().await;
        }
    }

    /// Run the background refreshes that requests served with stale documents asked for. The Workers shell
    /// calls this after answering (`ctx.waitUntil`) when [`IsolateCache::refresh_pending`]. A key set whose
    /// fetch is already in flight is left to it; a failed refresh keeps the stale document and is logged.
    pub async fn refresh_due(&self) {
        let due = std::mem::take(&mut *self.providers.due.borrow_mut());
        for refresh in due {
            match refresh {
                Refresh::Discovery { connector } => {
                    if let Some(connector) = self.config.connectors.iter().find(|c| c.id == connector) {
                        let _ = self.metadata_for_issuer(connector, true).await;
                    }
                }
                Refresh::Jwks { issuer, jwks_uri } => {
                    let _ = self.key_set(&issuer, &jwks_uri, false, true).await;
                }
                Refresh::EntraDomain { authority, domain } => {
                    let _ = self.entra_domain_owner(&authority, &domain, true).await;
                }
            }
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
        let cache = IsolateCache::default();
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
