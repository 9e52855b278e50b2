//! WS-Federation passive requestor (WS-Federation 1.2 §13), for `kind: "wsfed"` connectors (AD FS, Microsoft
//! Entra ID):
//!
//! - `GET /auth/login?email=…` for a WS-Fed domain ([`Flow::wsfed_login`]): `302` to the IdP's passive endpoint
//!   with `wa=wsignin1.0`, `wtrealm` (the realm), `wctx` (an opaque random handle, never a URL) and `wreply`
//!   (`https://SITE/auth/wsfed/{id}`); the transaction cookie binds the handle to this browser, as for SAML
//!   (`SameSite=None; Secure`: the IdP answers with a cross-site form POST).
//! - `POST /auth/wsfed/{id}` ([`Flow::wsfed_return`]): `wa=wsignin1.0`, each field once; the transaction (this
//!   browser's, this connector's, same `wctx` in constant time, this origin, used once on the whole network);
//!   the `wresult` verified by [`crate::core::wsfed::verify_wresult`] (signed bytes only; the realm as the
//!   audience; the IdP's certificates, read again once past every cache when none verifies); the assertion ID
//!   claimed once on the whole network; the email (its domain one of the connector's), the stable subject
//!   (`ImmutableID`-style claims), the groups; the session capped by a SAML 2.0 `SessionNotOnOrAfter`.
//! - `GET /auth/wsfed/{id}?wa=wsignout1.0` or `wa=wsignoutcleanup1.0` ([`Flow::wsfed_signout`]): the IdP's
//!   sign-out, usually in an iframe or image of its sign-out page. It ends the session of this browser when that
//!   session is one of this connector's and the request comes from the same site — nothing else: no redirect
//!   (a `wreply` is never followed), no other session, nothing read from the request but `wa`. The answer is a
//!   small page that may be framed.
//! - `POST /auth/logout` of a WS-Fed session ends it here, then continues to the IdP with `wa=wsignout1.0`
//!   ([`crate::core::wsfed::wsignout_url`]), which ends the IdP's session and the other relying parties'.

use crate::core::config::SamlConnector;
use crate::core::error::FlowError;
use crate::core::flow::saml::{
    display_name, identity_error, refused_answer, too_many_groups, FederatedSignIn, Idp, SamlTransaction,
};
use crate::core::flow::{authenticate, Flow, FlowResult};
use crate::core::http::{Outcome, Request, Response};
use crate::core::ports::Platform;
use crate::core::session::cookies::{delete_cookie, CookieKind, Transport};
use crate::core::session::record::truncate_chars;
use crate::core::wsfed::identity::{email_of, groups_of, stable_subject, AmbiguousSubject};
use crate::core::wsfed::{verify_wresult, Expected, WsFedError, WSIGNIN, WSIGNOUT, WSIGNOUT_CLEANUP};
use crate::core::xml::dsig::DsigError;
use crate::core::xml::MAX_DOCUMENT_BYTES;

/// The value of a form field the WS-Federation answer carries once: `None` when absent; refused when repeated
/// (which copy would the IdP have meant?).
fn single_field<'r>(req: &'r Request, name: &str) -> Result<Option<&'r str>, String> {
    let mut values = req.form.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(format!("the form has {name} more than once"));
    }
    Ok(first)
}

