//! `GET|POST /auth/callback`: the authorization response. Checks the login transaction (this browser,
//! unexpired, unused, same `state`), the IdP's `iss` (RFC 9207) and `error`, exchanges the code, establishes
//! who the user is (ID token, UserInfo, or Facebook's Graph API), checks the email against the connector's
//! domains, and issues the session.

use crate::core::config::{Connector, EntraSettings, EntraTenancy, Protocol, ResponseMode, ENTRA_CONSUMERS_TENANT_ID};
use crate::core::error::{sanitize_idp_error_code, FlowError};
use crate::core::facebook;
use crate::core::flow::providers::entra_tenant_of_issuer;
use crate::core::flow::{Flow, FlowResult};
use crate::core::http::{Method, Outcome, Request, Response};
use crate::core::oidc::discovery::ProviderMetadata;
use crate::core::oidc::id_token::{self, Expectations, VerifiedIdToken};
use crate::core::oidc::jwks::{select_key, Jwk, KeySelection};
use crate::core::oidc::jws::UntrustedJws;
use crate::core::oidc::token::{choose_auth_method, parse_token_response, TokenRequest, TokenResponse};
use crate::core::oidc::userinfo::{parse_userinfo, userinfo_request};
use crate::core::policy::relevant_groups;
use crate::core::ports::Platform;
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
                self.oidc_identity(connector, &metadata, &tx, &code).await.map_err(fail)?
            }
            Protocol::Facebook { token_endpoint, graph_me_endpoint, .. } => {
                if let Some(error) = param("error") {
                    return Err(fail(FlowError::Idp(sanitize_idp_error_code(&error))));
                }
                let code = callback_code(param("code")).map_err(fail)?;
                self.facebook_identity(connector, token_endpoint, graph_me_endpoint, &tx, &code).await.map_err(fail)?
            }
        };

        let email = identity.email.ok_or_else(|| fail(FlowError::EmailMissing))?;
        if identity.email_verified == Some(false) {
            return Err(fail(FlowError::EmailUnverified(truncate_chars(&email, 320))));
        }
        let parsed = parse_email(&email).map_err(|e| fail(FlowError::IdToken(format!("email claim: {e}"))))?;
        if !connector.owns_domain(&parsed.domain) {
            return Err(fail(FlowError::EmailDomainMismatch {
                domain: parsed.domain,
                connector: connector.id.clone(),
            }));
        }
        // Entra ("nOAuth"): the address's domain must be verified in the tenant that signed the user in.
        // `consumers` connectors are not pinned: a personal account's address may be at any domain (Microsoft
        // verifies it when the account is created).
        if let Protocol::OpenIdConnect { entra: Some(entra), .. } = &connector.protocol {
            if entra.tenancy != EntraTenancy::Consumers {
                let owner = self.entra_domain_owner(&entra.authority, &parsed.domain, false).await.map_err(fail)?;
                let tid = identity.tid.as_deref().unwrap_or_default();
                if let Some(why) = entra_domain_refusal(entra, owner.as_deref(), tid) {
                    let (of, owner) = owner.as_deref().map_or(("no tenant", ""), |t| ("tenant ", t));
                    return Err(fail(FlowError::DomainNotOwned(format!(
                        "connector {:?}: {} is verified in {of}{owner}: {why}",
                        connector.id, parsed.domain
                    ))));
                }
            }
        }
        let address = parsed.address();
        if address.len() > MAX_EMAIL_LEN {
            return Err(fail(FlowError::IdToken("email claim too long".into())));
        }
        // The session must stay reachable by the IdP's logout: a sid it cannot keep is refused, not dropped.
        let sid = identity.sid.filter(|s| !s.is_empty());
        if let Some(long) = sid.as_ref().filter(|s| s.len() > MAX_SID_LEN) {
            return Err(fail(FlowError::IdToken(format!(
                "the sid claim is {} bytes, over {MAX_SID_LEN}: logout could not reach this session",
                long.len()
            ))));
        }
        // Sessions are refused while the revocation list cannot be read completely (fail closed): a session
        // issued now would be refused at once, sending the visitor round the sign-in again.
        if self.providers.revocations.blocks_sessions(now) {
            return Err(fail(FlowError::Config("the revocation list is unreadable: sign-ins are refused".into())));
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
        let (_, sealed) = session
            .seal_within_budget(self.keys, session_name, &self.config.session, self.platform)
            .ok_or_else(|| {
                fail(FlowError::IdToken("the identity (with its session id) is too large for a session cookie".into()))
            })?;
        let session_cookie =
            set_cookie(session_name, &sealed, self.config.session.lifetime_seconds, transport, SameSite::Lax);
        // Checked (and encoded) again: a transaction cookie sealed by an older version may hold a raw value.
        let location = crate::core::session::return_to::return_to_or_root(Some(&tx.return_to));
        Ok(Outcome::Respond(Response::redirect(location).with_cookie(clear_tx).with_cookie(session_cookie)))
    }

    fn client_secret(&self, connector: &Connector) -> Result<Secret<String>, FlowError> {
        self.platform.secret(&connector.client_secret_binding).ok_or_else(|| {
            FlowError::Config(format!(
                "connector {:?}: the secret {:?} named by client_secret_binding is not set",
                connector.id, connector.client_secret_binding
            ))
        })
    }

    /// OpenID Connect: code -> tokens -> verified ID token (-> UserInfo when the email is not in it).
    async fn oidc_identity(
        &self,
        connector: &Connector,
        metadata: &ProviderMetadata,
        tx: &LoginTransaction,
        code: &str,
    ) -> Result<Identity, FlowError> {
        let secret = self.client_secret(connector)?;
        let auth_method = choose_auth_method(connector.token_endpoint_auth_method, metadata).ok_or_else(|| {
            FlowError::Config(format!(
                "connector {:?}: the provider supports neither client_secret_basic nor client_secret_post",
                connector.id
            ))
        })?;
        let request = TokenRequest {
            token_endpoint: &metadata.token_endpoint,
            auth_method,
            client_id: &connector.client_id,
            client_secret: &secret,
            code,
            redirect_uri: &tx.redirect_uri,
            pkce_verifier: &tx.pkce_verifier,
        }
        .to_http();
        let response =
            self.platform.send(request).await.map_err(|e| FlowError::IdpUnreachable(format!("token endpoint: {e}")))?;
        let tokens = parse_token_response(&response).map_err(|e| FlowError::TokenExchange(e.to_string()))?;
        let verified = self.verify_id_token(connector, metadata, tx, code, &tokens).await?;
        self.identity_from_id_token(connector, metadata, &verified, &tokens).await
    }

    async fn verify_id_token(
        &self,
        connector: &Connector,
        metadata: &ProviderMetadata,
        tx: &LoginTransaction,
        code: &str,
        tokens: &TokenResponse,
    ) -> Result<VerifiedIdToken, FlowError> {
        let jws = UntrustedJws::parse(tokens.id_token.expose()).map_err(|e| FlowError::IdToken(e.to_string()))?;
        let expected_issuer = self.expected_token_issuer(connector, metadata, &jws)?;
        let (jwks, just_fetched) = self.jwks(metadata, false).await?;
        let key: Jwk = match select_key(&jwks, jws.alg(), jws.kid()) {
            // The provider may have rotated its keys: refetch once (rate-limited, coalesced), then decide.
            // A set this request has just fetched is already the newest.
            KeySelection::UnknownKid if !just_fetched => {
                let (refreshed, _) = self.jwks(metadata, true).await?;
                pick(select_key(&refreshed, jws.alg(), jws.kid()))?.clone()
            }
            other => pick(other)?.clone(),
        };
        let expect = Expectations {
            issuer: &expected_issuer,
            client_id: &connector.client_id,
            nonce: &tx.nonce,
            now: self.now(),
            leeway: self.config.clock_leeway_seconds,
            access_token: tokens.access_token.as_ref().map(|t| t.expose().as_str()),
            code: Some(code),
        };
        let verified = id_token::verify(&jws, &key, self.platform, &expect)
            .await
            .map_err(|e| FlowError::IdToken(e.to_string()))?;
        let claims = verified.claims();
        // Entra: the tenant that signed in must be one this connector accepts.
        if let Protocol::OpenIdConnect { entra: Some(entra), .. } = &connector.protocol {
            let tid = claims.tid.as_deref().unwrap_or_default();
            let allowed = match &entra.tenancy {
                EntraTenancy::Multi { allowed_tenants } => allowed_tenants.iter().any(|t| t == tid),
                EntraTenancy::Consumers => tid == ENTRA_CONSUMERS_TENANT_ID,
                EntraTenancy::Single { allowed_tenants, .. } => {
                    entra_tenant_of_issuer(&entra.authority, &metadata.issuer) == Some(tid)
                        && (allowed_tenants.is_empty() || allowed_tenants.iter().any(|t| t == tid))
                }
            };
            if !allowed {
                return Err(FlowError::TenantNotAllowed(truncate_chars(tid, 64)));
            }
        }
        // max_age was requested: auth_time is required and must be recent enough (OIDC Core §3.1.2.1).
        if let Some(max_age) = connector.max_age {
            let auth_time =
                claims.auth_time.ok_or_else(|| FlowError::IdToken("max_age requested but no auth_time".into()))?;
            if self.now().saturating_sub(auth_time.0) > max_age.saturating_add(self.config.clock_leeway_seconds) {
                return Err(FlowError::IdToken(format!("auth_time {} is older than max_age {max_age}", auth_time.0)));
            }
        }
        // Google Workspace: the hd claim, not the request parameter, proves the hosted domain.
        if let Protocol::OpenIdConnect { hosted_domains, .. } = &connector.protocol {
            if !hosted_domains.is_empty() {
                let hd = claims.hd.as_deref().and_then(crate::core::routing::normalize_domain);
                if !hd.as_ref().is_some_and(|hd| hosted_domains.contains(hd)) {
                    return Err(FlowError::HostedDomainMismatch(truncate_chars(
                        claims.hd.as_deref().unwrap_or("(none)"),
                        64,
                    )));
                }
            }
        }
        Ok(verified)
    }

    /// The exact `iss` the token must carry. For Entra multi-tenant authorities the discovered issuer is a
    /// `{tenantid}` template, resolved with the token's `tid` (read before verification only to build this
    /// expectation; the verified token must then match it exactly and its `tid` is checked again after).
    fn expected_token_issuer(
        &self,
        connector: &Connector,
        metadata: &ProviderMetadata,
        jws: &UntrustedJws,
    ) -> Result<String, FlowError> {
        match &connector.protocol {
            Protocol::OpenIdConnect { entra: Some(entra), .. } => match &entra.tenancy {
                EntraTenancy::Multi { allowed_tenants } => {
                    let tid =
                        jws.unverified_string_claim("tid").ok_or_else(|| FlowError::IdToken("no tid claim".into()))?;
                    if !allowed_tenants.contains(&tid) {
                        return Err(FlowError::TenantNotAllowed(truncate_chars(&tid, 64)));
                    }
                    Ok(metadata.issuer.replace("{tenantid}", &tid))
                }
                EntraTenancy::Consumers | EntraTenancy::Single { .. } => Ok(metadata.issuer.clone()),
            },
            Protocol::OpenIdConnect { .. } if connector.kind == crate::core::config::ConnectorKind::Google => {
                // Google documents both `https://accounts.google.com` and `accounts.google.com` as iss.
                let bare = metadata.issuer.strip_prefix("https://").unwrap_or(&metadata.issuer);
                match jws.unverified_string_claim("iss") {
                    Some(iss) if iss == bare => Ok(bare.to_string()),
                    _ => Ok(metadata.issuer.clone()),
                }
            }
            _ => Ok(metadata.issuer.clone()),
        }
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
            tid: claims.tid.clone(),
        };
        // No email in the ID token: ask UserInfo (OIDC Core §5.3), whose sub must be the token's.
        if identity.email.is_none() {
            if let (Some(endpoint), Some(access_token)) = (&metadata.userinfo_endpoint, &tokens.access_token) {
                let response = self
                    .platform
                    .send(userinfo_request(endpoint, access_token.expose()))
                    .await
                    .map_err(|e| FlowError::IdpUnreachable(format!("userinfo: {e}")))?;
                let info = parse_userinfo(&response, &identity.sub).map_err(|e| FlowError::UserInfo(e.to_string()))?;
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
            pkce_verifier: &tx.pkce_verifier,
        }
        .to_http();
        let response = self
            .platform
            .send(request)
            .await
            .map_err(|e| FlowError::IdpUnreachable(format!("facebook token endpoint: {e}")))?;
        let access_token =
            facebook::parse_token_response(&response).map_err(|e| FlowError::TokenExchange(e.to_string()))?;
        let response = self
            .platform
            .send(facebook::me_request(graph_me_endpoint, &access_token, &secret))
            .await
            .map_err(|e| FlowError::IdpUnreachable(format!("facebook graph api: {e}")))?;
        let user = facebook::parse_me_response(&response).map_err(|e| FlowError::UserInfo(e.to_string()))?;
        Ok(Identity {
            sub: user.id,
            email: user.email,
            // Facebook returns only confirmed addresses.
            email_verified: None,
            name: user.name,
            iss: connector.issuer.clone(),
            sid: None,
            groups: vec![],
            tid: None,
        })
    }
}

