//! The authorization request (OIDC Core §3.1.2.1) with PKCE S256 (RFC 7636), `state`, `nonce` and hints.

use sha2::{Digest, Sha256};

use crate::core::b64;

pub struct AuthorizationRequest<'a> {
    pub authorization_endpoint: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    /// Extra scopes after `openid profile email`.
    pub extra_scopes: &'a [String],
    pub state: &'a str,
    pub nonce: &'a str,
    pub pkce_verifier: &'a str,
    pub login_hint: Option<&'a str>,
    /// Further parameters: `prompt`, `max_age`, `response_mode`, `domain_hint` (Entra), `hd` (Google).
    pub extra_params: &'a [(&'static str, String)],
    /// Facebook takes comma-less OAuth scopes without `openid`; `None` = the OIDC default.
    pub scope_override: Option<&'a str>,
}

/// The S256 code challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    b64::encode(Sha256::digest(verifier.as_bytes()))
}

impl AuthorizationRequest<'_> {
    /// The URL to redirect the browser to. Query parameters already in the endpoint are kept.
    pub fn url(&self) -> Result<String, url::ParseError> {
        let mut u = url::Url::parse(self.authorization_endpoint)?;
        let mut scope = String::from(self.scope_override.unwrap_or("openid profile email"));
        for s in self.extra_scopes {
            scope.push(' ');
            scope.push_str(s);
        }
        {
            let mut q = u.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", self.client_id)
                .append_pair("redirect_uri", self.redirect_uri)
                .append_pair("scope", &scope)
                .append_pair("state", self.state)
                .append_pair("nonce", self.nonce)
                .append_pair("code_challenge", &pkce_challenge(self.pkce_verifier))
                .append_pair("code_challenge_method", "S256");
            if let Some(hint) = self.login_hint {
                q.append_pair("login_hint", hint);
            }
            for (name, value) in self.extra_params {
                q.append_pair(name, value);
            }
        }
        Ok(u.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn builds_the_request() {
        let extra = vec!["groups".to_string()];
        let req = AuthorizationRequest {
            authorization_endpoint: "https://idp.example/authorize?tenant=t1",
            client_id: "edge",
            redirect_uri: "https://site.example/auth/callback",
            extra_scopes: &extra,
            state: "s1",
            nonce: "n1",
            pkce_verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            login_hint: Some("alice+x@acme.example"),
            extra_params: &[("domain_hint", "acme.example".to_string()), ("response_mode", "form_post".to_string())],
            scope_override: None,
        };
        let u = url::Url::parse(&req.url().unwrap()).unwrap();
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert_eq!(q["tenant"], "t1");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["scope"], "openid profile email groups");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["code_challenge"], "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert_eq!(q["login_hint"], "alice+x@acme.example");
        assert_eq!(q["redirect_uri"], "https://site.example/auth/callback");
        assert_eq!(q["domain_hint"], "acme.example");
        assert_eq!(q["response_mode"], "form_post");
        assert!(!q.contains_key("code_verifier"), "the verifier never leaves the worker in the front channel");
    }
}
