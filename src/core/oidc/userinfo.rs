//! The UserInfo request (OIDC Core §5.3), used when the ID token does not carry the email.
//! The response's `sub` must equal the ID token's `sub` (§5.3.2), or it describes someone else.

use thiserror::Error;

use crate::core::fetch::{CachePolicy, HttpRequest, HttpResponse};
use crate::core::oidc::id_token::EmailVerified;

pub const MAX_USERINFO_BYTES: usize = 64 * 1024;

/// The UserInfo request: one user's answer, never shared through a cache (same URL for every user).
pub fn userinfo_request(endpoint: &str, access_token: &str) -> HttpRequest {
    HttpRequest {
        method: "GET",
        url: endpoint.to_string(),
        headers: vec![("accept", "application/json".into()), ("authorization", format!("Bearer {access_token}"))],
        body: None,
        cache: CachePolicy::Never,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: Option<EmailVerified>,
    pub name: Option<String>,
    /// Every claim, for configured claim mappings.
    pub all_claims: serde_json::Map<String, serde_json::Value>,
}

impl UserInfo {
    pub fn string_claim(&self, name: &str) -> Option<&str> {
        self.all_claims.get(name).and_then(|v| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UserInfoError {
    #[error("the UserInfo endpoint answered HTTP {0}")]
    HttpStatus(u16),
    #[error("the UserInfo response is malformed: {0}")]
    Malformed(String),
    #[error("the UserInfo sub does not match the ID token's sub")]
    SubjectMismatch,
}

pub fn parse_userinfo(response: &HttpResponse, expected_sub: &str) -> Result<UserInfo, UserInfoError> {
    if response.status != 200 {
        return Err(UserInfoError::HttpStatus(response.status));
    }
    if response.body.len() > MAX_USERINFO_BYTES {
        return Err(UserInfoError::Malformed("the response is too large".into()));
    }
    let all_claims = crate::core::json::parse_object(&response.body).map_err(UserInfoError::Malformed)?;
    let m = crate::core::json::Members(&all_claims);
    let sub = m.string("sub").map_err(UserInfoError::Malformed)?.to_string();
    let optional = |name: &str| m.opt_string(name).map(|v| v.map(str::to_string)).map_err(UserInfoError::Malformed);
    let (email, name) = (optional("email")?, optional("name")?);
    let email_verified =
        m.get("email_verified").map(EmailVerified::read).transpose().map_err(UserInfoError::Malformed)?;
    if sub != expected_sub {
        return Err(UserInfoError::SubjectMismatch);
    }
    Ok(UserInfo { sub, email, email_verified, name, all_claims })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(status, body.as_bytes().to_vec())
    }

    #[test]
    fn sends_the_access_token_as_bearer() {
        let r = userinfo_request("https://idp.example/userinfo", "at");
        assert!(r.headers.contains(&("authorization", "Bearer at".to_string())));
        assert!(r.body.is_none());
    }

    #[test]
    fn a_userinfo_answer_is_never_shared_through_a_cache() {
        // Same URL for every user: a shared copy would hand one user's claims to the next.
        let r = userinfo_request("https://idp.example/userinfo", "at");
        assert_eq!(r.cache, CachePolicy::Never);
        assert!(!r.may_read_shared_cache());
        assert!(!r.may_store_in_shared_cache());
    }

    #[test]
    fn sub_must_match() {
        let ok =
            parse_userinfo(&resp(200, r#"{"sub":"u1","email":"a@b.example","email_verified":true}"#), "u1").unwrap();
        assert_eq!(ok.email.as_deref(), Some("a@b.example"));
        assert_eq!(
            parse_userinfo(&resp(200, r#"{"sub":"u2","email":"a@b.example"}"#), "u1"),
            Err(UserInfoError::SubjectMismatch)
        );
        assert!(matches!(
            parse_userinfo(&resp(200, r#"{"email":"a@b.example"}"#), "u1"),
            Err(UserInfoError::Malformed(_))
        ));
        assert_eq!(parse_userinfo(&resp(401, "{}"), "u1"), Err(UserInfoError::HttpStatus(401)));
        assert!(matches!(
            parse_userinfo(&resp(200, r#"{"sub":"u1","sub":"u2"}"#), "u1"),
            Err(UserInfoError::Malformed(_))
        ));
    }
}
