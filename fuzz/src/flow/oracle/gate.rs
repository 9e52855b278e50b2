//! The session gate's decisions for protected content, against the model:
//!
//! - a session is only let through (or shown a 403 naming it) if the request carried it under our seal;
//! - never with `exp <= now`, an `iat` beyond the clock skew, or idle for `idle_timeout_seconds`;
//! - never after a logout revoked it (by `sid` of its issuer or connector, by `sub` for sessions issued up to
//!   the logout, or that very session);
//! - never on a path a restricted policy names, without one of that policy's grants; such a path is never public;
//! - a sliding renewal keeps the session and comes only when due (see [`super::session::check_renewal`]).

use edge_auth::core::flow::Gate;
use edge_auth::core::session::cookies::CookieKind;
use edge_auth::core::url::transport_of;

use super::model::{self, carried_sessions, SessionModel};
use super::session::check_renewal;
use super::Oracle;

pub(crate) fn check(o: &Oracle<'_>, path: &str, decision: &Gate) {
    let cfg = model::config();
    let restricted: Vec<_> = model::policies_naming(path).filter(|p| !p.public).collect();
    let session = match decision {
        Gate::Public => {
            assert!(restricted.is_empty(), "oracle: {path:?} is public although policy {:?} restricts it", restricted);
            return;
        }
        Gate::Unauthenticated => return,
        Gate::Allowed { session, .. } | Gate::Forbidden(session) => SessionModel::of(session),
    };
    let transport = transport_of(o.url).expect("the gate only runs for http(s) sites");
    let name = CookieKind::Session.name(transport);
    let carried = carried_sessions(&o.request.cookie_header, name);
    assert!(carried.contains(&session), "oracle: the gate let in a session the request did not carry: {session:?}");
    if let Some(why) = session.dead_at(o.now, cfg.idle) {
        panic!("oracle: the gate took a session that is {why} as signed in (now {}): {session:?}", o.now);
    }
    // Revocations written by earlier steps (and this one) apply to this isolate at once.
    if let Some(r) = session.revoked_by(o.revocations) {
        panic!("oracle: the gate took a revoked session as signed in: {session:?} revoked by {r:?}");
    }
    if let Gate::Allowed { renew, .. } = decision {
        for p in &restricted {
            assert!(
                model::grants(p, &session),
                "oracle: {path:?} served to {session:?} without a grant of policy {p:?}"
            );
        }
        if let Some(cookie) = renew {
            check_renewal(cookie, &session, transport, o.now);
        }
    }
}