impl<P: Platform> Flow<'_, P> {
    /// `/auth/login` for a WS-Federation connector: `302` to the IdP with `wa=wsignin1.0`, and the transaction
    /// cookie.
    pub(super) async fn wsfed_login(
        &self,
        connector: &SamlConnector,
        req: &Request,
        transport: Transport,
        return_to: &str,
    ) -> FlowResult {
        let idp = self.saml_idp(connector).await?;
        let origin = req.origin();
        // WS-Federation has no request ID: the handle (`wctx`) is what binds the answer to this browser.
        let tx = SamlTransaction::start(self, connector, &origin, return_to, String::new())?;
        let mut location = url::Url::parse(&idp.sso_url).map_err(|_| FlowError::NotFound)?;
        location
            .query_pairs_mut()
            .append_pair("wa", WSIGNIN)
            .append_pair("wtrealm", &connector.audience(&origin))
            .append_pair("wctx", &tx.relay_state)
            .append_pair("wreply", &tx.acs_url);
        Ok(Outcome::Respond(Response::redirect(String::from(location)).with_cookie(tx.cookie(self.keys, transport))))
    }

    /// `/auth/wsfed/{id}`: the IdP's answer (POST, `wa=wsignin1.0`) or its sign-out (GET, `wa=wsignout1.0` or
    /// `wa=wsignoutcleanup1.0`).
    pub(super) async fn wsfed_route(&self, connector_id: &str, req: &Request, transport: Transport) -> FlowResult {
        let connector = self
            .config
            .wsfed_connector(connector_id)
            .ok_or_else(|| FlowError::UnknownConnector(truncate_chars(connector_id, 64)))?;
        match req.method {
            crate::core::http::Method::Post => self.wsfed_return(connector, req, transport).await,
            crate::core::http::Method::Get | crate::core::http::Method::Head => {
                match req.query_param("wa").as_deref() {
                    Some(WSIGNOUT | WSIGNOUT_CLEANUP) => Ok(self.wsfed_signout(connector, req, transport).await),
                    _ => Err(FlowError::NotFound.into()),
                }
            }
            crate::core::http::Method::Other => Err(FlowError::MethodNotAllowed.into()),
        }
    }

    /// `POST /auth/wsfed/{id}` with `wa=wsignin1.0`, `wresult`, `wctx`.
    async fn wsfed_return(&self, connector: &SamlConnector, req: &Request, transport: Transport) -> FlowResult {
        let clear_tx = delete_cookie(CookieKind::SamlTransaction.name(transport), transport);
        let fail = |e: FlowError| (e, vec![clear_tx.clone()]);
        let refused = |detail: &str| fail(refused_answer(connector, detail));
        let fields = ["wa", "wctx", "wresult"].map(|name| single_field(req, name));
        if let Some(Err(detail)) = fields.iter().find(|f| f.is_err()) {
            return Err(refused(detail));
        }
        let [wa, _, wresult] = fields.map(|f| f.ok().flatten());
        if wa != Some(WSIGNIN) {
            return Err(refused("the form's wa is not wsignin1.0"));
        }
        let Some(tx) = self.take_transaction(connector, req, transport, "wctx").await.map_err(fail)? else {
            // No sign-in of this browser is waiting (IdP-initiated, or expired): never a session from it.
            return Err(fail(FlowError::LoginExpired));
        };
        let wresult = wresult.filter(|w| !w.trim().is_empty()).ok_or_else(|| refused("no wresult in the form"))?;
        if wresult.len() > MAX_DOCUMENT_BYTES {
            return Err(refused("the wresult is larger than edge-auth reads"));
        }
        let realm = connector.audience(&req.origin());
        let verify = |idp: Idp| {
            let (realm, tx) = (&realm, &tx);
            async move {
                let expected = Expected {
                    issuer: &idp.entity_id,
                    realm,
                    reply_url: &tx.acs_url,
                    keys: &idp.keys,
                    now: self.now(),
                    leeway: self.config.clock_leeway_seconds,
                };
                verify_wresult(wresult, &expected, self.platform).await
            }
        };
        let is_unverified = |e: &WsFedError| matches!(e, WsFedError::Signature(DsigError::BadSignature));
        let (idp, verified) = self.verify_with_rollover(connector, verify, is_unverified).await.map_err(fail)?;
        let identity = verified.map_err(|e| refused(&e.to_string()))?;
        self.claim_assertion(connector, &idp, &identity.assertion_id, identity.valid_until).await.map_err(fail)?;
        let email = email_of(&identity, connector.email_attribute.as_deref())
            .map_err(|e| fail(identity_error(connector, e, "the email (claim or NameIdentifier)")))?;
        let groups = groups_of(&identity).ok_or_else(|| fail(too_many_groups(connector)))?;
        let subject = stable_subject(&identity).map_err(|AmbiguousSubject(claim)| {
            refused(&format!("the stable-identifier claim {claim} is not one non-empty value"))
        })?;
        let signed_in = FederatedSignIn {
            subject: subject.to_string(),
            email,
            name: display_name(&identity.claims),
            groups,
            issuer: idp.entity_id.clone(),
            session_not_on_or_after: identity.session_not_on_or_after,
        };
        let response = self.federated_session(connector, signed_in, &tx.return_to, transport).map_err(fail)?;
        Ok(Outcome::Respond(response.with_cookie(clear_tx.clone())))
    }

    /// `GET /auth/wsfed/{id}?wa=wsignout1.0|wsignoutcleanup1.0`: ends this browser's session when it is one of
    /// this connector's (see the module documentation). Anyone can make a browser send this GET, so:
    /// - sent from the same site (an AD FS on the site's own domain, in an iframe or image of its sign-out page:
    ///   `Sec-Fetch-Site` `same-origin` or `same-site`), the session ends here and is recorded as ended, as
    ///   `POST /auth/logout` does (a page of a sibling subdomain can send it too: a site that hosts content it
    ///   does not trust on its own registrable domain should not rely on this);
    /// - sent from another site as a top-level navigation (the only way another site's request carries the
    ///   `SameSite=Lax` session cookie), or by no page at all (`none`: a link opened from a mail application),
    ///   or by a browser that does not say, the session is left alone and the visitor is asked to confirm: a
    ///   link must not sign a visitor out (logout CSRF); a cross-site iframe or image sends no cookie and ends
    ///   nothing, whatever this answer;
    /// - never a redirect (a `wreply` here is not followed), never another session.
    async fn wsfed_signout(&self, connector: &SamlConnector, req: &Request, transport: Transport) -> Outcome {
        let session =
            authenticate(&req.cookie_header, transport, self.keys, self.now()).filter(|s| s.connector == connector.id);
        let Some(session) = session else { return Outcome::Respond(super::logout::signed_out_frame(&self.pages(req))) };
        // `none` is a navigation no page started (the address bar, a bookmark — or a link opened from a mail or
        // chat application): not the IdP's sign-out page, so it is asked too.
        let same_site = matches!(req.sec_fetch_site.as_deref(), Some("same-origin" | "same-site"));
        if !same_site {
            return Outcome::Respond(super::logout::confirmation_page(&self.pages(req)));
        }
        let event = crate::core::log::Event::new(crate::core::log::Kind::Revocation, crate::core::log::Level::Info)
            .outcome(crate::core::log::SUCCESS)
            .channel("wsfed_signout")
            .connector(&session.connector)
            .subject(&session.sub);
        self.platform.event(&event);
        self.record_sign_out(&session, "wsfed_signout").await;
        let clear = delete_cookie(CookieKind::Session.name(transport), transport);
        Outcome::Respond(super::logout::signed_out_frame(&self.pages(req)).with_cookie(clear))
    }
}
