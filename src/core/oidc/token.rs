//! The token request (OIDC Core §3.1.3.1) and response (§3.1.3.3 / RFC 6749 §5.2).

use base64::Engine;
use thiserror::Error;
use url::form_urlencoded;

use crate::core::config::connector::TokenEndpointAuthMethod;
use crate::core::fetch::{CachePolicy, HttpRequest, HttpResponse};
use crate::core::oidc::discovery::ProviderMetadata;
use crate::core::secret::Secret;

pub const MAX_TOKEN_RESPONSE_BYTES: usize = 128 * 1024;

/// Pick the client authentication: the configured one, else the first we support that the provider lists
/// (basic preferred).
pub fn choose_auth_method(
    configured: Option<TokenEndpointAuthMethod>,
    metadata: &ProviderMetadata,
) -> Option<TokenEndpointAuthMethod> {
    if configured.is_some() {
        return configured;
    }
    let supported = &metadata.token_endpoint_auth_methods_supported;
    [TokenEndpointAuthMethod::ClientSecretBasic, TokenEndpointAuthMethod::ClientSecretPost]
        .into_iter()
        .find(|m| supported.iter().any(|s| s == m.as_str()))
}

pub struct TokenRequest<'a> {
    pub token_endpoint: &'a str,
    pub auth_method: TokenEndpointAuthMethod,
    pub client_id: &'a str,
    pub client_secret: &'a Secret<String>,
    pub code: &'a str,
    pub redirect_uri: &'a str,
    pub pkce_verifier: &'a str,
}

impl TokenRequest<'_> {
    pub fn to_http(&self) -> HttpRequest {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "authorization_code")
            .append_pair("code", self.code)
            .append_pair("redirect_uri", self.redirect_uri)
            .append_pair("code_verifier", self.pkce_verifier);
        let mut headers = vec![
            ("content-type", "application/x-www-form-urlencoded".to_string()),
            ("accept", "application/json".to_string()),
        ];
        match self.auth_method {
            TokenEndpointAuthMethod::ClientSecretBasic => {
                // RFC 6749 §2.3.1: both parts form-urlencoded before base64.
                let user: String = form_urlencoded::byte_serialize(self.client_id.as_bytes()).collect();
                let pass: String = form_urlencoded::byte_serialize(self.client_secret.expose().as_bytes()).collect();
                let creds = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
                headers.push(("authorization", format!("Basic {creds}")));
            }
            TokenEndpointAuthMethod::ClientSecretPost => {
                form.append_pair("client_id", self.client_id).append_pair("client_secret", self.client_secret.expose());
            }
        }
        HttpRequest {
            method: "POST",
            url: self.token_endpoint.to_string(),
            headers,
            body: Some(form.finish()),
            cache: CachePolicy::Never,
        }
    }
}

/// A successful token response. Tokens are secrets: no `Debug` of their content.
pub struct TokenResponse {
    pub id_token: Secret<String>,
    pub access_token: Option<Secret<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The IdP answered with an OAuth error (`invalid_grant`, `invalid_client`, ...).
    #[error("the token endpoint refused the code: {error} (HTTP {status})")]
    Refused { status: u16, error: String },
    #[error("the token endpoint answered HTTP {0} without an OAuth error")]
    HttpStatus(u16),
    #[error("the token response is malformed: {0}")]
    Malformed(String),
    #[error("the token response has no id_token")]
    NoIdToken,
    #[error("the token response has token_type {0:?}, not Bearer")]
    NotBearer(String),
}

