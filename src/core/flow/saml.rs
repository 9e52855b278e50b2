//! SAML 2.0 Web Browser SSO, SP-initiated (SAML Profiles §4.1), for `kind: "saml"` connectors:
//!
//! - `GET /auth/login?email=…` for a SAML domain ([`Flow::saml_login`]): an `AuthnRequest` by the HTTP-Redirect
//!   binding, with `RelayState` an opaque random handle (never a URL), and a transaction cookie, sealed, that
//!   binds the request's ID, the handle and the destination to this browser. That cookie is the one cookie
//!   sent `SameSite=None; Secure` (the IdP answers with a cross-site form POST).
//! - `POST /auth/saml/{id}/acs` ([`Flow::saml_acs`]): the transaction (this browser's, unexpired, same handle,
//!   used once on the whole network), then the response verified by [`crate::core::saml::verify_response`]
//!   (signed bytes only, `InResponseTo` = the transaction's request), then its assertion ID claimed once on
//!   the whole network, then the email (its domain one of the connector's) and the session, capped by the IdP's
//!   `SessionNotOnOrAfter`.
//! - `GET /auth/saml/{id}/metadata` ([`Flow::saml_metadata`]): the SP's metadata for the IdP's administrator.
//!
//! An IdP-initiated response (no transaction in this browser) is refused, or, with `idp_initiated`, answered
//! with a fresh SP-initiated sign-in at the same IdP: it never creates a session by itself (a response nobody
//! here asked for can be injected by an attacker — login CSRF — and cannot be bound to a request).

use std::rc::Rc;

use serde::Serialize;

use crate::core::b64;
use crate::core::config::{ConfigError, SamlConnector, SamlIdp, XmlProtocol};
use crate::core::error::{ConfigProblem, Endpoint, FlowError, IdpFailure};
use crate::core::fetch::{FetchError, HttpRequest};
use crate::core::flow::document_cache::{freshness, Freshness, Refresh};
use crate::core::flow::{Flow, FlowResult, JWKS_REFETCH_COOLDOWN_SECONDS, REFRESH_RETRY_SECONDS};
use crate::core::http::{Outcome, Request, Response};
use crate::core::policy::relevant_groups;
use crate::core::ports::Platform;
use crate::core::replay::LOGIN_SCOPE;
use crate::core::routing::Email;
use crate::core::saml::identity::{email_of, groups_of, IdentityError};
use crate::core::saml::metadata::{parse_idp_metadata, IdpDescriptor};
use crate::core::saml::request::{redirect_binding_url, sp_metadata, AuthnRequest};
use crate::core::saml::{verify_response, Expected, SamlError};
use crate::core::secret::{constant_time_eq, Secret};
use crate::core::session::codec::{KeyRing, Purpose};
use crate::core::session::cookies::{cookie_values, delete_cookie, set_cookie, CookieKind, SameSite, Transport};
use crate::core::session::record::{truncate_chars, Session, MAX_EMAIL_LEN, MAX_NAME_CHARS};
use crate::core::session::return_to::return_to_or_root;
use crate::core::session::transaction::LOGIN_TRANSACTION_TTL_SECONDS;
use crate::core::wsfed::metadata::parse_federation_metadata;
use crate::core::xml::dsig::{DsigError, Sha1};
use crate::core::xml::xenc::{DecryptionKey, XencError};

/// The scope SAML assertion IDs are claimed in (with the IdP's entity ID: an ID is unique per IdP).
pub const SAML_ASSERTION_SCOPE: &str = "saml_assertion";

/// The longest the single-use store keeps a claim (its `maxTtl`): a SAML assertion valid for longer is claimed
/// for this long — its `InResponseTo` binds it to a transaction that is itself single use and expires in 10
/// minutes. A WS-Federation token has no such binding: one valid for longer is refused.
const MAX_ASSERTION_CLAIM_SECONDS: u64 = 86_000;

/// The longest NameID a session keeps as its `sub` (as OpenID Connect's `sub`): a longer one is refused, never
/// cut, since two people whose NameIDs share the cut prefix would be one user.
const MAX_NAME_ID_BYTES: usize = 255;

/// The longest a `SAMLResponse` field may be (base64 of the XML core's largest document).
const MAX_SAML_RESPONSE_CHARS: usize = 360 * 1024;

