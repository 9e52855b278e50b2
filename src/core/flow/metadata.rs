//! Fetching the IdPs' discovery documents and key sets, and choosing the IdP's key for a signed token (an ID
//! token, a back-channel logout token) with one refetch when the token names a `kid` the set lacks, written once
//! ([`Flow::signing_key`]). Fetching through the isolate's [`crate::core::flow::document_cache`] (fresh, stale
//! with a background refresh, expired: fetched once for all concurrent requests, stale-if-error), and the
//! background refreshes themselves.

use std::future::Future;
use std::rc::Rc;

use crate::core::cache::memory_lifetime;
use crate::core::config::Connector;
use crate::core::error::{Endpoint, FlowError, IdpFailure};
use crate::core::fetch::{CachePolicy, FetchError, HttpRequest};
use crate::core::flow::document_cache::{freshness, jwks_slot, metadata_slot, Freshness, Refresh};
use crate::core::flow::single_flight::wait_for;
use crate::core::flow::{Flow, JWKS_REFETCH_COOLDOWN_SECONDS};
use crate::core::log::{Event, Kind, Level};
use crate::core::oidc::discovery::{parse_provider_metadata_accepting, DiscoveryError, ProviderMetadata};
use crate::core::oidc::issuer::{accepts_discovery_issuer, expected_discovery_issuer};
use crate::core::oidc::jwks::{parse_jwks, select_key, Jwk, JwkSet, KeySelection, NoKey};
use crate::core::oidc::jws::UntrustedJws;
use crate::core::ports::Platform;

/// Why no key was found for a token.
#[derive(Debug)]
pub(super) enum KeyLookupError {
    /// The key set has no key for it (after the refetch, when one was due).
    NoKey(NoKey),
    /// The key set could not be had.
    Fetch(FlowError),
}

