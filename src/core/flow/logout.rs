//! `POST /auth/logout` (same-origin only): clears the session and, where the IdP has an
//! `end_session_endpoint`, continues to it (OpenID Connect RP-Initiated Logout 1.0).

use crate::core::config::Protocol;
use crate::core::error::FlowError;
use crate::core::flow::{authenticate, Flow, FlowResult};
use crate::core::http::{Outcome, Request, Response};
use crate::core::platform::Platform;
use crate::core::session::cookies::{delete_cookie, CookieKind, Transport};

impl<P: Platform> Flow<'_, P> {
    // ---- POST /auth/logout ---------------------------------------------------------------------------

    pub(super) async fn logout(&self, req: &Request, transport: Transport) -> FlowResult {
        if !is_same_origin(req) {
            return Err((FlowError::Csrf, vec![]));
        }
        let session_name = CookieKind::Session.name(transport);
        let clear = delete_cookie(session_name, transport);
        let signed_out = format!("{}/auth/signed-out", req.origin());
        let session = authenticate(&req.cookie_header, transport, self.keys, self.now());
        let mut location = "/auth/signed-out".to_string();
        let oidc_connector = session
            .as_ref()
            .and_then(|s| self.config.connector(&s.connector))
            .filter(|c| matches!(c.protocol, Protocol::OpenIdConnect { .. }));
        if let Some(connector) = oidc_connector {
            match self.metadata(connector).await {
                Ok(metadata) => {
                    if let Some(end) = &metadata.end_session_endpoint {
                        if let Ok(mut u) = url::Url::parse(end) {
                            u.query_pairs_mut()
                                .append_pair("client_id", &connector.client_id)
                                .append_pair("post_logout_redirect_uri", &signed_out);
                            location = u.into();
                        }
                    }
                }
                Err((e, _)) => self.platform.warn(&format!(
                    "edge-auth: logout: no end_session_endpoint for connector {:?}: {}",
                    connector.id,
                    e.log_detail()
                )),
            }
        }
        Ok(Outcome::Respond(Response::redirect(location).with_cookie(clear)))
    }
}

/// A state-changing request must come from our own pages: `Origin` equal to ours, or (browsers that omit
/// `Origin`) `Sec-Fetch-Site: same-origin`.
fn is_same_origin(req: &Request) -> bool {
    match (&req.origin_header, &req.sec_fetch_site) {
        (Some(origin), _) => origin == &req.origin(),
        (None, Some(site)) => site == "same-origin",
        (None, None) => false,
    }
}

pub(super) fn confirmation_page() -> Response {
    Response::html(
        200,
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign out</title>
<link rel="stylesheet" href="/auth/static/style.css">
<link rel="icon" href="/auth/static/favicon.svg" type="image/svg+xml">
</head>
<body>
<main class="card">
<h1>Sign out?</h1>
<p>You will be signed out of this site and sent to your identity provider to end your session there.</p>
<form method="post" action="/auth/logout"><p class="action"><button class="button" type="submit">Sign out</button></p></form>
</main>
</body>
</html>
"#
        .to_string(),
    )
}
