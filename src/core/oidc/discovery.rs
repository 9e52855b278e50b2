//! OpenID Provider metadata (OpenID Connect Discovery 1.0).
//!
//! `parse_provider_metadata(expected_issuer, bytes)`: the document's `issuer` must equal the configured
//! issuer exactly (Discovery §4.3), every endpoint must be https (or http on loopback), and a provider that
//! advertises PKCE methods must offer S256 (we never downgrade to `plain`).

use thiserror::Error;

use crate::core::config::urls::check_endpoint_url;

pub const MAX_DISCOVERY_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    #[error("the discovery document is larger than {MAX_DISCOVERY_BYTES} bytes")]
    TooLarge,
    #[error("the discovery document is not valid JSON metadata: {0}")]
    Malformed(String),
    #[error("the discovery document's issuer {found:?} differs from the configured issuer {expected:?}")]
    IssuerMismatch { expected: String, found: String },
    #[error("the discovery document's {field} is not acceptable: {reason}")]
    BadEndpoint { field: &'static str, reason: String },
    #[error("the provider does not support PKCE with S256")]
    NoS256,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub userinfo_endpoint: Option<String>,
    pub end_session_endpoint: Option<String>,
    /// Defaults to `["client_secret_basic"]` when absent (Discovery §3).
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// RFC 9207: when true, the authorization response must carry `iss`.
    pub authorization_response_iss_parameter_supported: bool,
}

pub fn parse_provider_metadata(expected_issuer: &str, bytes: &[u8]) -> Result<ProviderMetadata, DiscoveryError> {
    parse_provider_metadata_accepting(bytes, expected_issuer, |found| found == expected_issuer)
}