/// An SP-initiated sign-in in progress (SAML or WS-Federation): what the ACS or reply URL needs to finish it in
/// this browser. Sealed in the SAML transaction cookie (its own purpose and name: never read as an OpenID Connect
/// transaction, and the other way); bound to its connector, whose id no connector of the other protocol has.
/// Written as JSON with serde (`Serialize`), read back by [`SamlTransaction::read`].
#[derive(Serialize)]
pub(super) struct SamlTransaction {
    /// Connector id.
    #[serde(rename = "c")]
    pub(super) connector: String,
    /// The handle sent with the request and expected back with the answer: SAML `RelayState`, WS-Federation
    /// `wctx`.
    #[serde(rename = "s")]
    pub(super) relay_state: String,
    /// The `AuthnRequest`'s `ID` (expected as the response's `InResponseTo`); empty for WS-Federation, which
    /// sends no request ID.
    #[serde(rename = "i")]
    pub(super) request_id: String,
    /// A secret of this transaction alone (never sent to the IdP): its single-use claim is made under it, so
    /// that nobody who saw the request can tell which shard of the single-use store it lands in.
    #[serde(rename = "k")]
    pub(super) claim_secret: String,
    #[serde(rename = "r")]
    pub(super) return_to: String,
    /// Where the request asked the IdP to post its answer (on the origin the sign-in started at): the ACS URL
    /// (SAML) or the reply URL, `wreply` (WS-Federation).
    #[serde(rename = "a")]
    pub(super) acs_url: String,
    #[serde(rename = "e")]
    pub(super) expires_at: u64,
}

impl SamlTransaction {
    /// The transaction from its sealed JSON's members (the names `Serialize` writes).
    fn read(document: &crate::core::json::Object) -> Result<SamlTransaction, String> {
        let m = crate::core::json::Members(document);
        let string = |name: &str| m.string(name).map(str::to_string);
        Ok(SamlTransaction {
            connector: string("c")?,
            relay_state: string("s")?,
            request_id: string("i")?,
            claim_secret: string("k")?,
            return_to: string("r")?,
            acs_url: string("a")?,
            expires_at: m.u64("e")?,
        })
    }

    /// A new transaction for `connector`, started at `origin`, with fresh random handle and claim secret.
    pub(super) fn start<P: Platform>(
        flow: &Flow<'_, P>,
        connector: &SamlConnector,
        origin: &str,
        return_to: &str,
        request_id: String,
    ) -> Result<SamlTransaction, FlowError> {
        Ok(SamlTransaction {
            connector: connector.id.clone(),
            relay_state: flow.random_token()?,
            request_id,
            claim_secret: flow.random_token()?,
            return_to: return_to_or_root(Some(return_to)),
            acs_url: connector.return_url(origin),
            expires_at: flow.now().saturating_add(LOGIN_TRANSACTION_TTL_SECONDS),
        })
    }

    /// The `Set-Cookie` header that carries it (the one `SameSite=None` cookie: the IdP answers with a
    /// cross-site form POST).
    pub(super) fn cookie(&self, keys: &KeyRing, transport: Transport) -> String {
        let name = CookieKind::SamlTransaction.name(transport);
        set_cookie(name, &self.seal(keys, name), LOGIN_TRANSACTION_TTL_SECONDS, transport, SameSite::NoneSecure)
    }

    fn seal(&self, keys: &KeyRing, cookie_name: &str) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        keys.seal(Purpose::SamlTransaction, cookie_name, &json)
    }

    fn from_cookie_header(header: &str, cookie_name: &str, keys: &KeyRing, now: u64) -> Option<SamlTransaction> {
        cookie_values(header, cookie_name).find_map(|value| {
            let bytes = keys.open(Purpose::SamlTransaction, cookie_name, value)?;
            let t = SamlTransaction::read(&crate::core::json::parse_object(&bytes).ok()?).ok()?;
            (t.expires_at > now).then_some(t)
        })
    }
}

/// The IdP, ready to use: from the connector's inline fields or from its metadata.
pub(super) type Idp = Rc<IdpDescriptor>;

