//! `GET /auth/login`: the login page, or — with `?email=` / `?connector=` — the authorization request.

use crate::core::config::{AnyConnector, Connector, Protocol, ResponseMode};
use crate::core::error::{ConfigProblem, FlowError};
use crate::core::flow::{Flow, FlowResult};
use crate::core::http::{Outcome, Request, Response};
use crate::core::oidc::authorize::AuthorizationRequest;
use crate::core::ports::Platform;
use crate::core::routing::parse_email;
use crate::core::secret::Secret;
use crate::core::session::cookies::{set_cookie, CookieKind, SameSite, Transport};
use crate::core::session::record::truncate_chars;
use crate::core::session::return_to::return_to_or_root;
use crate::core::session::transaction::{LoginTransaction, LOGIN_TRANSACTION_TTL_SECONDS};

impl<P: Platform> Flow<'_, P> {
    pub(super) async fn login(&self, req: &Request, transport: Transport) -> FlowResult {
        let email = req.query_param("email");
        let connector_id = req.query_param("connector");
        let (connector, email) = match (email, connector_id) {
            (Some(email), _) if !email.trim().is_empty() => {
                let parsed = parse_email(&email).map_err(FlowError::InvalidEmail)?;
                let connector = self
                    .config
                    .connector_owning(&parsed.domain)
                    .ok_or_else(|| FlowError::UnknownDomain(parsed.domain.clone()))?;
                (connector, Some(parsed))
            }
            (_, Some(id)) if !id.is_empty() => {
                let connector = (self.config.any_connector(&id))
                    .ok_or_else(|| FlowError::UnknownConnector(truncate_chars(&id, 64)))?;
                (connector, None)
            }
            _ => {
                let pages = self.pages(req);
                return Ok(Outcome::Respond(pages.script_response(200, pages.login())));
            }
        };
        let connector = match connector {
            AnyConnector::OAuth(connector) => connector,
            #[cfg(feature = "saml")]
            AnyConnector::Saml(connector) => {
                let return_to = req.query_param("return_to").unwrap_or_default();
                return match connector.protocol {
                    crate::core::config::XmlProtocol::Saml2 => {
                        self.saml_login(connector, req, transport, &return_to).await
                    }
                    crate::core::config::XmlProtocol::WsFederation => {
                        self.wsfed_login(connector, req, transport, &return_to).await
                    }
                };
            }
            // The build without SAML refuses SAML connectors when it loads the configuration.
            #[cfg(not(feature = "saml"))]
            AnyConnector::Saml(_) => return Err(FlowError::NotFound.into()),
        };
        let tx = LoginTransaction {
            connector: connector.id.clone(),
            state: self.random_token()?,
            nonce: self.random_token()?,
            pkce_verifier: Secret::new(self.random_token()?),
            return_to: return_to_or_root(req.query_param("return_to").as_deref()),
            redirect_uri: super::site_uris::redirect_uri(&req.origin()),
            expires_at: self.now().saturating_add(LOGIN_TRANSACTION_TTL_SECONDS),
        };
        let login_hint = email.as_ref().map(|e| e.address());
        let mut extra_params: Vec<(&'static str, String)> = Vec::new();
        if let Some(prompt) = connector.prompt {
            extra_params.push(("prompt", prompt.as_str().to_string()));
        }
        if let Some(max_age) = connector.max_age {
            extra_params.push(("max_age", max_age.to_string()));
        }
        if connector.response_mode == ResponseMode::FormPost {
            extra_params.push(("response_mode", "form_post".to_string()));
        }
        let (authorization_endpoint, scope_override) = match &connector.protocol {
            Protocol::OpenIdConnect { hosted_domains, entra, .. } => {
                if entra.is_some() {
                    if let Some(e) = &email {
                        extra_params.push(("domain_hint", e.domain.clone()));
                    }
                }
                match hosted_domains.as_slice() {
                    [] => {}
                    [one] => extra_params.push(("hd", one.clone())),
                    // Several Workspace domains: ask for any Workspace account; the hd claim is enforced.
                    _ => extra_params.push(("hd", "*".to_string())),
                }
                let metadata = self.metadata(connector).await?;
                (metadata.authorization_endpoint.clone(), None)
            }
            Protocol::Facebook { authorization_endpoint, .. } => {
                (authorization_endpoint.clone(), Some("email public_profile"))
            }
        };
        let url = AuthorizationRequest {
            authorization_endpoint: &authorization_endpoint,
            client_id: &connector.client_id,
            redirect_uri: &tx.redirect_uri,
            extra_scopes: &connector.extra_scopes,
            state: &tx.state,
            nonce: &tx.nonce,
            pkce_verifier: tx.pkce_verifier.expose(),
            login_hint: login_hint.as_deref(),
            extra_params: &extra_params,
            scope_override,
        }
        .url()
        .map_err(|error| ConfigProblem::BadEndpoint {
            connector: connector.id.clone(),
            field: "authorization_endpoint",
            error,
        })
        .map_err(FlowError::from)?;
        let name = CookieKind::LoginTransaction.name(transport);
        let cookie = set_cookie(
            name,
            &tx.seal(self.keys, name),
            LOGIN_TRANSACTION_TTL_SECONDS,
            transport,
            transaction_same_site(connector),
        );
        Ok(Outcome::Respond(Response::redirect(url).with_cookie(cookie)))
    }
}

/// The transaction cookie must come back with the IdP's answer: a top-level GET (query mode) carries
/// `SameSite=Lax` cookies, a cross-site form POST (`form_post`) only `SameSite=None; Secure` ones. Only this
/// one short-lived cookie is relaxed; the session stays `Lax`.
fn transaction_same_site(connector: &Connector) -> SameSite {
    match connector.response_mode {
        ResponseMode::Query => SameSite::Lax,
        ResponseMode::FormPost => SameSite::NoneSecure,
    }
}
