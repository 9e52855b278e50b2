//! `GET|POST /auth/callback`: the authorization response, in the steps of the protocol:
//!
//! 1. the login transaction: this browser's, unexpired, unused (in this isolate, then on the whole network:
//!    [`Flow::claim_once`]), same `state`, answered the way it asked;
//! 2. the authorization response: the IdP's `iss` (RFC 9207), `error`, the code;
//! 3. the code for tokens ([`Flow::exchange_code`]; Facebook: its token endpoint);
//! 4. the ID token, verified for its connector ([`crate::core::oidc::verifier::IdTokenVerifier`], with the IdP's
//!    key chosen with one refetch: `Flow::signing_key`);
//! 5. who signed in: the token's claims, UserInfo when the email is not among them (Facebook: the Graph API);
//! 6. whether that identity may sign in here ([`Flow::admitted_address`]: email, domains, Entra's domain owner);
//! 7. the session ([`Flow::session_cookie`]).

use crate::core::config::{Connector, EntraTenancy, Protocol, ResponseMode};
use crate::core::error::{
    sanitize_idp_error_code, ConfigProblem, Endpoint, ExchangeError, FlowError, IdTokenRefusal, ProfileError,
};
use crate::core::facebook;
use crate::core::flow::metadata::KeyLookupError;
use crate::core::flow::{Flow, FlowResult};
use crate::core::http::{Method, Outcome, Request, Response};
use crate::core::log::{Event, Kind, Level};
use crate::core::oidc::discovery::ProviderMetadata;
use crate::core::oidc::id_token::{IdTokenError, VerifiedIdToken};
use crate::core::oidc::issuer::{entra_domain_refusal, IssuerError};
use crate::core::oidc::token::{choose_auth_method, parse_token_response, TokenRequest, TokenResponse};
use crate::core::oidc::userinfo::{parse_userinfo, userinfo_request};
use crate::core::oidc::verifier::IdTokenVerifier;
use crate::core::policy::{relevant_groups, Access, Policy};
use crate::core::ports::Platform;
use crate::core::replay::LOGIN_SCOPE;
use crate::core::routing::parse_email;
use crate::core::secret::{constant_time_eq, Secret};
use crate::core::session::cookies::{delete_cookie, set_cookie, CookieKind, SameSite, Transport};
use crate::core::session::record::{truncate_chars, Session, MAX_EMAIL_LEN, MAX_NAME_CHARS, MAX_SID_LEN};
use crate::core::session::transaction::LoginTransaction;

/// Who the IdP says signed in, before the domain check.
struct Identity {
    sub: String,
    email: Option<String>,
    email_verified: Option<bool>,
    name: Option<String>,
    iss: String,
    sid: Option<String>,
    /// Group ids from the `groups` claim (Entra, Okta, Keycloak...), for access policies.
    groups: Vec<String>,
    /// The token names its groups by reference instead of carrying them (Entra's groups overage): `groups` is
    /// then not the user's groups.
    groups_overage: bool,
    /// Entra: the tenant that signed the user in (`tid`, checked against the connector's tenants).
    tid: Option<String>,
}