impl<P: Platform> Flow<'_, P> {
    /// `/auth/login` for a SAML connector: the `AuthnRequest` (HTTP-Redirect) and the transaction cookie.
    pub(super) async fn saml_login(
        &self,
        connector: &SamlConnector,
        req: &Request,
        transport: Transport,
        return_to: &str,
    ) -> FlowResult {
        let idp = self.saml_idp(connector).await?;
        let origin = req.origin();
        let now = self.now();
        // xs:ID must not start with a digit: a letter, then 128 random bits.
        let request_id = format!("_{}", self.random_token()?);
        let tx = SamlTransaction::start(self, connector, &origin, return_to, request_id)?;
        let request = AuthnRequest {
            id: &tx.request_id,
            issue_instant: now,
            destination: &idp.sso_url,
            acs_url: &tx.acs_url,
            sp_entity_id: &connector.sp_entity_id(&origin),
        };
        let location = redirect_binding_url(&idp.sso_url, &request.to_xml(), &tx.relay_state);
        Ok(Outcome::Respond(Response::redirect(location).with_cookie(tx.cookie(self.keys, transport))))
    }

    /// `POST /auth/saml/{id}/acs`: the IdP's response (HTTP-POST binding).
    pub(super) async fn saml_acs(&self, connector_id: &str, req: &Request, transport: Transport) -> FlowResult {
        let connector = self
            .config
            .saml_connector(connector_id)
            .ok_or_else(|| FlowError::UnknownConnector(truncate_chars(connector_id, 64)))?;
        let clear_tx = delete_cookie(CookieKind::SamlTransaction.name(transport), transport);
        let fail = |e: FlowError| (e, vec![clear_tx.clone()]);
        let Some(tx) = self.take_transaction(connector, req, transport, "RelayState").await.map_err(fail)? else {
            // No sign-in of this browser is waiting: an IdP-initiated response (or an expired one). With
            // `idp_initiated`, start a sign-in of our own at the same IdP; never a session from this response.
            if connector.idp_initiated {
                let location = format!("/auth/login?connector={}", connector.id);
                return Ok(Outcome::Respond(Response::redirect(location).with_cookie(clear_tx)));
            }
            return Err(fail(FlowError::LoginExpired));
        };
        let xml = saml_response_xml(req.form_param("SAMLResponse")).map_err(|detail| {
            fail(FlowError::SamlResponse { connector: connector.id.clone(), detail: detail.to_string() })
        })?;
        let sp_entity_id = connector.sp_entity_id(&req.origin());
        let decryption_key = self.saml_decryption_key(connector).map_err(fail)?;
        let verify = |idp: Idp| {
            let (xml, sp_entity_id, tx, decryption_key) = (&xml, &sp_entity_id, &tx, decryption_key.as_ref());
            async move {
                let expected = Expected {
                    idp_entity_id: &idp.entity_id,
                    sp_entity_id,
                    acs_url: &tx.acs_url,
                    request_id: &tx.request_id,
                    keys: &idp.keys,
                    now: self.now(),
                    leeway: self.config.clock_leeway_seconds,
                    decryption_key,
                    sha1: Sha1::allowed_if(connector.allow_sha1),
                };
                verify_response(xml, &expected, self.platform).await
            }
        };
        let is_unverified = |e: &SamlError| matches!(e, SamlError::Signature(DsigError::BadSignature));
        let (idp, verified) = self.verify_with_rollover(connector, verify, is_unverified).await.map_err(fail)?;
        let identity = verified.map_err(|e| {
            fail(match e {
                SamlError::Status { code, subcode } => {
                    let message = format!(
                        "the SAML IdP answered with status {} ({})",
                        truncate_chars(&code, 200),
                        truncate_chars(subcode.as_deref().unwrap_or("no second-level code"), 200)
                    );
                    let event =
                        crate::core::log::Event::new(crate::core::log::Kind::IdpStatus, crate::core::log::Level::Info)
                            .connector(&connector.id)
                            .message(&message);
                    self.platform.event(&event);
                    FlowError::Idp(saml_status_as_idp_error(&code, subcode.as_deref()).to_string())
                }
                // The SP's own key is unusable (not an RSA PKCS #8 key WebCrypto can import): the operator's to
                // fix, not the response's fault.
                SamlError::Decryption(XencError::PrivateKey(_)) => FlowError::from(ConfigProblem::DecryptionKey {
                    connector: connector.id.clone(),
                    binding: connector.encryption.as_ref().map(|e| e.key_binding.clone()).unwrap_or_default(),
                    reason: "does not hold an RSA private key WebCrypto can import (PKCS #8)",
                }),
                e => FlowError::SamlResponse { connector: connector.id.clone(), detail: e.to_string() },
            })
        })?;
        self.claim_assertion(connector, &idp, &identity.assertion_id, identity.valid_until).await.map_err(fail)?;
        let email = email_of(&identity, connector.email_attribute.as_deref())
            .map_err(|e| fail(identity_error(connector, e, "the email (NameID or attribute)")))?;
        let groups = groups_of(&identity).ok_or_else(|| fail(too_many_groups(connector)))?;
        let signed_in = FederatedSignIn {
            subject: identity.name_id.clone(),
            email,
            name: display_name(&identity.attributes),
            groups,
            issuer: idp.entity_id.clone(),
            session_not_on_or_after: identity.session_not_on_or_after,
        };
        self.federated_session(connector, signed_in, &tx.return_to, transport)
            .map_err(fail)
            .map(|response| Outcome::Respond(response.with_cookie(clear_tx.clone())))
    }

    /// The transaction of this browser's sign-in with `connector`, spent: `None` when the browser has none (or an
    /// expired one); refused when it is another connector's, when the handle the IdP sent back (the form field
    /// `handle_field`: `RelayState`, `wctx`) is not its own (compared in constant time), when it is answered at
    /// another origin than the one it started at, or when it was used before — here or anywhere on the network.
    pub(super) async fn take_transaction(
        &self,
        connector: &SamlConnector,
        req: &Request,
        transport: Transport,
        handle_field: &str,
    ) -> Result<Option<SamlTransaction>, FlowError> {
        let now = self.now();
        let tx_name = CookieKind::SamlTransaction.name(transport);
        let Some(tx) = SamlTransaction::from_cookie_header(&req.cookie_header, tx_name, self.keys, now) else {
            return Ok(None);
        };
        if tx.connector != connector.id {
            return Err(FlowError::StateMismatch);
        }
        let handle = req.form_param(handle_field).unwrap_or_default();
        if !constant_time_eq(handle.as_bytes(), tx.relay_state.as_bytes()) {
            return Err(FlowError::StateMismatch);
        }
        // The answer must be posted where the request said (same origin, same protocol endpoint).
        if tx.acs_url != connector.return_url(&req.origin()) {
            return Err(FlowError::StateMismatch);
        }
        if !self.providers.spend_transaction(&tx.relay_state, tx.expires_at, now) {
            return Err(FlowError::Replayed);
        }
        let claim = Secret::new(format!("{}.{}", tx.relay_state, tx.claim_secret));
        self.claim_once(LOGIN_SCOPE, claim.expose(), tx.expires_at).await?;
        Ok(Some(tx))
    }

    /// Verify the IdP's answer with the connector's IdP; when no certificate of the cached metadata verifies it
    /// (`is_unverified`), the IdP may have rolled its certificate over since the copy was read: read the
    /// metadata again, past every cache (at most once a minute), and verify once more with what it lists now.
    pub(super) async fn verify_with_rollover<T, E, F, Fut>(
        &self,
        connector: &SamlConnector,
        verify: F,
        is_unverified: impl Fn(&E) -> bool,
    ) -> Result<(Idp, Result<T, E>), FlowError>
    where
        F: Fn(Idp) -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let idp = self.saml_idp(connector).await.map_err(|(e, _)| e)?;
        let verified = verify(idp.clone()).await;
        if verified.as_ref().is_err_and(&is_unverified) {
            if let Some(newer) = self.saml_idp_refetched(connector).await {
                let verified = verify(newer.clone()).await;
                return Ok((newer, verified));
            }
        }
        Ok((idp, verified))
    }

    /// Claim the assertion's ID once on the whole network, whoever posts it (defence in depth: the transaction
    /// it answers is single use already), for as long as the assertion is valid.
    pub(super) async fn claim_assertion(
        &self,
        connector: &SamlConnector,
        idp: &IdpDescriptor,
        assertion_id: &str,
        valid_until: u64,
    ) -> Result<(), FlowError> {
        let longest = self.now().saturating_add(MAX_ASSERTION_CLAIM_SECONDS);
        // A WS-Federation token answers no request (its `wctx` is not signed): only its single-use claim stops
        // a captured one from being posted again with a fresh transaction, so that claim must outlive it.
        if connector.protocol == XmlProtocol::WsFederation && valid_until > longest {
            return Err(refused_answer(
                connector,
                "the token is valid for longer than its single use can be remembered (about 24 hours): shorten \
                 the IdP's token lifetime",
            ));
        }
        let until = valid_until.min(longest);
        let assertion = format!("{}\n{}", idp.entity_id, assertion_id);
        self.claim_once(SAML_ASSERTION_SCOPE, &assertion, until).await.map_err(|e| match e {
            // Not the transaction (that one was fresh): the IdP's assertion was posted before.
            FlowError::Replayed => refused_answer(connector, "the assertion ID was used before (a replayed assertion)"),
            e => e,
        })
    }

    /// The session of a verified SAML or WS-Federation sign-in: the email at one of the connector's domains, a
    /// subject of at most [`MAX_NAME_ID_BYTES`], the groups scoped to the policies that name this connector, the
    /// lifetime capped by the IdP's `SessionNotOnOrAfter`. The `302` to `return_to` with the session cookie.
    pub(super) fn federated_session(
        &self,
        connector: &SamlConnector,
        signed_in: FederatedSignIn,
        return_to: &str,
        transport: Transport,
    ) -> Result<Response, FlowError> {
        let address = admitted_saml_address(connector, signed_in.email)?;
        if signed_in.subject.len() > MAX_NAME_ID_BYTES {
            let subject = match connector.protocol {
                XmlProtocol::Saml2 => "NameID",
                XmlProtocol::WsFederation => "subject (stable-identifier claim or NameIdentifier)",
            };
            let detail = format!("the {subject} is longer than {MAX_NAME_ID_BYTES} bytes");
            return Err(refused_answer(connector, &detail));
        }
        let now = self.now();
        if self.providers.revocations.blocks_sessions(now) {
            return Err(FlowError::RevocationsUnavailable);
        }
        let lifetime = self.config.session.lifetime_seconds;
        let exp = signed_in
            .session_not_on_or_after
            .map_or(now.saturating_add(lifetime), |end| end.min(now.saturating_add(lifetime)));
        let session = Session {
            sub: signed_in.subject,
            email: address,
            name: signed_in.name,
            connector: connector.id.clone(),
            iss: signed_in.issuer,
            iat: now,
            exp,
            sid: None,
            renewed_at: now,
            groups: relevant_groups(&self.config.policies, &connector.id, &signed_in.groups),
        };
        let session_name = CookieKind::Session.name(transport);
        let (kept, sealed) =
            session.seal_within_budget(self.keys, session_name, &self.config.session, self.platform)?;
        self.log_sign_in(&kept);
        let session_cookie = set_cookie(session_name, &sealed, exp.saturating_sub(now), transport, SameSite::Lax);
        Ok(Response::redirect(return_to_or_root(Some(return_to))).with_cookie(session_cookie))
    }

    /// `GET /auth/saml/{id}/metadata`: the SP's metadata (entity ID, ACS URL, NameID formats).
    pub(super) fn saml_metadata(&self, connector_id: &str, req: &Request) -> FlowResult {
        let connector = self
            .config
            .saml_connector(connector_id)
            .ok_or_else(|| FlowError::UnknownConnector(truncate_chars(connector_id, 64)))?;
        let origin = req.origin();
        let encryption_certificate = connector.encryption.as_ref().map(|e| e.certificate_base64.as_str());
        let body = sp_metadata(&connector.sp_entity_id(&origin), &connector.acs_url(&origin), encryption_certificate);
        let mut response = Response::html(200, body);
        response.headers.retain(|(k, _)| *k != "content-type" && *k != "cache-control");
        Ok(Outcome::Respond(
            response
                .with_header("content-type", "application/samlmetadata+xml; charset=utf-8")
                .with_header("cache-control", "public, max-age=300")
                .with_header("x-content-type-options", "nosniff"),
        ))
    }

    /// The SP's private key for encrypted assertions, from the Worker secret `sp_decryption_key_binding` names
    /// (`None` when the connector has none). A missing or unreadable secret is the operator's to fix.
    fn saml_decryption_key(&self, connector: &SamlConnector) -> Result<Option<DecryptionKey>, FlowError> {
        let Some(encryption) = &connector.encryption else { return Ok(None) };
        let problem = |reason: &'static str| {
            FlowError::from(ConfigProblem::DecryptionKey {
                connector: connector.id.clone(),
                binding: encryption.key_binding.clone(),
                reason,
            })
        };
        let secret = self.platform.secret(&encryption.key_binding).ok_or_else(|| problem("is not set"))?;
        DecryptionKey::from_pem(secret.expose()).map(Some).map_err(problem)
    }

    /// The connector's IdP: its inline fields (certificates read once per isolate), or its metadata document,
    /// cached as discovery documents are: fresh, used; stale (within the stale window, never past its
    /// `validUntil`), used at once with a background refresh (retried at most every [`REFRESH_RETRY_SECONDS`]);
    /// expired, fetched — and through an IdP outage the last good copy is used, the IdP asked again only after
    /// the retry interval.
    pub(super) async fn saml_idp(&self, connector: &SamlConnector) -> Result<Idp, (FlowError, Vec<String>)> {
        let now = self.now();
        let cached = self.providers.saml_idps.get(&connector.id);
        let usable = |idp: &IdpDescriptor| idp.valid_until.is_none_or(|end| now < end);
        if let Some((idp, fresh_until)) = cached.as_ref().filter(|(idp, _)| usable(idp)) {
            match freshness(*fresh_until, now) {
                Freshness::Fresh => return Ok(idp.clone()),
                Freshness::Stale => {
                    if let SamlIdp::Metadata { url } = &connector.idp {
                        let refresh = Refresh::SamlMetadata { connector: connector.id.clone() };
                        self.providers.documents.schedule(&saml_metadata_key(url), refresh, now);
                    }
                    return Ok(idp.clone());
                }
                Freshness::Expired => {}
            }
        }
        let fetched = match &connector.idp {
            SamlIdp::Inline { entity_id, sso_url, certificates } => {
                let mut keys = Vec::with_capacity(certificates.len());
                for (i, text) in certificates.iter().enumerate() {
                    // Checked when the configuration was loaded: a failure here is an internal inconsistency.
                    let certificate = crate::core::x509::parse_certificate(text).map_err(|e| {
                        let field = format!("idp_certificates[{i}]");
                        FlowError::from(ConfigProblem::Invalid(ConfigError::new(
                            Some(&connector.id),
                            field,
                            e.to_string(),
                        )))
                    })?;
                    keys.push(certificate.key);
                }
                let idp = Rc::new(IdpDescriptor {
                    entity_id: entity_id.clone(),
                    sso_url: sso_url.clone(),
                    keys,
                    valid_until: None,
                    cache_duration: None,
                });
                self.providers.saml_idps.put(&connector.id, idp.clone(), u64::MAX);
                return Ok(idp);
            }
            SamlIdp::Metadata { url } => self.fetch_saml_metadata(connector, url, false).await,
        };
        match (fetched, cached) {
            (Ok((idp, fresh_for)), _) => Ok(self.keep_saml_idp(connector, idp, fresh_for)),
            // Stale-if-error: an IdP outage does not stop sign-ins while the last good metadata is valid; the
            // copy counts as fresh for the retry interval, so the IdP is not asked again on every request.
            (Err(e), Some((stale, _))) if usable(&stale) => {
                self.log_idp_fetch("saml_metadata", Some(&connector.id), None, &FlowError::from(e), true, false);
                let retry_at = self.now().saturating_add(REFRESH_RETRY_SECONDS);
                self.providers.saml_idps.put(&connector.id, stale.clone(), retry_at);
                Ok(stale)
            }
            (Err(e), _) => {
                let error = FlowError::from(e);
                self.log_idp_fetch("saml_metadata", Some(&connector.id), None, &error, false, false);
                Err((error, vec![]))
            }
        }
    }

    /// The background refresh of a connector's metadata (scheduled by [`Self::saml_idp`] for a stale copy): a
    /// failure is logged and the copy in use stays.
    pub(super) async fn refresh_saml_metadata(&self, connector_id: &str) {
        let Some(connector) = self.config.xml_connector(connector_id) else { return };
        let SamlIdp::Metadata { url } = &connector.idp else { return };
        match self.fetch_saml_metadata(connector, url, false).await {
            Ok((idp, fresh_for)) => {
                self.keep_saml_idp(connector, idp, fresh_for);
            }
            Err(e) => self.log_idp_fetch("saml_metadata", Some(&connector.id), None, &FlowError::from(e), true, true),
        }
    }

    /// The connector's metadata read again past every cache, when no signing certificate of the copy in use
    /// verified a response; `None` for an inline IdP, within [`JWKS_REFETCH_COOLDOWN_SECONDS`] of the last such
    /// read, or when the read fails (logged: the copy in use stays).
    async fn saml_idp_refetched(&self, connector: &SamlConnector) -> Option<Idp> {
        let SamlIdp::Metadata { url } = &connector.idp else { return None };
        let now = self.now();
        if !self.providers.saml_idps.may_refetch(&connector.id, now, JWKS_REFETCH_COOLDOWN_SECONDS) {
            return None;
        }
        match self.fetch_saml_metadata(connector, url, true).await {
            Ok((idp, fresh_for)) => Some(self.keep_saml_idp(connector, idp, fresh_for)),
            Err(e) => {
                let error = FlowError::from(e);
                // The copy in use stays (`stale`): the refetch was for keys published since.
                self.log_idp_fetch("saml_metadata", Some(&connector.id), None, &error, true, false);
                None
            }
        }
    }

    /// Keep a metadata copy in isolate memory for its lifetime (its `cacheDuration`, else the HTTP cache's,
    /// bounded as discovery documents are; never past its `validUntil`).
    fn keep_saml_idp(&self, connector: &SamlConnector, idp: IdpDescriptor, fresh_for: Option<u64>) -> Idp {
        let idp = Rc::new(idp);
        // A cacheDuration of zero (or a few seconds) would make every request a background refresh: at least
        // the shortest lifetime discovery documents get.
        let cache_duration = idp.cache_duration.map(|d| d.max(crate::core::cache::MIN_CACHE_SECONDS));
        let lifetime = crate::core::cache::memory_lifetime(cache_duration.or(fresh_for));
        let mut fresh_until = self.now().saturating_add(lifetime);
        if let Some(end) = idp.valid_until {
            fresh_until = fresh_until.min(end);
        }
        self.providers.saml_idps.put(&connector.id, idp.clone(), fresh_until);
        idp
    }

    async fn fetch_saml_metadata(
        &self,
        connector: &SamlConnector,
        url: &str,
        past_caches: bool,
    ) -> Result<(IdpDescriptor, Option<u64>), IdpFailure> {
        let mut request = HttpRequest::document(url);
        request.headers = vec![("accept", "application/samlmetadata+xml, application/xml, text/xml".into())];
        if past_caches {
            request = request.refetched();
        }
        let response = (self.platform.send(request).await)
            .map_err(|error| IdpFailure::Fetch { endpoint: Endpoint::SamlMetadata(url.to_string()), error })?;
        if response.status != 200 {
            let error = FetchError::Status(response.status);
            return Err(IdpFailure::Fetch { endpoint: Endpoint::SamlMetadata(url.to_string()), error });
        }
        let invalid =
            |detail: String| IdpFailure::SamlMetadata { connector: connector.id.clone(), url: url.to_string(), detail };
        let text = std::str::from_utf8(&response.body).map_err(|_| invalid("not UTF-8".into()))?;
        let idp = match connector.protocol {
            XmlProtocol::Saml2 => parse_idp_metadata(text, self.now()),
            XmlProtocol::WsFederation => parse_federation_metadata(text, self.now()),
        };
        let idp = idp.map_err(|e| invalid(e.to_string()))?;
        Ok((idp, response.fresh_for))
    }
}

