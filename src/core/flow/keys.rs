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
}