impl<P: Platform> Flow<'_, P> {
    pub(super) async fn callback(&self, req: &Request, transport: Transport) -> FlowResult {
        let tx_name = CookieKind::LoginTransaction.name(transport);
        // Whatever happens, the transaction is spent.
        let clear_tx = delete_cookie(tx_name, transport);
        let fail = |e: FlowError| (e, vec![clear_tx.clone()]);
        let param = |name: &str| -> Option<String> {
            match req.method {
                Method::Post => req.form_param(name).map(str::to_string),
                _ => req.query_param(name),
            }
        };
        // 1. The login transaction.
        let now = self.now();
        let tx = LoginTransaction::from_cookie_header(&req.cookie_header, tx_name, self.keys, now)
            .ok_or_else(|| fail(FlowError::LoginExpired))?;
        let state = param("state").unwrap_or_default();
        if !constant_time_eq(state.as_bytes(), tx.state.as_bytes()) {
            return Err(fail(FlowError::StateMismatch));
        }
        if !self.providers.spend_transaction(&tx.state, tx.expires_at, now) {
            return Err(fail(FlowError::Replayed));
        }
        let connector = self.config.connector(&tx.connector).ok_or_else(|| fail(FlowError::LoginExpired))?;
        // The response must come the way it was asked for: a form_post connector never takes the code from a
        // URL (which ends up in logs and Referer headers), and a query connector never from a form.
        let expected_method = match connector.response_mode {
            ResponseMode::Query => Method::Get,
            ResponseMode::FormPost => Method::Post,
        };
        if req.method != expected_method {
            return Err(fail(FlowError::InvalidCallback));
        }
        // Once on the whole network, before the code goes anywhere: the per-isolate memory above is only the
        // free first check (another isolate would accept the same cookie). The id is the state *and* the PKCE
        // verifier (a secret of the sealed cookie): the state alone is in the authorization URL, and an attacker
        // who could compute which object a transaction is claimed in could fill one object to its bound by
        // redeeming only the transactions that land there.
        let id = Secret::new(format!("{}.{}", tx.state, tx.pkce_verifier.expose()));
        self.claim_once(LOGIN_SCOPE, id.expose(), tx.expires_at).await.map_err(fail)?;

        // 2-5. The authorization response, the code for tokens, who signed in.
        let identity = match &connector.protocol {
            Protocol::OpenIdConnect { .. } => {
                let metadata = self.metadata(connector).await.map_err(|(e, _)| fail(e))?;
                // RFC 9207: the response names its issuer when the provider says it will; if present, it must
                // match. (Entra's template issuer cannot be matched; Entra does not send `iss` here.)
                let iss = param("iss");
                let iss_ok = match &iss {
                    Some(i) => i == &metadata.issuer,
                    None => !metadata.authorization_response_iss_parameter_supported,
                };
                if !iss_ok {
                    return Err(fail(FlowError::IssuerMismatch { expected: metadata.issuer.clone(), found: iss }));
                }
                if let Some(error) = param("error") {
                    return Err(fail(FlowError::Idp(sanitize_idp_error_code(&error))));
                }
                let code = callback_code(param("code")).map_err(fail)?;
                // 3. The code for tokens (OIDC Core §3.1.3.1-5).
                let tokens = self.exchange_code(connector, &metadata, &tx, &code).await.map_err(fail)?;
                // 4. The ID token, verified for this connector (§3.1.3.7).
                let verified = self.verify_id_token(connector, &metadata, &tx, &code, &tokens).await.map_err(fail)?;
                // 5. Who signed in: the token's claims, and UserInfo when the email is not among them (§5.3).
                self.identity_from_id_token(connector, &metadata, &verified, &tokens).await.map_err(fail)?
            }
            Protocol::Facebook { token_endpoint, graph_me_endpoint, .. } => {
                if let Some(error) = param("error") {
                    return Err(fail(FlowError::Idp(sanitize_idp_error_code(&error))));
                }
                let code = callback_code(param("code")).map_err(fail)?;
                self.facebook_identity(connector, token_endpoint, graph_me_endpoint, &tx, &code).await.map_err(fail)?
            }
        };

        // 6. May this identity sign in here (its email, the connector's domains, Entra's domain owner)?
        let address = self.admitted_address(connector, &identity).await.map_err(fail)?;
        // Groups the IdP left out: refused when a policy grants this connector's groups (the user would be
        // judged without them), otherwise signed in without groups, with a warning.
        if identity.groups_overage {
            if policies_grant_groups_of(&self.config.policies, &connector.id) {
                return Err(fail(FlowError::GroupsOverage(connector.id.clone())));
            }
            let event = Event::new(Kind::Warning, Level::Warn).connector(&connector.id).reason("groups_overage").message(
                "the ID token carries no groups, only a reference to them (groups overage); signed in without groups (no policy grants this connector's groups)",
            );
            self.platform.event(&event);
        }
        // 7. The session.
        let session_cookie = self.session_cookie(connector, identity, address, transport, now).map_err(fail)?;
        // Checked (and encoded) again: a transaction cookie sealed by an older version may hold a raw value.
        let location = crate::core::session::return_to::return_to_or_root(Some(&tx.return_to));
        Ok(Outcome::Respond(Response::redirect(location).with_cookie(clear_tx).with_cookie(session_cookie)))
    }

    /// The address the session will carry, if `identity` may sign in through `connector`: an email the IdP
    /// does not disown, at one of the connector's domains, and (Entra, "nOAuth") verified in the tenant that
    /// signed the user in.
    async fn admitted_address(&self, connector: &Connector, identity: &Identity) -> Result<String, FlowError> {
        let email = identity.email.as_deref().ok_or(FlowError::EmailMissing)?;
        if identity.email_verified == Some(false) {
            return Err(FlowError::EmailUnverified(truncate_chars(email, 320)));
        }
        let parsed = parse_email(email).map_err(IdTokenRefusal::Email)?;
        if !connector.owns_domain(&parsed.domain) {
            return Err(FlowError::EmailDomainMismatch { domain: parsed.domain, connector: connector.id.clone() });
        }
        // Entra ("nOAuth"): the address's domain must be verified in the tenant that signed the user in.
        // `consumers` connectors are not pinned: a personal account's address may be at any domain (Microsoft
        // verifies it when the account is created).
        if let Protocol::OpenIdConnect { entra: Some(entra), .. } = &connector.protocol {
            if entra.tenancy != EntraTenancy::Consumers {
                let owner = self.entra_domain_owner(&entra.authority, &parsed.domain, false).await?;
                let tid = identity.tid.as_deref().unwrap_or_default();
                if let Some(why) = entra_domain_refusal(entra, owner.as_deref(), tid) {
                    return Err(FlowError::DomainNotOwned {
                        connector: connector.id.clone(),
                        domain: parsed.domain,
                        owner,
                        why,
                    });
                }
            }
        }
        let address = parsed.address();
        if address.len() > MAX_EMAIL_LEN {
            return Err(IdTokenRefusal::EmailTooLong.into());
        }
        Ok(address)
    }

    /// The session cookie for an admitted identity, issued at `now` (the callback's start).
    fn session_cookie(
        &self,
        connector: &Connector,
        identity: Identity,
        address: String,
        transport: Transport,
        now: u64,
    ) -> Result<String, FlowError> {
        // The session must stay reachable by the IdP's logout: a sid it cannot keep is refused, not dropped.
        let sid = identity.sid.filter(|s| !s.is_empty());
        if let Some(long) = sid.as_ref().filter(|s| s.len() > MAX_SID_LEN) {
            return Err(IdTokenRefusal::SidTooLong(long.len()).into());
        }
        // Sessions are refused while the revocation list cannot be read completely (fail closed): a session
        // issued now would be refused at once, sending the visitor round the sign-in again.
        if self.providers.revocations.blocks_sessions(now) {
            return Err(FlowError::RevocationsUnavailable);
        }
        let session = Session {
            sub: identity.sub,
            email: address,
            name: identity.name.as_deref().map(|n| truncate_chars(n.trim(), MAX_NAME_CHARS)).filter(|n| !n.is_empty()),
            connector: connector.id.clone(),
            iss: identity.iss,
            iat: now,
            exp: now.saturating_add(self.config.session.lifetime_seconds),
            sid,
            renewed_at: now,
            groups: relevant_groups(&self.config.policies, &connector.id, &identity.groups),
        };
        let session_name = CookieKind::Session.name(transport);
        let (kept, sealed) =
            session.seal_within_budget(self.keys, session_name, &self.config.session, self.platform)?;
        self.log_sign_in(&kept);
        Ok(set_cookie(session_name, &sealed, self.config.session.lifetime_seconds, transport, SameSite::Lax))
    }

    fn client_secret(&self, connector: &Connector) -> Result<Secret<String>, FlowError> {
        self.platform.secret(&connector.client_secret_binding).ok_or_else(|| {
            FlowError::from(ConfigProblem::MissingSecret {
                connector: connector.id.clone(),
                binding: connector.client_secret_binding.clone(),
            })
        })
    }

    /// OpenID Connect: the authorization code for tokens at the token endpoint.
    async fn exchange_code(
        &self,
        connector: &Connector,
        metadata: &ProviderMetadata,
        tx: &LoginTransaction,
        code: &str,
    ) -> Result<TokenResponse, FlowError> {
        let secret = self.client_secret(connector)?;
        let auth_method = choose_auth_method(connector.token_endpoint_auth_method, metadata)
            .ok_or_else(|| FlowError::from(ConfigProblem::NoClientAuthMethod(connector.id.clone())))?;
        let request = TokenRequest {
            token_endpoint: &metadata.token_endpoint,
            auth_method,
            client_id: &connector.client_id,
            client_secret: &secret,
            code,
            redirect_uri: &tx.redirect_uri,
            pkce_verifier: tx.pkce_verifier.expose(),
        }
        .to_http();
        let response = self.platform.send(request).await.map_err(|e| FlowError::fetch(Endpoint::Token, e))?;
        Ok(parse_token_response(&response)?)
    }

    /// OIDC Core §3.1.3.7 for this connector: the token, the IdP's key for it, the connector's verifier.
    async fn verify_id_token(
        &self,
        connector: &Connector,
        metadata: &ProviderMetadata,
        tx: &LoginTransaction,
        code: &str,
        tokens: &TokenResponse,
    ) -> Result<VerifiedIdToken, FlowError> {
        let verifier = IdTokenVerifier::for_connector(connector, metadata)
            .with_nonce(&tx.nonce)
            .with_access_token(tokens.access_token.as_ref().map(|t| t.expose().as_str()))
            .with_code(code);
        let token = verifier.parse(tokens.id_token.expose()).map_err(id_token_refusal)?;
        let key = self.signing_key(metadata, token.jws()).await.map_err(|e| match e {
            KeyLookupError::NoKey(why) => FlowError::from(why),
            KeyLookupError::Fetch(e) => e,
        })?;
        // The time is read once the key is known (a JWKS fetch may have taken a while).
        let verifier = verifier.with_clock(self.platform, self.config.clock_leeway_seconds);
        verifier.verify(&token, &key, self.platform).await.map_err(id_token_refusal)
    }

    async fn identity_from_id_token(
        &self,
        connector: &Connector,
        metadata: &ProviderMetadata,
        verified: &VerifiedIdToken,
        tokens: &TokenResponse,
    ) -> Result<Identity, FlowError> {
        let claims = verified.claims();
        let (email, name) = match &connector.protocol {
            Protocol::OpenIdConnect { entra: Some(_), .. } => {
                // Entra: `email` if present, else the sign-in name (`preferred_username`, `upn`) when it is an
                // email address. The domain check below applies to whichever was used.
                let email = [claims.email.as_deref(), claims.preferred_username.as_deref(), claims.upn.as_deref()]
                    .into_iter()
                    .flatten()
                    .find(|v| parse_email(v).is_ok())
                    .map(str::to_string);
                // `xms_edov` ("email domain owner verified", an optional claim): `false` means Entra does not
                // vouch that the `email` claim's domain belongs to the user's tenant. Such an address is refused
                // (not replaced by the sign-in name: the user asserted it).
                if email.is_some() && email.as_deref() == claims.email.as_deref() && xms_edov_false(verified) {
                    return Err(FlowError::EmailUnverified(truncate_chars(email.as_deref().unwrap_or_default(), 320)));
                }
                (email, claims.name.clone())
            }
            Protocol::OpenIdConnect { claims: mapping, .. } => (
                verified.string_claim(&mapping.email).map(str::to_string),
                verified.string_claim(&mapping.name).map(str::to_string),
            ),
            Protocol::Facebook { .. } => (None, None),
        };
        let mut identity = Identity {
            sub: claims.sub.clone(),
            email,
            // The IdP saying the user's email is not verified refuses the sign-in, whichever claim carries the
            // address (conservative: a renamed email claim does not make the flag irrelevant).
            email_verified: claims.email_verified.map(|v| v.0),
            name,
            iss: claims.iss.clone(),
            sid: claims.sid.clone(),
            groups: match verified.claim("groups") {
                Some(serde_json::Value::Array(items)) => {
                    items.iter().take(1000).filter_map(|g| g.as_str()).map(str::to_string).collect()
                }
                _ => vec![],
            },
            groups_overage: groups_overage(verified),
            tid: claims.tid.clone(),
        };
        // No email in the ID token: ask UserInfo (OIDC Core §5.3), whose sub must be the token's.
        if identity.email.is_none() {
            if let (Some(endpoint), Some(access_token)) = (&metadata.userinfo_endpoint, &tokens.access_token) {
                let response = self
                    .platform
                    .send(userinfo_request(endpoint, access_token.expose()))
                    .await
                    .map_err(|e| FlowError::fetch(Endpoint::UserInfo, e))?;
                let info = parse_userinfo(&response, &identity.sub)?;
                // The connector's claim mapping applies to UserInfo too.
                identity.email = match &connector.protocol {
                    Protocol::OpenIdConnect { claims: mapping, entra: None, .. } if mapping.email != "email" => {
                        info.string_claim(&mapping.email).map(str::to_string)
                    }
                    _ => info.email.clone(),
                };
                // Any "not verified", from the ID token or from UserInfo, stands.
                identity.email_verified = match (identity.email_verified, info.email_verified.map(|v| v.0)) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (from_token, from_userinfo) => from_userinfo.or(from_token),
                };
                // Entra: `xms_edov: false` disowns the email attribute, which UserInfo's `email` is too.
                if matches!(connector.protocol, Protocol::OpenIdConnect { entra: Some(_), .. })
                    && xms_edov_false(verified)
                {
                    identity.email_verified = Some(false);
                }
                if identity.name.is_none() {
                    identity.name = info.name;
                }
            }
        }
        Ok(identity)
    }

    /// Facebook: code -> access token -> Graph API `/me` (with `appsecret_proof`).
    async fn facebook_identity(
        &self,
        connector: &Connector,
        token_endpoint: &str,
        graph_me_endpoint: &str,
        tx: &LoginTransaction,
        code: &str,
    ) -> Result<Identity, FlowError> {
        let secret = self.client_secret(connector)?;
        let request = facebook::FacebookTokenRequest {
            token_endpoint,
            app_id: &connector.client_id,
            app_secret: &secret,
            code,
            redirect_uri: &tx.redirect_uri,
            pkce_verifier: tx.pkce_verifier.expose(),
        }
        .to_http();
        let response = self.platform.send(request).await.map_err(|e| FlowError::fetch(Endpoint::FacebookToken, e))?;
        let access_token = facebook::parse_token_response(&response).map_err(ExchangeError::Facebook)?;
        let response = self
            .platform
            .send(facebook::me_request(graph_me_endpoint, &access_token, &secret))
            .await
            .map_err(|e| FlowError::fetch(Endpoint::FacebookGraph, e))?;
        let user = facebook::parse_me_response(&response).map_err(ProfileError::Facebook)?;
        Ok(Identity {
            sub: user.id,
            email: user.email,
            // Facebook returns only confirmed addresses.
            email_verified: None,
            name: user.name,
            iss: connector.issuer.clone(),
            sid: None,
            groups: vec![],
            groups_overage: false,
            tid: None,
        })
    }
}

