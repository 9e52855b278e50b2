//! The IdP's key for a signed token (an ID token, a back-channel logout token), written once: chosen from the
//! IdP's key set by our rules ([`select_key`]), with one refetch when the token names a `kid` the set lacks.

use crate::core::error::FlowError;
use crate::core::flow::Flow;
use crate::core::oidc::discovery::ProviderMetadata;
use crate::core::oidc::jwks::{select_key, Jwk, KeySelection, NoKey};
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
        let (jwks, just_fetched) = self.jwks(metadata, false).await.map_err(KeyLookupError::Fetch)?;
        match select_key(&jwks, jws.alg(), jws.kid()) {
            KeySelection::UnknownKid if !just_fetched => {
                let (refreshed, _) = self.jwks(metadata, true).await.map_err(KeyLookupError::Fetch)?;
                select_key(&refreshed, jws.alg(), jws.kid()).found().map_err(KeyLookupError::NoKey)
            }
            other => other.found().map_err(KeyLookupError::NoKey),
        }
    }
}
