//! The callback's binding to its login transaction: every callback spends the transaction cookie; a session is
//! only set when the response's `state` is the state of a live transaction the browser carries (for that
//! transaction's connector), arrives the way that connector asked for it (`form_post`: POST, else GET), and
//! that transaction has not signed anyone in before.

use edge_auth::core::http::Method;
use edge_auth::core::session::cookies::{CookieKind, Transport};
use edge_auth::core::url::transport_of;

use super::model::{self, TxModel};
use super::session::decode;
use super::{History, Oracle};
use crate::flow::driver::cookie_pair;

/// The first `state` parameter of the authorization response (form for POST, query otherwise).
fn state_param(o: &Oracle<'_>) -> Option<String> {
    match o.request.method {
        Method::Post => o.request.form.iter().find(|(k, _)| k == "state").map(|(_, v)| v.clone()),
        _ => o.url.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned()),
    }
}

/// The live transaction the request carries whose `state` the response names and whose connector signed the
/// session in.
pub(crate) fn matching_transaction(o: &Oracle<'_>, s: &model::SessionModel) -> Option<TxModel> {
    let transport = transport_of(o.url)?;
    let name = CookieKind::LoginTransaction.name(transport);
    let state = state_param(o)?;
    model::live_transactions(&o.request.cookie_header, name, o.now)
        .into_iter()
        .find(|tx| tx.state.as_bytes() == state.as_bytes() && tx.connector == s.connector)
}

pub(crate) fn check(o: &Oracle<'_>, transport: Transport, method: Method, set_cookies: &[&str], history: &mut History) {
    let tx_name = CookieKind::LoginTransaction.name(transport);
    assert!(
        set_cookies.iter().any(|c| c.starts_with(&format!("{tx_name}=;")) && c.contains("Max-Age=0")),
        "oracle: a callback response does not clear the login transaction: {set_cookies:?}"
    );
    let session_name = CookieKind::Session.name(transport);
    let issued = set_cookies
        .iter()
        .filter_map(|c| cookie_pair(c))
        .find(|(n, v)| *n == session_name && !v.is_empty())
        .map(|(n, v)| decode(n, v).expect("oracle: the issued session cookie does not decode"));
    let Some(session) = issued else { return };
    let Some(tx) = matching_transaction(o, &session) else {
        panic!(
            "oracle: a callback signed in although its state {:?} names no live transaction of connector {} \
             in the request",
            state_param(o),
            session.connector
        )
    };
    let form_post = model::config().connector(&tx.connector).is_some_and(|c| c.form_post);
    let expected = if form_post { Method::Post } else { Method::Get };
    assert_eq!(method, expected, "oracle: connector {} signed in through a {method:?} callback", tx.connector);
    assert!(
        !history.spent_states.contains(&tx.state),
        "oracle: a login transaction signed in twice (replayed callback, state {:?})",
        tx.state
    );
    history.spent_states.push(tx.state);
}