/// Entra ("nOAuth"): why the tenant `tid` may not sign in addresses of a domain whose owner (from Entra's
/// discovery for the domain) is `owner`, or `None` when it may. Only the tenant where a domain is verified signs
/// in its addresses, whichever claim supplied them: otherwise any accepted tenant could give a user another
/// tenant's address. An owner the connector's pins (`tenant`, `allowed_tenants`) leave out is a configuration
/// error (edge-auth-check reports it).
fn entra_domain_refusal(entra: &EntraSettings, owner: Option<&str>, tid: &str) -> Option<&'static str> {
    let Some(owner) = owner else { return Some("no tenant, so its addresses are refused") };
    let pinned = match &entra.tenancy {
        EntraTenancy::Multi { allowed_tenants } => allowed_tenants.iter().any(|t| t == owner),
        EntraTenancy::Single { tenant, allowed_tenants } => {
            (!crate::core::config::is_guid(tenant) || tenant == owner)
                && (allowed_tenants.is_empty() || allowed_tenants.iter().any(|t| t == owner))
        }
        EntraTenancy::Consumers => true,
    };
    if !pinned {
        return Some("configuration error: a tenant the connector does not accept");
    }
    (owner != tid).then_some("not the tenant that signed in")
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

fn callback_code(code: Option<String>) -> Result<String, FlowError> {
    code.filter(|c| !c.is_empty() && c.len() <= 4096).ok_or(FlowError::InvalidCallback)
}

fn pick(selection: KeySelection<'_>) -> Result<&Jwk, FlowError> {
    match selection {
        KeySelection::Found(k) => Ok(k),
        KeySelection::UnknownKid => {
            Err(FlowError::IdToken("no key with the token's kid, even after a JWKS refetch".into()))
        }
        KeySelection::Ambiguous => {
            Err(FlowError::IdToken("the token has no kid and several keys could verify it".into()))
        }
        KeySelection::NoSuitableKey => Err(FlowError::IdToken("no key in the JWKS fits the token's algorithm".into())),
    }
}
