//! `GET /auth/health`: whether this deployment can sign visitors in and check their sessions, for a load
//! balancer, an uptime check or an operator — and nothing an anonymous caller could learn the configuration from
//! (no connector, issuer, domain or URL; only counts and states).
//!
//! - `200 {"status":"ok",…}`: the configuration is loaded and the revocation list is current;
//! - `503 {"status":"degraded",…}`: the revocation list cannot be read (sessions and sign-ins are refused
//!   until it can: the store is unreachable);
//! - `503 {"status":"error","config":"invalid"}`: the configuration does not load (the platform answers this
//!   one, before a flow exists; the reason is in the log, never in the answer).
//!
//! `idp_documents` counts the connectors by the state of their IdP document (discovery, SAML or federation
//! metadata) **in this isolate**: `fresh`, `stale` (still used, being refreshed) or `not_read` (no request has
//! needed it here yet). A stale document does not make the deployment unhealthy: it is what stale-if-error is for.

use crate::core::flow::document_cache::{freshness, Freshness};
use crate::core::flow::Flow;
use crate::core::http::{Outcome, Response};
use crate::core::ports::Platform;

/// The answer when the configuration does not load.
pub fn config_error_health() -> Response {
    health_response(503, r#"{"status":"error","config":"invalid"}"#.to_string())
}

/// JSON, never cached (as every answer of edge-auth's own: `Response::json` says `no-store`).
fn health_response(status: u16, body: String) -> Response {
    Response::json(status, body)
}

impl<P: Platform> Flow<'_, P> {
    pub(super) fn health(&self) -> Outcome {
        let now = self.now();
        let (mut fresh, mut stale, mut not_read) = (0usize, 0usize, 0usize);
        let mut tally = |fresh_until: Option<u64>| match fresh_until.map(|t| freshness(t, now)) {
            None => not_read += 1,
            Some(Freshness::Fresh) => fresh += 1,
            Some(_) => stale += 1,
        };
        for connector in &self.config.connectors {
            tally(self.providers.documents.entry(&connector.issuer).metadata.map(|(_, until)| until));
        }
        #[cfg(feature = "saml")]
        for connector in &self.config.saml_connectors {
            tally(self.providers.saml_idps.get(&connector.id).map(|(_, until)| until));
        }
        let unavailable = self.providers.revocations.blocks_sessions(now);
        let (status, state, revocations) =
            if unavailable { (503, "degraded", "unavailable") } else { (200, "ok", "current") };
        let body = format!(
            r#"{{"status":"{state}","config":"loaded","idp_documents":{{"fresh":{fresh},"stale":{stale},"not_read":{not_read}}},"revocations":"{revocations}"}}"#
        );
        Outcome::Respond(health_response(status, body))
    }
}