/// The document cache's key for a metadata URL (its refresh backoff), apart from discovery documents' keys.
fn saml_metadata_key(url: &str) -> String {
    format!("saml-metadata {url}")
}

/// The `SAMLResponse` field: base64 (line breaks tolerated, as some IdPs wrap it) of UTF-8 XML.
fn saml_response_xml(field: Option<&str>) -> Result<String, &'static str> {
    let field = field.filter(|f| !f.trim().is_empty()).ok_or("no SAMLResponse in the form")?;
    if field.len() > MAX_SAML_RESPONSE_CHARS {
        return Err("the SAMLResponse is larger than edge-auth reads");
    }
    let compact: String = field.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = b64::decode_lenient(&compact).ok_or("the SAMLResponse is not base64")?;
    String::from_utf8(bytes).map_err(|_| "the SAMLResponse is not UTF-8 text")
}

/// The session's address: at one of the connector's domains (the same rule as OpenID Connect's).
fn admitted_saml_address(connector: &SamlConnector, email: Email) -> Result<String, FlowError> {
    if !connector.owns_domain(&email.domain) {
        return Err(FlowError::EmailDomainMismatch { domain: email.domain, connector: connector.id.clone() });
    }
    let address = email.address();
    if address.len() > MAX_EMAIL_LEN {
        return Err(refused_answer(connector, "the email address is too long"));
    }
    Ok(address)
}

