//! The worker's own URIs that an IdP is told about, as the flow builds them from the site's origin: the redirect
//! URI (sent with every authorization request and token exchange), the post-logout redirect URI (sent to the
//! IdP's `end_session_endpoint`, and as WS-Federation's `wreply` on sign-out), and the front- and back-channel
//! logout endpoints the router answers. `edge-auth-check --site` prints these same values for the operator to
//! register; the SAML and WS-Federation ones are [`crate::core::config::SamlConnector`]'s (`acs_url`,
//! `metadata_url`, `reply_url`, `audience`).

// Each path written once, as a literal the URIs are formatted with (one piece, not two, in the worker).
macro_rules! callback_path {
    () => {
        "/auth/callback"
    };
}
macro_rules! signed_out_path {
    () => {
        "/auth/signed-out"
    };
}

/// `GET` / `POST /auth/callback`: the OAuth / OpenID Connect redirect URI's path.
pub const CALLBACK_PATH: &str = callback_path!();
/// `GET /auth/signed-out`: where the IdP sends the browser back after its sign-out.
pub const SIGNED_OUT_PATH: &str = signed_out_path!();
/// `GET /auth/logout/frontchannel`: OpenID Connect Front-Channel Logout 1.0.
pub const FRONTCHANNEL_LOGOUT_PATH: &str = "/auth/logout/frontchannel";
/// `POST /auth/logout/backchannel`: OpenID Connect Back-Channel Logout 1.0.
pub const BACKCHANNEL_LOGOUT_PATH: &str = "/auth/logout/backchannel";

/// The redirect URI on `origin` (`https://host[:port]`, no trailing slash).
pub fn redirect_uri(origin: &str) -> String {
    format!(concat!("{}", callback_path!()), origin)
}

/// The `post_logout_redirect_uri` (and WS-Federation sign-out `wreply`) on `origin`.
pub fn post_logout_redirect_uri(origin: &str) -> String {
    format!(concat!("{}", signed_out_path!()), origin)
}

/// The front-channel logout URL on `origin`.
pub fn frontchannel_logout_uri(origin: &str) -> String {
    format!("{origin}{FRONTCHANNEL_LOGOUT_PATH}")
}

/// The back-channel logout URL on `origin`.
pub fn backchannel_logout_uri(origin: &str) -> String {
    format!("{origin}{BACKCHANNEL_LOGOUT_PATH}")
}
