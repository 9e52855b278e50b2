//! Per-isolate state shared by requests, one store per concern: the IdPs' documents
//! ([`crate::core::flow::document_cache`]), the spent login transactions ([`crate::core::flow::spent`]), the
//! sessions the IdPs ended, and the session cookies already verified here.

use crate::core::flow::document_cache::DocumentCache;
use crate::core::flow::spent::SpentTransactions;
use crate::core::session::memo::VerifiedSessions;
use crate::core::session::revocation_state::RevocationState;

/// Per-isolate state shared by requests.
#[derive(Default)]
pub struct IsolateCache {
    /// Discovery documents, key sets and Entra domain owners, with their background refreshes.
    pub(super) documents: DocumentCache,
    /// Login transactions (and logout-token `jti`s) already used here.
    spent: SpentTransactions,
    /// The sessions the IdPs ended: the list, its reloads and the bounds on writing it.
    pub revocations: RevocationState,
    /// Session cookies whose seal this isolate has verified (the hot path skips re-verifying them).
    pub verified_sessions: VerifiedSessions,
    /// SAML connectors' IdPs (their certificates read, their metadata fetched), by connector id.
    #[cfg(feature = "saml")]
    pub(super) saml_idps: SamlIdps,
}

/// The SAML IdPs an isolate has read: by connector id, with the time until which each is fresh.
#[cfg(feature = "saml")]
#[derive(Default)]
pub(super) struct SamlIdps(
    std::cell::RefCell<
        std::collections::BTreeMap<String, (std::rc::Rc<crate::core::saml::metadata::IdpDescriptor>, u64)>,
    >,
);

#[cfg(feature = "saml")]
impl SamlIdps {
    pub(super) fn get(
        &self,
        connector: &str,
    ) -> Option<(std::rc::Rc<crate::core::saml::metadata::IdpDescriptor>, u64)> {
        self.0.borrow().get(connector).cloned()
    }

    pub(super) fn put(
        &self,
        connector: &str,
        idp: std::rc::Rc<crate::core::saml::metadata::IdpDescriptor>,
        fresh_until: u64,
    ) {
        self.0.borrow_mut().insert(connector.to_string(), (idp, fresh_until));
    }
}

impl IsolateCache {
    /// Whether requests asked for background refreshes: the platform then runs
    /// [`crate::core::flow::Flow::refresh_due`] after answering.
    pub fn refresh_pending(&self) -> bool {
        self.documents.refresh_pending()
    }

    /// Record a login transaction's `state` as used. `false` if it was used before (a replay).
    pub fn spend_transaction(&self, state: &str, expires_at: u64, now: u64) -> bool {
        self.spent.spend_transaction(state, expires_at, now)
    }

    /// Forget that `state` was used: what it was spent on did not happen (a logout token whose revocation
    /// could not be recorded may be sent again).
    pub fn unspend_transaction(&self, state: &str) {
        self.spent.unspend_transaction(state)
    }
}
