//! Facebook Login: OAuth 2.0 without an ID token. The code is exchanged for an access token, then the Graph
//! API's `/me?fields=id,name,email` says who the user is, with `appsecret_proof` (HMAC-SHA256 of the access
//! token keyed with the app secret) so a leaked token cannot be replayed by another app.
//! Facebook returns only confirmed email addresses; a user without one is refused.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;
use url::form_urlencoded;

use crate::core::fetch::{CachePolicy, HttpRequest, HttpResponse};
use crate::core::secret::Secret;

pub const MAX_GRAPH_RESPONSE_BYTES: usize = 64 * 1024;

pub struct FacebookTokenRequest<'a> {
    pub token_endpoint: &'a str,
    pub app_id: &'a str,
    pub app_secret: &'a Secret<String>,
    pub code: &'a str,
    pub redirect_uri: &'a str,
    pub pkce_verifier: &'a str,
}

impl FacebookTokenRequest<'_> {
    pub fn to_http(&self) -> HttpRequest {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("client_id", self.app_id)
            .append_pair("client_secret", self.app_secret.expose())
            .append_pair("redirect_uri", self.redirect_uri)
            .append_pair("code", self.code)
            .append_pair("code_verifier", self.pkce_verifier);
        HttpRequest {
            method: "POST",
            url: self.token_endpoint.to_string(),
            headers: vec![
                ("content-type", "application/x-www-form-urlencoded".into()),
                ("accept", "application/json".into()),
            ],
            body: Some(form.finish()),
            cache: CachePolicy::Never,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FacebookError {
    #[error("Facebook refused the code: {0}")]
    Refused(String),
    #[error("Facebook answered HTTP {0}")]
    HttpStatus(u16),
    #[error("Facebook's answer is malformed: {0}")]
    Malformed(String),
}

fn graph_error(response: &HttpResponse) -> FacebookError {
    // {"error": {"type": ..., "code": ...}}: only the type's letters and the code are kept.
    let error = || -> Option<(String, i64)> {
        let document = crate::core::json::parse_object(&response.body).ok()?;
        let body = crate::core::json::Members(&document).opt_object("error").ok()??;
        let body = crate::core::json::Members(body);
        let kind = body.opt_string("type").ok()?.unwrap_or_default();
        Some((
            kind.chars().filter(|c| c.is_ascii_alphanumeric()).take(48).collect(),
            body.opt_i64("code").ok()?.unwrap_or_default(),
        ))
    };
    match error() {
        Some((kind, code)) => FacebookError::Refused(format!("{kind} (code {code})")),
        None => FacebookError::HttpStatus(response.status),
    }
}

pub fn parse_token_response(response: &HttpResponse) -> Result<Secret<String>, FacebookError> {
    if response.body.len() > MAX_GRAPH_RESPONSE_BYTES {
        return Err(FacebookError::Malformed("the response is too large".into()));
    }
    if response.status != 200 {
        return Err(graph_error(response));
    }
    let document = crate::core::json::parse_object(&response.body).map_err(FacebookError::Malformed)?;
    let access_token =
        crate::core::json::Members(&document).string("access_token").map_err(FacebookError::Malformed)?;
    if access_token.is_empty() {
        return Err(FacebookError::Malformed("empty access_token".into()));
    }
    Ok(Secret::new(access_token.to_string()))
}

/// `appsecret_proof` = hex(HMAC-SHA256(app_secret, access_token)).
pub fn appsecret_proof(app_secret: &Secret<String>, access_token: &str) -> String {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(app_secret.expose().as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(), // HMAC takes keys of any length
    };
    mac.update(access_token.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn me_request(graph_me_endpoint: &str, access_token: &Secret<String>, app_secret: &Secret<String>) -> HttpRequest {
    let proof = appsecret_proof(app_secret, access_token.expose());
    let mut url = graph_me_endpoint.to_string();
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(
        &form_urlencoded::Serializer::new(String::new())
            .append_pair("fields", "id,name,email")
            .append_pair("appsecret_proof", &proof)
            .finish(),
    );
    HttpRequest {
        method: "GET",
        url,
        headers: vec![
            ("accept", "application/json".into()),
            ("authorization", format!("Bearer {}", access_token.expose())),
        ],
        body: None,
        // One user's profile: never shared through a cache.
        cache: CachePolicy::Never,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacebookUser {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

pub fn parse_me_response(response: &HttpResponse) -> Result<FacebookUser, FacebookError> {
    if response.body.len() > MAX_GRAPH_RESPONSE_BYTES {
        return Err(FacebookError::Malformed("the response is too large".into()));
    }
    if response.status != 200 {
        return Err(graph_error(response));
    }
    let document = crate::core::json::parse_object(&response.body).map_err(FacebookError::Malformed)?;
    let m = crate::core::json::Members(&document);
    let optional = |name: &str| m.opt_string(name).map(|v| v.map(str::to_string)).map_err(FacebookError::Malformed);
    let user = FacebookUser {
        id: m.string("id").map_err(FacebookError::Malformed)?.to_string(),
        name: optional("name")?,
        email: optional("email")?,
    };
    if user.id.is_empty() || user.id.len() > 64 {
        return Err(FacebookError::Malformed("bad user id".into()));
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appsecret_proof_is_hmac_sha256_hex() {
        // HMAC-SHA256(key="key", "The quick brown fox jumps over the lazy dog") (RFC 4231-style known value)
        let proof = appsecret_proof(&Secret::new("key".into()), "The quick brown fox jumps over the lazy dog");
        assert_eq!(proof, "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
    }

    #[test]
    fn me_request_carries_proof_and_fields() {
        let r = me_request("https://graph.example/v21.0/me", &Secret::new("tok".into()), &Secret::new("sec".into()));
        assert!(r.url.starts_with("https://graph.example/v21.0/me?fields=id%2Cname%2Cemail&appsecret_proof="));
        assert!(!r.url.contains("tok"), "the token travels in the Authorization header, not the URL");
        assert!(r.headers.contains(&("authorization", "Bearer tok".to_string())));
        assert_eq!(r.cache, CachePolicy::Never, "one user's profile is never shared through a cache");
        assert!(!r.may_read_shared_cache() && !r.may_store_in_shared_cache());
    }

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(status, body.as_bytes().to_vec())
    }

    #[test]
    fn parses_token_and_me() {
        assert_eq!(
            parse_token_response(&resp(200, r#"{"access_token":"t","token_type":"bearer"}"#)).unwrap().expose(),
            "t"
        );
        assert!(matches!(
            parse_token_response(&resp(400, r#"{"error":{"message":"<b>x</b>","type":"OAuthException","code":100}}"#)),
            Err(FacebookError::Refused(m)) if m == "OAuthException (code 100)"
        ));
        let u = parse_me_response(&resp(200, r#"{"id":"42","name":"Al","email":"al@x.example"}"#)).unwrap();
        assert_eq!(u.email.as_deref(), Some("al@x.example"));
        assert_eq!(parse_me_response(&resp(200, r#"{"id":"42"}"#)).unwrap().email, None);
        assert!(parse_me_response(&resp(200, r#"{"id":""}"#)).is_err());
    }

    #[test]
    fn token_request_posts_the_secret_in_the_body() {
        let secret = Secret::new("s".to_string());
        let r = FacebookTokenRequest {
            token_endpoint: "https://graph.example/oauth/access_token",
            app_id: "app",
            app_secret: &secret,
            code: "c",
            redirect_uri: "https://site.example/auth/callback",
            pkce_verifier: "v",
        }
        .to_http();
        assert_eq!(r.method, "POST");
        let body = r.body.unwrap();
        assert!(body.contains("client_secret=s") && body.contains("code_verifier=v") && body.contains("code=c"));
    }
}
