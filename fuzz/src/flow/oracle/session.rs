//! Sessions: the one a callback issues, and the gate's sliding renewal of one.

use edge_auth::core::config::{ConnectorKind, EntraTenancy, Protocol};
use edge_auth::core::http::Response;
use edge_auth::core::session::cookies::{CookieKind, Transport};
use serde_json::{json, Value};

use super::model::{self, SessionModel};
use super::Oracle;
use crate::flow::driver::cookie_pair;
use crate::testkit::b64url_decode;

/// The session sealed in one `Set-Cookie` value, read by the model.
pub(crate) fn decode(name: &str, value: &str) -> Option<SessionModel> {
    model::carried_sessions(&format!("{name}={value}"), name).into_iter().next()
}

/// A session cookie set by this step: only the callback signs in, for a connector of the configuration, with
/// an email in that connector's domains, the configured lifetime, a redirect to where the login started, and an
/// ID token that passes every claim check (re-checked here on the token the IdP sent).
pub(crate) fn check_new_session(o: &Oracle<'_>, path: &str, name: &str, value: &str, r: &Response) {
    assert_eq!(path, "/auth/callback", "oracle: a session cookie set outside the callback");
    let s = decode(name, value).expect("oracle: the issued session cookie does not decode");
    let cfg = model::config();
    let connector_model = cfg.connector(&s.connector).expect("oracle: session for an unknown connector");
    assert!(
        connector_model.domains.iter().any(|d| d.eq_ignore_ascii_case(&s.email_domain())),
        "oracle: session email {:?} not in the domains of connector {}",
        s.email,
        s.connector
    );
    assert_eq!(s.exp, o.now + cfg.lifetime, "oracle: session lifetime");
    assert_eq!(s.dead_at(o.now, cfg.idle), None, "oracle: the issued session is already dead");
    // The redirect: where the login started (the transaction's return_to, maybe re-encoded), or the root.
    let location = r.header("location").expect("oracle: a sign-in without a redirect");
    assert!(model::is_local_target(location), "oracle: callback redirects off the site: {location:?}");
    let tx = super::callback::matching_transaction(o, &s).expect("oracle: no transaction for the session");
    assert!(
        location == "/" || model::same_target(location, &tx.return_to),
        "oracle: callback redirect {location:?} is not the transaction's return_to {:?}",
        tx.return_to
    );

    let connector = o.config.connector(&s.connector).expect("oracle: session for an unknown connector");
    let Protocol::OpenIdConnect { entra, hosted_domains, claims: mapping } = &connector.protocol else {
        assert_eq!(s.iss, connector.issuer, "oracle: Facebook session iss");
        return;
    };
    // Re-check the ID token the IdP sent, independently of the crate's parser.
    assert!(!o.verified.is_empty(), "oracle: signed in without a signature check");
    for (alg, key) in o.verified {
        assert!(model::key_fits(*alg, key), "oracle: verified with a key that does not suit {alg:?}");
    }
    let body = o.last_token_body.as_ref().expect("oracle: signed in without a token response");
    let tokens: Value = serde_json::from_slice(body).expect("oracle: token response is not JSON");
    let id_token = tokens["id_token"].as_str().expect("oracle: no id_token string");
    let payload = id_token.split('.').nth(1).expect("oracle: id_token payload");
    let claims: Value = serde_json::from_slice(&b64url_decode(payload)).expect("oracle: claims are not JSON");
    let iss = claims["iss"].as_str().expect("oracle: iss");
    assert_eq!(s.iss, iss, "oracle: session iss is not the token's");
    match entra {
        Some(e) => {
            let tid = claims["tid"].as_str().expect("oracle: Entra token without tid");
            if let EntraTenancy::Multi { allowed_tenants } = &e.tenancy {
                assert!(allowed_tenants.iter().any(|t| t == tid), "oracle: Entra tenant {tid:?} not allowed");
            }
            assert_eq!(iss, format!("{}/{tid}/v2.0", e.authority), "oracle: Entra iss");
        }
        None if connector.kind == ConnectorKind::Google => {
            let bare = connector.issuer.strip_prefix("https://").unwrap_or(&connector.issuer);
            assert!(iss == connector.issuer || iss == bare, "oracle: Google iss {iss:?}");
        }
        None => assert_eq!(iss, connector.issuer, "oracle: iss is not the connector's issuer"),
    }
    if !hosted_domains.is_empty() {
        let hd = claims["hd"].as_str().expect("oracle: Google Workspace token without hd");
        let hd = hd.trim_end_matches('.').to_ascii_lowercase();
        assert!(hosted_domains.contains(&hd), "oracle: hd {hd:?} not a hosted domain");
    }
    assert_eq!(claims["nonce"].as_str(), Some(tx.nonce.as_str()), "oracle: nonce");
    let aud_ok = match &claims["aud"] {
        Value::String(a) => a == &connector.client_id,
        Value::Array(l) => l.iter().any(|a| a.as_str() == Some(connector.client_id.as_str())),
        _ => false,
    };
    assert!(aud_ok, "oracle: aud does not contain the client_id");
    let leeway = cfg.leeway as f64;
    let exp = claims["exp"].as_f64().expect("oracle: exp");
    assert!(exp + leeway > o.now as f64, "oracle: expired token accepted");
    if let Some(max_age) = connector.max_age {
        let auth_time = claims["auth_time"].as_f64().expect("oracle: max_age without auth_time");
        assert!(o.now as f64 - auth_time <= max_age as f64 + leeway + 1.0, "oracle: auth_time older than max_age");
    }
    // email_verified false in the token, about the address the session got from the token, must refuse.
    // (Without an email claim the address comes from UserInfo, whose own email_verified then applies.)
    let unverified = claims["email_verified"] == json!(false) || claims["email_verified"] == json!("false");
    if unverified {
        let email_claims: Vec<&str> = match entra {
            Some(_) => vec!["email", "preferred_username", "upn"],
            None => vec![mapping.email.as_str()],
        };
        let names_session_email =
            email_claims.iter().any(|c| claims[*c].as_str().is_some_and(|v| same_address(v, &s.email)));
        assert!(!names_session_email, "oracle: signed in with an email the token marks unverified");
    }
}