/// A verified sign-in, whichever protocol carried it: what the session is made of.
pub(super) struct FederatedSignIn {
    /// The session's `sub`: the NameID (SAML), the stable identifier or the NameIdentifier (WS-Federation).
    pub subject: String,
    pub email: Email,
    pub name: Option<String>,
    /// Every group the IdP asserted (the session keeps those the policies name).
    pub groups: Vec<String>,
    /// The IdP's entity ID or issuer (the session's `iss`).
    pub issuer: String,
    pub session_not_on_or_after: Option<u64>,
}

/// The IdP's answer refused, in the connector's protocol's words: a SAML response or a WS-Federation token.
pub(super) fn refused_answer(connector: &SamlConnector, detail: &str) -> FlowError {
    let (connector_id, detail) = (connector.id.clone(), detail.to_string());
    match connector.protocol {
        XmlProtocol::Saml2 => FlowError::SamlResponse { connector: connector_id, detail },
        XmlProtocol::WsFederation => FlowError::WsFedToken { connector: connector_id, detail },
    }
}

/// No email, or not an address: `what` names where it was looked for.
pub(super) fn identity_error(connector: &SamlConnector, e: IdentityError, what: &str) -> FlowError {
    match e {
        IdentityError::NoEmail => FlowError::EmailMissing,
        IdentityError::NotAnEmail => refused_answer(connector, &format!("{what} is not an email address")),
    }
}