/// Whether the ID token says `xms_edov: false` (a boolean, or the string `"false"` as some Entra versions
/// send optional claims).
fn xms_edov_false(verified: &VerifiedIdToken) -> bool {
    match verified.claim("xms_edov") {
        Some(serde_json::Value::Bool(v)) => !v,
        Some(serde_json::Value::String(v)) => v.eq_ignore_ascii_case("false"),
        _ => false,
    }
}

/// Whether the ID token names its groups without carrying them: a distributed `groups` claim (OIDC Core §5.6.2,
/// `_claim_names` holding `groups`: Entra beyond 200 groups, pointing at Microsoft Graph, which edge-auth does
/// not call), or Entra's `hasgroups: true` (beyond 6 groups in a token of the implicit flow).
fn groups_overage(verified: &VerifiedIdToken) -> bool {
    let by_reference = matches!(verified.claim("_claim_names"),
        Some(serde_json::Value::Object(names)) if names.contains_key("groups"));
    let has_groups = match verified.claim("hasgroups") {
        Some(serde_json::Value::Bool(v)) => *v,
        Some(serde_json::Value::String(v)) => v.eq_ignore_ascii_case("true"),
        _ => false,
    };
    by_reference || has_groups
}

/// Whether some access policy grants groups of `connector` (grants are qualified `connector:group` at load).
fn policies_grant_groups_of(policies: &[Policy], connector: &str) -> bool {
    policies.iter().any(|p| {
        matches!(&p.access, Access::Restricted { groups, .. }
            if groups.iter().any(|g| g.split_once(':').is_some_and(|(c, _)| c == connector)))
    })
}

fn callback_code(code: Option<String>) -> Result<String, FlowError> {
    code.filter(|c| !c.is_empty() && c.len() <= 4096).ok_or(FlowError::InvalidCallback)
}

/// The flow's error for an ID token the connector's verifier refuses (the tenant and hosted-domain refusals
/// have pages of their own).
fn id_token_refusal(e: IdTokenError) -> FlowError {
    match e {
        IdTokenError::Issuer(IssuerError::TenantNotAllowed(tid)) => {
            FlowError::TenantNotAllowed(truncate_chars(&tid, 64))
        }
        IdTokenError::HostedDomainMismatch(hd) => {
            FlowError::HostedDomainMismatch(truncate_chars(hd.as_deref().unwrap_or("(none)"), 64))
        }
        e => e.into(),
    }
}