/// The same mailbox: the local part as written, the domain in any case (and with a trailing dot).
fn same_address(claim: &str, email: &str) -> bool {
    match (claim.trim().rsplit_once('@'), email.rsplit_once('@')) {
        (Some((l1, d1)), Some((l2, d2))) => l1 == l2 && d1.trim_end_matches('.').eq_ignore_ascii_case(d2),
        _ => false,
    }
}

/// A sliding renewal rewrites the session the gate allowed, with `renewed_at = now` and nothing else changed,
/// and only once half the idle timeout has passed since the last renewal.
pub(crate) fn check_renewal(set_cookie: &str, session: &SessionModel, transport: Transport, now: u64) {
    let name = CookieKind::Session.name(transport);
    let (n, value) = cookie_pair(set_cookie).expect("oracle: renewal cookie without name=value");
    assert_eq!(n, name, "oracle: renewal of another cookie");
    let renewed = decode(name, value).expect("oracle: the renewed session cookie does not decode");
    assert_eq!(renewed.renewed_at, now, "oracle: renewal without renewed_at = now");
    assert_eq!(
        SessionModel { renewed_at: session.renewed_at, ..renewed },
        *session,
        "oracle: renewal changed the identity or the expiry"
    );
    let idle = model::config().idle.expect("oracle: a renewal without an idle timeout");
    assert!(
        now >= session.last_active().saturating_add(idle / 2),
        "oracle: renewed before half the idle timeout passed (last active {}, now {now})",
        session.last_active()
    );
}