pub(super) fn too_many_groups(connector: &SamlConnector) -> FlowError {
    let detail = format!("the IdP asserts more than {} groups", crate::core::saml::identity::MAX_GROUPS);
    refused_answer(connector, &detail)
}

/// The display name attributes (Entra's claim URI, then the usual names), a single value only.
const NAME_ATTRIBUTES: [&str; 4] = [
    "http://schemas.microsoft.com/identity/claims/displayname",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
    "displayName",
    "name",
];

pub(super) fn display_name(attributes: &[crate::core::saml::Attribute]) -> Option<String> {
    NAME_ATTRIBUTES.iter().find_map(|name| {
        let mut attributes = attributes.iter().filter(|a| a.name == *name);
        match (attributes.next(), attributes.next()) {
            (Some(attribute), None) => match attribute.values.as_slice() {
                [value] => Some(truncate_chars(value.trim(), MAX_NAME_CHARS)).filter(|n| !n.is_empty()),
                _ => None,
            },
            _ => None,
        }
    })
}

/// A SAML status (Core §3.2.2.2) as the OAuth error code whose page tells the visitor what to do.
fn saml_status_as_idp_error(code: &str, subcode: Option<&str>) -> &'static str {
    const STATUS: &str = "urn:oasis:names:tc:SAML:2.0:status:";
    let top = code.strip_prefix(STATUS).unwrap_or_default();
    let second = subcode.and_then(|s| s.strip_prefix(STATUS)).unwrap_or_default();
    match (top, second) {
        (_, "AuthnFailed" | "RequestDenied" | "UnknownPrincipal") => "access_denied",
        (_, "NoPassive") => "login_required",
        ("Responder", _) => "server_error",
        _ => "invalid_request",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saml_statuses_map_to_pages() {
        let s = |c: &str| format!("urn:oasis:names:tc:SAML:2.0:status:{c}");
        assert_eq!(saml_status_as_idp_error(&s("Responder"), Some(&s("AuthnFailed"))), "access_denied");
        assert_eq!(saml_status_as_idp_error(&s("Requester"), Some(&s("RequestDenied"))), "access_denied");
        assert_eq!(saml_status_as_idp_error(&s("Responder"), Some(&s("NoPassive"))), "login_required");
        assert_eq!(saml_status_as_idp_error(&s("Responder"), None), "server_error");
        assert_eq!(saml_status_as_idp_error(&s("Requester"), Some(&s("InvalidNameIDPolicy"))), "invalid_request");
        assert_eq!(saml_status_as_idp_error("<script>", None), "invalid_request");
    }

    #[test]
    fn the_response_field_is_base64_of_utf8() {
        assert_eq!(saml_response_xml(Some("PGEvPg==")), Ok("<a/>".to_string()));
        assert_eq!(saml_response_xml(Some("PGEv\r\nPg==")), Ok("<a/>".to_string()), "wrapped lines");
        assert!(saml_response_xml(None).is_err());
        assert!(saml_response_xml(Some("  ")).is_err());
        assert!(saml_response_xml(Some("*notbase64*")).is_err());
        assert!(saml_response_xml(Some("/w==")).is_err(), "0xff is not UTF-8");
        assert!(saml_response_xml(Some(&"A".repeat(MAX_SAML_RESPONSE_CHARS + 4))).is_err());
    }
}