pub fn parse_token_response(response: &HttpResponse) -> Result<TokenResponse, TokenError> {
    if response.body.len() > MAX_TOKEN_RESPONSE_BYTES {
        return Err(TokenError::Malformed("the response is too large".into()));
    }
    if response.status != 200 {
        let error = crate::core::json::parse_object(&response.body)
            .ok()
            .and_then(|e| crate::core::json::Members(&e).string("error").ok().map(str::to_string));
        return match error {
            Some(error) => Err(TokenError::Refused {
                status: response.status,
                // Only the registered-looking error code is kept; descriptions are logged by nobody.
                error: error.chars().filter(|c| c.is_ascii_graphic()).take(64).collect(),
            }),
            None => Err(TokenError::HttpStatus(response.status)),
        };
    }
    let document = crate::core::json::parse_object(&response.body).map_err(TokenError::Malformed)?;
    let raw = crate::core::json::Members(&document);
    let id_token = raw.opt_string("id_token").map_err(TokenError::Malformed)?;
    let access_token = raw.opt_string("access_token").map_err(TokenError::Malformed)?;
    if let Some(t) = raw.opt_string("token_type").map_err(TokenError::Malformed)? {
        if !t.eq_ignore_ascii_case("bearer") && !t.eq_ignore_ascii_case("dpop") {
            return Err(TokenError::NotBearer(t.chars().take(32).collect()));
        }
    }
    let id_token = id_token.filter(|t| !t.is_empty()).ok_or(TokenError::NoIdToken)?;
    Ok(TokenResponse {
        id_token: Secret::new(id_token.to_string()),
        access_token: access_token.map(|t| Secret::new(t.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::oidc::discovery::parse_provider_metadata;

    fn secret() -> Secret<String> {
        Secret::new("s&cr=t".to_string())
    }

    fn req(method: TokenEndpointAuthMethod, secret: &Secret<String>) -> HttpRequest {
        TokenRequest {
            token_endpoint: "https://idp.example/token",
            auth_method: method,
            client_id: "edge client",
            client_secret: secret,
            code: "c0de",
            redirect_uri: "https://site.example/auth/callback",
            pkce_verifier: "v",
        }
        .to_http()
    }

    #[test]
    fn client_secret_basic() {
        let s = secret();
        let r = req(TokenEndpointAuthMethod::ClientSecretBasic, &s);
        let auth = &r.headers.iter().find(|(k, _)| *k == "authorization").unwrap().1;
        let decoded = base64::engine::general_purpose::STANDARD.decode(auth.strip_prefix("Basic ").unwrap()).unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), "edge+client:s%26cr%3Dt");
        let body = r.body.unwrap();
        assert!(!body.contains("client_secret"));
        assert!(body.contains("grant_type=authorization_code"));
        assert!(body.contains("code_verifier=v"));
    }

    #[test]
    fn client_secret_post() {
        let s = secret();
        let r = req(TokenEndpointAuthMethod::ClientSecretPost, &s);
        assert!(!r.headers.iter().any(|(k, _)| *k == "authorization"));
        let body = r.body.unwrap();
        assert!(body.contains("client_id=edge+client"));
        assert!(body.contains("client_secret=s%26cr%3Dt"));
    }

    #[test]
    fn token_requests_are_never_cached() {
        let s = secret();
        for m in [TokenEndpointAuthMethod::ClientSecretBasic, TokenEndpointAuthMethod::ClientSecretPost] {
            let r = req(m, &s);
            assert_eq!(r.cache, CachePolicy::Never);
            assert!(!r.may_read_shared_cache() && !r.may_store_in_shared_cache());
        }
    }

    #[test]
    fn auth_method_choice() {
        let doc = |methods: &str| {
            parse_provider_metadata(
                "https://i.example",
                format!(r#"{{"issuer":"https://i.example","authorization_endpoint":"https://i.example/a","token_endpoint":"https://i.example/t","jwks_uri":"https://i.example/k"{methods}}}"#).as_bytes(),
            )
            .unwrap()
        };
        assert_eq!(choose_auth_method(None, &doc("")), Some(TokenEndpointAuthMethod::ClientSecretBasic));
        assert_eq!(
            choose_auth_method(
                None,
                &doc(r#","token_endpoint_auth_methods_supported":["private_key_jwt","client_secret_post"]"#)
            ),
            Some(TokenEndpointAuthMethod::ClientSecretPost)
        );
        assert_eq!(
            choose_auth_method(None, &doc(r#","token_endpoint_auth_methods_supported":["private_key_jwt"]"#)),
            None
        );
        assert_eq!(
            choose_auth_method(Some(TokenEndpointAuthMethod::ClientSecretPost), &doc("")),
            Some(TokenEndpointAuthMethod::ClientSecretPost)
        );
    }

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(status, body.as_bytes().to_vec())
    }

    #[test]
    fn parses_responses() {
        let ok = parse_token_response(&resp(200, r#"{"id_token":"a.b.c","access_token":"at","token_type":"Bearer"}"#))
            .unwrap();
        assert_eq!(ok.id_token.expose(), "a.b.c");
        assert_eq!(ok.access_token.unwrap().expose(), "at");
        assert_eq!(
            parse_token_response(&resp(400, r#"{"error":"invalid_grant","error_description":"<script>"}"#)).err(),
            Some(TokenError::Refused { status: 400, error: "invalid_grant".into() })
        );
        assert_eq!(parse_token_response(&resp(500, "oops")).err(), Some(TokenError::HttpStatus(500)));
        assert_eq!(parse_token_response(&resp(200, r#"{"access_token":"at"}"#)).err(), Some(TokenError::NoIdToken));
        assert!(matches!(parse_token_response(&resp(200, "not json")).err(), Some(TokenError::Malformed(_))));
        assert!(matches!(
            parse_token_response(&resp(200, r#"{"id_token":"x","token_type":"mac"}"#)).err(),
            Some(TokenError::NotBearer(_))
        ));
    }
}
