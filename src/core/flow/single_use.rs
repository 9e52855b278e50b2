//! Single use across isolates: an id is claimed in the network-wide store ([`crate::core::ports::ReplayGuard`])
//! before what it authorises happens. A replay is refused; a store that does not answer refuses too (fail
//! closed): nothing is let through unclaimed.

use crate::core::error::FlowError;
use crate::core::flow::Flow;
use crate::core::ports::Platform;
use crate::core::replay::{claim_key, Claim};

impl<P: Platform> Flow<'_, P> {
    /// Claim `id` in `scope` until `until`: `Ok` the first time, [`FlowError::Replayed`] after, and
    /// [`FlowError::ReplayStoreUnavailable`] when the store cannot say.
    pub(super) async fn claim_once(&self, scope: &str, id: &str, until: u64) -> Result<(), FlowError> {
        match self.platform.claim(scope, &claim_key(scope, id), until).await {
            Ok(Claim::First) => Ok(()),
            Ok(Claim::Seen) => Err(FlowError::Replayed),
            Err(e) => Err(FlowError::ReplayStoreUnavailable(e)),
        }
    }
}