/// Like [`parse_provider_metadata`], with the issuer rule given as a predicate (Entra's discovery documents
/// state a `{tenantid}` template or the tenant's id rather than the authority URL that was configured).
/// `expected` describes the rule in errors.
pub fn parse_provider_metadata_accepting(
    bytes: &[u8],
    expected: &str,
    accept_issuer: impl Fn(&str) -> bool,
) -> Result<ProviderMetadata, DiscoveryError> {
    if bytes.len() > MAX_DISCOVERY_BYTES {
        return Err(DiscoveryError::TooLarge);
    }
    let document = crate::core::json::parse_object(bytes).map_err(DiscoveryError::Malformed)?;
    let raw = crate::core::json::Members(&document);
    let issuer = raw.string("issuer").map_err(DiscoveryError::Malformed)?;
    // Every member read (and so type-checked) before anything is judged, as one typed document was.
    let required = |name: &str| raw.string(name).map_err(DiscoveryError::Malformed);
    let optional = |name: &str| raw.opt_string(name).map_err(DiscoveryError::Malformed);
    let list = |name: &str| raw.opt_strings(name).map_err(DiscoveryError::Malformed);
    let (authorization_endpoint, token_endpoint, jwks_uri) =
        (required("authorization_endpoint")?, required("token_endpoint")?, required("jwks_uri")?);
    let (userinfo_endpoint, end_session_endpoint) = (optional("userinfo_endpoint")?, optional("end_session_endpoint")?);
    let token_endpoint_auth_methods_supported = list("token_endpoint_auth_methods_supported")?;
    let id_token_signing_alg_values_supported = list("id_token_signing_alg_values_supported")?;
    let code_challenge_methods_supported = list("code_challenge_methods_supported")?;
    let authorization_response_iss_parameter_supported =
        raw.opt_bool("authorization_response_iss_parameter_supported").map_err(DiscoveryError::Malformed)?;
    if !accept_issuer(issuer) {
        return Err(DiscoveryError::IssuerMismatch { expected: expected.to_string(), found: issuer.to_string() });
    }
    let endpoint = |field: &'static str, value: &str| -> Result<String, DiscoveryError> {
        check_endpoint_url(value).map_err(|reason| DiscoveryError::BadEndpoint { field, reason })?;
        Ok(value.to_string())
    };
    let authorization_endpoint = endpoint("authorization_endpoint", authorization_endpoint)?;
    let token_endpoint = endpoint("token_endpoint", token_endpoint)?;
    let jwks_uri = endpoint("jwks_uri", jwks_uri)?;
    let userinfo_endpoint = userinfo_endpoint.map(|u| endpoint("userinfo_endpoint", u)).transpose()?;
    let end_session_endpoint = end_session_endpoint.map(|u| endpoint("end_session_endpoint", u)).transpose()?;
    if let Some(methods) = &code_challenge_methods_supported {
        if !methods.iter().any(|m| m == "S256") {
            return Err(DiscoveryError::NoS256);
        }
    }
    Ok(ProviderMetadata {
        issuer: issuer.to_string(),
        authorization_endpoint,
        token_endpoint,
        jwks_uri,
        userinfo_endpoint,
        end_session_endpoint,
        token_endpoint_auth_methods_supported: token_endpoint_auth_methods_supported
            .unwrap_or_else(|| vec!["client_secret_basic".to_string()]),
        id_token_signing_alg_values_supported: id_token_signing_alg_values_supported.unwrap_or_default(),
        authorization_response_iss_parameter_supported: authorization_response_iss_parameter_supported.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(issuer: &str) -> String {
        format!(
            r#"{{"issuer":"{issuer}","authorization_endpoint":"{issuer}/auth","token_endpoint":"{issuer}/token",
               "jwks_uri":"{issuer}/jwks","end_session_endpoint":"{issuer}/logout",
               "code_challenge_methods_supported":["S256"],"authorization_response_iss_parameter_supported":true,
               "token_endpoint_auth_methods_supported":["client_secret_post"],"extra":{{"ignored":1}}}}"#
        )
    }

    #[test]
    fn parses_a_provider() {
        let m = parse_provider_metadata("https://idp.example", doc("https://idp.example").as_bytes()).unwrap();
        assert_eq!(m.token_endpoint, "https://idp.example/token");
        assert_eq!(m.end_session_endpoint.as_deref(), Some("https://idp.example/logout"));
        assert!(m.authorization_response_iss_parameter_supported);
        assert_eq!(m.token_endpoint_auth_methods_supported, vec!["client_secret_post"]);
    }

    #[test]
    fn issuer_must_match_exactly() {
        for other in ["https://idp.example/", "https://IDP.example", "https://evil.example", "https://idp.example/x"] {
            let e = parse_provider_metadata("https://idp.example", doc(other).as_bytes()).unwrap_err();
            assert!(matches!(e, DiscoveryError::IssuerMismatch { .. }), "{other}: {e:?}");
        }
    }

    #[test]
    fn endpoints_must_be_https_or_loopback() {
        let bad = doc("https://idp.example").replace("https://idp.example/token", "http://idp.example/token");
        assert!(matches!(
            parse_provider_metadata("https://idp.example", bad.as_bytes()),
            Err(DiscoveryError::BadEndpoint { field: "token_endpoint", .. })
        ));
        assert!(parse_provider_metadata("http://127.0.0.1:9000", doc("http://127.0.0.1:9000").as_bytes()).is_ok());
    }

    #[test]
    fn refuses_pkce_downgrade_and_garbage() {
        let plain = doc("https://idp.example").replace(r#"["S256"]"#, r#"["plain"]"#);
        assert_eq!(parse_provider_metadata("https://idp.example", plain.as_bytes()), Err(DiscoveryError::NoS256));
        assert!(matches!(parse_provider_metadata("https://idp.example", b"[]"), Err(DiscoveryError::Malformed(_))));
        assert!(matches!(parse_provider_metadata("https://idp.example", b"{}"), Err(DiscoveryError::Malformed(_))));
        let big = vec![b' '; MAX_DISCOVERY_BYTES + 1];
        assert_eq!(parse_provider_metadata("https://idp.example", &big), Err(DiscoveryError::TooLarge));
    }

    #[test]
    fn defaults_when_fields_are_absent() {
        let d = r#"{"issuer":"https://i.example","authorization_endpoint":"https://i.example/a","token_endpoint":"https://i.example/t","jwks_uri":"https://i.example/k"}"#;
        let m = parse_provider_metadata("https://i.example", d.as_bytes()).unwrap();
        assert_eq!(m.token_endpoint_auth_methods_supported, vec!["client_secret_basic"]);
        assert!(!m.authorization_response_iss_parameter_supported);
        assert!(m.end_session_endpoint.is_none());
    }
}
