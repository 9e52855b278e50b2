//! A login transaction the login issues: a safe return_to, our own callback, and an authorization request that
//! carries its `state`, `nonce` and S256 challenge and never the PKCE verifier.

use edge_auth::core::http::Response;

use super::model::{self, live_transactions};
use super::Oracle;

pub(crate) fn check_new_transaction(o: &Oracle<'_>, url: &url::Url, name: &str, value: &str, r: &Response) {
    assert_eq!(url.path(), "/auth/login", "oracle: a transaction cookie set outside the login");
    let tx = live_transactions(&format!("{name}={value}"), name, o.now)
        .into_iter()
        .next()
        .expect("oracle: the issued transaction cookie does not decode (or is already expired)");
    assert!(model::is_local_target(&tx.return_to), "oracle: unsafe return_to sealed: {:?}", tx.return_to);
    assert!(model::config().connector(&tx.connector).is_some(), "oracle: transaction for an unknown connector");
    let expected_redirect = format!("{}/auth/callback", url.origin().ascii_serialization());
    assert_eq!(tx.redirect_uri, expected_redirect, "oracle: redirect_uri");
    let location = r.header("location").expect("oracle: login sets a transaction without redirecting");
    let authorize = url::Url::parse(location).expect("oracle: authorization URL does not parse");
    let q = |k: &str| authorize.query_pairs().filter(|(n, _)| n == k).map(|(_, v)| v.into_owned()).collect::<Vec<_>>();
    assert_eq!(q("state"), vec![tx.state.clone()], "oracle: state");
    assert_eq!(q("nonce"), vec![tx.nonce.clone()], "oracle: nonce");
    assert_eq!(q("code_challenge"), vec![model::pkce_s256(&tx.pkce_verifier)], "oracle: code_challenge");
    assert_eq!(q("code_challenge_method"), vec!["S256".to_string()], "oracle: S256");
    assert_eq!(q("redirect_uri"), vec![tx.redirect_uri.clone()], "oracle: redirect_uri in the request");
    assert!(q("code_verifier").is_empty(), "oracle: PKCE verifier in the front channel");
    assert!(!location.contains(&tx.pkce_verifier), "oracle: PKCE verifier in the authorization URL");
}
