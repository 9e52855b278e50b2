//! The owner of an Entra domain (which tenant verified it), from Entra's discovery for the domain
//! ([`crate::core::oidc::issuer::parse_domain_owner`]), cached like any IdP document ([`crate::core::flow::document_cache`]).

use std::rc::Rc;

use crate::core::cache::memory_lifetime;
use crate::core::error::{Endpoint, FlowError, IdpFailure};
use crate::core::fetch::HttpRequest;
use crate::core::flow::document_cache::{freshness, metadata_slot, Freshness, Refresh};
use crate::core::flow::single_flight::wait_for;
use crate::core::flow::Flow;
use crate::core::location_cache::STALE_COPY_FRESH_FOR;
use crate::core::oidc::discovery::ProviderMetadata;
use crate::core::oidc::issuer::{domain_owner_issuer, entra_domain_discovery_url, entra_tenant_of_issuer};
use crate::core::ports::Platform;

impl<P: Platform> Flow<'_, P> {
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
        let entry = self.providers.documents.entry(&key);
        let cached = entry.metadata;
        if let (Some((m, fresh_until)), false) = (&cached, refresh) {
            match freshness(*fresh_until, now) {
                Freshness::Fresh => return Ok(owner(m)),
                Freshness::Stale => {
                    let refresh = Refresh::EntraDomain { authority: authority.to_string(), domain: domain.to_string() };
                    self.providers.documents.schedule(&key, refresh, now);
                    return Ok(owner(m));
                }
                Freshness::Expired => {}
            }
        }
        if let Some(in_flight) = entry.metadata_in_flight.filter(|s| s.live(now)) {
            return wait_for(&in_flight, "domain discovery", self.platform)
                .await
                .map(|m| owner(&m))
                .map_err(FlowError::from);
        }
        let guard = self.providers.documents.lead(&key, metadata_slot, "domain discovery", now);
        // One request: an answer that is neither a tenant's document nor Entra's "no such tenant" is an error
        // (the last good answer is kept; without one, the sign-in is refused).
        let mut answer = self.platform.send(HttpRequest::document(&url)).await;
        // The location's cache answers with its expired copy ([`STALE_COPY_FRESH_FOR`]) whenever Entra's answer
        // is not a `200`: also Entra's definite "verified in no tenant" (400/404), which must not be outvoted by
        // an old owner. Entra is asked once more past the cache; only if it cannot answer does the copy stand.
        if matches!(&answer, Ok(r) if r.fresh_for == Some(STALE_COPY_FRESH_FOR)) {
            if let Ok(r) = self.platform.send(HttpRequest::document(&url).refetched()).await {
                if matches!(r.status, 200 | 400 | 404) {
                    answer = Ok(r);
                }
            }
        }
        let fetched = match answer {
            Ok(r) => domain_owner_issuer(authority, r.status, &r.body)
                .map(|issuer| (issuer, r.fresh_for))
                .map_err(|error| IdpFailure::EntraDomain { url: url.clone(), error }),
            Err(error) => Err(IdpFailure::Fetch { endpoint: Endpoint::EntraDomain(url.clone()), error }),
        };
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
                self.providers.documents.update(&key, |e| e.metadata = Some((m.clone(), fresh_until)));
                Ok(m)
            }
            // Stale-if-error: an Entra outage does not stop sign-ins while we have the last good answer.
            (Err(e), Some((stale, _))) => {
                let error = FlowError::from(e);
                self.log_idp_fetch("entra_domain_owner", None, Some(&url), &error, true, refresh);
                Ok(stale)
            }
            (Err(e), None) => {
                let error = FlowError::from(e.clone());
                self.log_idp_fetch("entra_domain_owner", None, Some(&url), &error, false, refresh);
                Err(e)
            }
        };
        guard.finish(result.clone());
        result.map(|m| owner(&m)).map_err(FlowError::from)
    }
}