impl<P: Platform> Flow<'_, P> {
    /// The key of `metadata`'s IdP that may verify `jws`. The provider may have rotated its keys: a `kid` not in
    /// the set refetches it once (rate-limited, coalesced), then decides; a set this request has just fetched
    /// past every cache is already the newest.
    pub(super) async fn signing_key(
        &self,
        metadata: &ProviderMetadata,
        jws: &UntrustedJws,
    ) -> Result<Jwk, KeyLookupError> {
        // One loop rather than two copies of the selection: the second turn is the refetch.
        let mut refetched = false;
        loop {
            let (jwks, just_fetched) = self.jwks(metadata, refetched).await.map_err(KeyLookupError::Fetch)?;
            match select_key(&jwks, jws.alg(), jws.kid()) {
                KeySelection::UnknownKid if !just_fetched && !refetched => refetched = true,
                other => return other.found().cloned().map_err(KeyLookupError::NoKey),
            }
        }
    }

    pub(super) async fn metadata(
        &self,
        connector: &Connector,
    ) -> Result<Rc<ProviderMetadata>, (FlowError, Vec<String>)> {
        let metadata = self.metadata_for_issuer(connector, false).await?;
        // The cache is shared by connectors with the same issuer URL; each applies its own issuer rule (an
        // Entra connector's allowed_tenants must hold even when another connector fetched the document).
        if !accepts_discovery_issuer(connector, &metadata.issuer) {
            let expected = expected_discovery_issuer(connector);
            let error = DiscoveryError::IssuerMismatch { expected, found: metadata.issuer.clone() };
            return Err((IdpFailure::Discovery { connector: connector.id.clone(), error }.into(), vec![]));
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
        let entry = self.providers.documents.entry(&connector.issuer);
        let cached = entry.metadata;
        if let (Some((m, fresh_until)), false) = (&cached, refresh) {
            match freshness(*fresh_until, now) {
                Freshness::Fresh => return Ok(m.clone()),
                Freshness::Stale => {
                    let refresh = Refresh::Discovery { connector: connector.id.clone() };
                    self.providers.documents.schedule(&connector.issuer, refresh, now);
                    return Ok(m.clone());
                }
                Freshness::Expired => {}
            }
        }
        if let Some(in_flight) = entry.metadata_in_flight.filter(|s| s.live(now)) {
            return wait_for(&in_flight, "discovery", self.platform).await.map_err(|e| (e.into(), vec![]));
        }
        let guard = self.providers.documents.lead(&connector.issuer, metadata_slot, "discovery", now);
        let fetched = self.fetch_metadata(connector).await;
        let result = match (fetched, cached) {
            (Ok((m, fresh_for)), _) => {
                let m = Rc::new(m);
                let fresh_until = self.now().saturating_add(memory_lifetime(fresh_for));
                self.providers.documents.update(&connector.issuer, |e| e.metadata = Some((m.clone(), fresh_until)));
                Ok(m)
            }
            // Stale-if-error: an IdP outage does not stop logins while we have its last good metadata.
            (Err(e), Some((stale, _))) => {
                let e = FlowError::from(e);
                self.log_idp_fetch("discovery", Some(&connector.id), Some(&connector.issuer), &e, true, refresh);
                Ok(stale)
            }
            (Err(e), None) => {
                let error = FlowError::from(e.clone());
                self.log_idp_fetch("discovery", Some(&connector.id), Some(&connector.issuer), &error, false, refresh);
                Err(e)
            }
        };
        guard.finish(result.clone());
        result.map_err(|e| (e.into(), vec![]))
    }

    /// The discovery document, and how long the platform says it is fresh. It is kept (and shared by the
    /// connectors that name the same issuer URL, fetched once for all) when its `issuer` is acceptable to at
    /// least one of them; each connector applies its own rule whenever it uses it ([`Self::metadata`]).
    pub(super) async fn fetch_metadata(
        &self,
        connector: &Connector,
    ) -> Result<(ProviderMetadata, Option<u64>), IdpFailure> {
        let url = connector.discovery_url();
        let expected = expected_discovery_issuer(connector);
        let acceptable = |found: &str| {
            accepts_discovery_issuer(connector, found)
                || (self.config.connectors.iter())
                    .any(|c| c.issuer == connector.issuer && c.id != connector.id && accepts_discovery_issuer(c, found))
        };
        // A `200` answer that does not parse is asked for once more past every cache: the platform keeps any
        // `200` answer in the location's cache, also a maintenance page or a cut-off document the IdP has fixed
        // since, which every cold isolate of the location would otherwise read until it expires.
        let mut request = HttpRequest::document(&url);
        loop {
            let response = (self.platform.send(request.clone()).await)
                .map_err(|error| IdpFailure::Fetch { endpoint: Endpoint::Discovery(url.clone()), error })?;
            if response.status != 200 {
                let error = FetchError::Status(response.status);
                return Err(IdpFailure::Fetch { endpoint: Endpoint::Discovery(url), error });
            }
            match parse_provider_metadata_accepting(&response.body, &expected, acceptable) {
                Ok(metadata) => return Ok((metadata, response.fresh_for)),
                Err(_) if request.cache == CachePolicy::Document => request = request.refetched(),
                Err(error) => return Err(IdpFailure::Discovery { connector: connector.id.clone(), error }),
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
        let mut entry = self.providers.documents.entry(issuer);
        // A refetch that finds an ordinary fetch in flight waits for it, then refetches itself (that fetch may
        // be answered by the location's cache with the set the token's key is missing from).
        while let (true, Some(in_flight)) = (force, entry.jwks_in_flight.clone().filter(|s| s.live(now))) {
            let set = wait_for(&in_flight, "jwks_uri", self.platform).await?;
            if in_flight.past_caches {
                return Ok((set, true));
            }
            now = self.now();
            entry = self.providers.documents.entry(issuer);
        }
        if let (Some((set, fresh_until)), false, false) = (&entry.jwks, force, refresh) {
            match freshness(*fresh_until, now) {
                Freshness::Fresh => return Ok((set.clone(), false)),
                Freshness::Stale => {
                    let refresh = Refresh::Jwks { issuer: issuer.to_string(), jwks_uri: jwks_uri.to_string() };
                    self.providers.documents.schedule(issuer, refresh, now);
                    return Ok((set.clone(), false));
                }
                Freshness::Expired => {}
            }
        }
        if let Some(in_flight) = entry.jwks_in_flight.as_ref().filter(|s| s.live(now)) {
            // "Just fetched" only when the IdP was asked past every cache.
            let past_caches = in_flight.past_caches;
            return wait_for(in_flight, "jwks_uri", self.platform)
                .await
                .map(|set| (set, past_caches))
                .map_err(FlowError::from);
        }
        if let (Some((set, _)), true) = (&entry.jwks, force) {
            if entry.last_forced_jwks_fetch.is_some_and(|t| now.saturating_sub(t) < JWKS_REFETCH_COOLDOWN_SECONDS) {
                return Ok((set.clone(), false));
            }
        }
        let guard = self.providers.documents.lead_fetch(issuer, jwks_slot, "jwks_uri", now, force);
        if force {
            self.providers.documents.update(issuer, |e| e.last_forced_jwks_fetch = Some(now));
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
                    .map_err(|error| IdpFailure::Fetch { endpoint: Endpoint::Jwks, error })?;
                if response.status != 200 {
                    let error = FetchError::Status(response.status);
                    return Err(IdpFailure::Fetch { endpoint: Endpoint::Jwks, error });
                }
                match parse_jwks(&response.body) {
                    Ok(set) => return Ok((set, response.fresh_for)),
                    Err(_) if request.cache == CachePolicy::Document => request = request.refetched(),
                    Err(e) => return Err(IdpFailure::Jwks(e)),
                }
            }
        }
        .await;
        let result = match (fetched, entry.jwks) {
            (Ok((set, fresh_for)), _) => {
                let set = Rc::new(set);
                let fresh_until = self.now().saturating_add(memory_lifetime(fresh_for));
                self.providers.documents.update(issuer, |e| e.jwks = Some((set.clone(), fresh_until)));
                Ok(set)
            }
            // Stale-if-error: keep validating with the last good keys while the IdP is down.
            (Err(e), Some((stale, _))) => {
                self.log_idp_fetch("jwks", None, Some(issuer), &FlowError::from(e), true, refresh);
                Ok(stale)
            }
            (Err(e), None) => {
                self.log_idp_fetch("jwks", None, Some(issuer), &FlowError::from(e.clone()), false, refresh);
                Err(e)
            }
        };
        guard.finish(result.clone());
        // An ordinary fetch may have been answered by the location's cache: not proof the `kid` is unknown.
        result.map(|set| (set, force)).map_err(FlowError::from)
    }

    /// Run the background refreshes that requests served with stale documents asked for. The Workers shell
    /// calls this after answering (`ctx.waitUntil`) when [`crate::core::flow::IsolateCache::refresh_pending`]. A key set whose
    /// fetch is already in flight is left to it; a failed refresh keeps the stale document and is logged.
    pub async fn refresh_due(&self) {
        let due = std::mem::take(&mut *self.providers.documents.due.borrow_mut());
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
                #[cfg(feature = "saml")]
                Refresh::SamlMetadata { connector } => self.refresh_saml_metadata(&connector).await,
            }
        }
    }
}

impl<P: Platform> Flow<'_, P> {
    /// An IdP document that could not be fetched or used (`idp_fetch_failed`): which one, for which connector
    /// or issuer, the status or class of the failure, and whether an older copy (`stale`) is used instead.
    pub(super) fn log_idp_fetch(
        &self,
        document: &str,
        connector: Option<&str>,
        issuer: Option<&str>,
        error: &FlowError,
        stale: bool,
        background: bool,
    ) {
        let detail = error.log_detail();
        let prefix = match (background, stale) {
            (true, true) => "background refresh failed, using the cached copy: ",
            (true, false) => "background refresh failed: ",
            (false, true) => "using the cached copy: ",
            (false, false) => "",
        };
        let message = [prefix, &detail].concat();
        // Entra's domain owner is a document of its own URL, not of an issuer.
        let (issuer, url) = if document == "entra_domain_owner" { (None, issuer) } else { (issuer, None) };
        let event = Event::new(Kind::IdpFetchFailed, Level::Warn)
            .connector_opt(connector)
            .issuer(issuer)
            .url(url)
            .document(document)
            .reason(error.code());
        let event = error.fetch_failure_fields(event).stale(stale).message(&message);
        self.platform.event(&event);
    }
}
