//! "Is this ID token acceptable for this connector?", answered in one place: the `IdTokenVerifier` builder of
//! openidconnect-rs, aware of the connector kinds.
//!
//! ```text
//! let verifier = IdTokenVerifier::for_connector(connector, &metadata)
//!     .with_nonce(&tx.nonce)
//!     .with_access_token(access_token)
//!     .with_code(code);
//! let token = verifier.parse(id_token)?;          // the JWS, and the exact `iss` it must carry
//! let key = /* the IdP's key for token.jws(): Flow::signing_key */;
//! let verified = verifier.with_clock(platform, leeway).verify(&token, &key, crypto).await?;
//! ```
//!
//! [`IdTokenVerifier::verify`] checks, in order: the signature (our allow-listed algorithm, a key that fits it,
//! WebCrypto) and every claim rule of OIDC Core §3.1.3.7 ([`id_token::verify`]) against the issuer resolved by
//! [`IdTokenVerifier::parse`] ([`crate::core::oidc::issuer`]: Entra's `{tenantid}` template and allowed
//! tenants, Google's two spellings); then the connector's rules: Entra's `tid` is a tenant the connector
//! accepts, `auth_time` within the requested `max_age` (§3.1.2.1), Google Workspace's `hd` is one of the
//! connector's hosted domains. Its output, a [`VerifiedIdToken`], is valid *for its connector*.

use crate::core::config::{Connector, Protocol};
use crate::core::oidc::discovery::ProviderMetadata;
use crate::core::oidc::id_token::{self, Expectations, IdTokenError, VerifiedIdToken};
use crate::core::oidc::issuer::{expected_token_issuer, tenant_may_sign_in, IssuerError};
use crate::core::oidc::jwks::Jwk;
use crate::core::oidc::jws::UntrustedJws;
use crate::core::ports::{Clock, SignatureVerifier};
use crate::core::routing::normalize_domain;

/// Verifies ID tokens for one connector and one login (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct IdTokenVerifier<'a> {
    connector: &'a Connector,
    /// The discovery document's issuer (for Entra multi-tenant authorities, a `{tenantid}` template).
    discovered_issuer: &'a str,
    /// Unset (or empty): every token is refused.
    nonce: Option<&'a str>,
    now: u64,
    leeway: u64,
    max_age: Option<u64>,
    access_token: Option<&'a str>,
    code: Option<&'a str>,
}

/// An ID token parsed for a connector: the untrusted JWS (to choose its key) and the exact `iss` it must carry.
#[derive(Debug)]
pub struct UntrustedIdToken {
    jws: UntrustedJws,
    issuer: String,
}

impl UntrustedIdToken {
    /// The JWS, for choosing the key ([`crate::core::oidc::jwks::select_key`]).
    pub fn jws(&self) -> &UntrustedJws {
        &self.jws
    }

    /// The `iss` the token must carry.
    pub fn expected_issuer(&self) -> &str {
        &self.issuer
    }
}

impl<'a> IdTokenVerifier<'a> {
    /// A verifier for `connector`'s ID tokens, whose IdP is described by `metadata`; `max_age` is the
    /// connector's. Set the nonce and the clock before verifying (without a nonce, no token passes).
    pub fn for_connector(connector: &'a Connector, metadata: &'a ProviderMetadata) -> Self {
        IdTokenVerifier {
            connector,
            discovered_issuer: &metadata.issuer,
            nonce: None,
            now: 0,
            leeway: 0,
            max_age: connector.max_age,
            access_token: None,
            code: None,
        }
    }

    /// The nonce this login sent.
    pub fn with_nonce(mut self, nonce: &'a str) -> Self {
        self.nonce = Some(nonce);
        self
    }

    /// The time (read once, now: set it just before [`Self::verify`]) and the clock skew tolerated in the time
    /// claims.
    pub fn with_clock(mut self, clock: &impl Clock, leeway_seconds: u64) -> Self {
        self.now = clock.now();
        self.leeway = leeway_seconds;
        self
    }

    /// `max_age` requested of the IdP (`None`: none); [`Self::for_connector`] takes the connector's.
    pub fn with_max_age(mut self, max_age: Option<u64>) -> Self {
        self.max_age = max_age;
        self
    }

    /// The access token returned with the ID token, for `at_hash`.
    pub fn with_access_token(mut self, access_token: Option<&'a str>) -> Self {
        self.access_token = access_token;
        self
    }

    /// The authorization code, for `c_hash`.
    pub fn with_code(mut self, code: &'a str) -> Self {
        self.code = Some(code);
        self
    }

    /// Parse the token and resolve the `iss` it must carry (before any key is fetched: an Entra token of a
    /// tenant the connector refuses costs no JWKS request).
    pub fn parse(&self, id_token: &str) -> Result<UntrustedIdToken, IdTokenError> {
        let jws = UntrustedJws::parse(id_token)?;
        let issuer =
            expected_token_issuer(self.connector, self.discovered_issuer, |name| jws.unverified_string_claim(name))?;
        Ok(UntrustedIdToken { jws, issuer })
    }

    /// Verify `token` with `key` (the IdP's key chosen for it) through `crypto`: see the module documentation.
    pub async fn verify<V: SignatureVerifier>(
        &self,
        token: &UntrustedIdToken,
        key: &Jwk,
        crypto: &V,
    ) -> Result<VerifiedIdToken, IdTokenError> {
        // A verifier without this login's nonce would take a token minted for any login that sent none.
        let nonce = self.nonce.filter(|n| !n.is_empty()).ok_or(IdTokenError::NonceMismatch)?;
        let expect = Expectations {
            issuer: &token.issuer,
            client_id: &self.connector.client_id,
            nonce,
            now: self.now,
            leeway: self.leeway,
            access_token: self.access_token,
            code: self.code,
        };
        let verified = id_token::verify(&token.jws, key, crypto, &expect).await?;
        self.connector_rules(&verified)?;
        Ok(verified)
    }

    /// The connector's rules on a token whose signature and standard claims are valid.
    fn connector_rules(&self, verified: &VerifiedIdToken) -> Result<(), IdTokenError> {
        let claims = verified.claims();
        let Protocol::OpenIdConnect { entra, hosted_domains, .. } = &self.connector.protocol else {
            return Ok(());
        };
        // Entra: the tenant that signed in must be one this connector accepts.
        if let Some(entra) = entra {
            let tid = claims.tid.as_deref().unwrap_or_default();
            if !tenant_may_sign_in(entra, self.discovered_issuer, tid) {
                return Err(IssuerError::TenantNotAllowed(tid.to_string()).into());
            }
        }
        // max_age was requested: auth_time is required and must be recent enough (OIDC Core §3.1.2.1).
        if let Some(max_age) = self.max_age {
            let auth_time = claims.auth_time.ok_or(IdTokenError::AuthTimeMissing)?.0;
            if self.now.saturating_sub(auth_time) > max_age.saturating_add(self.leeway) {
                return Err(IdTokenError::AuthTimeTooOld { auth_time, max_age });
            }
        }
        // Google Workspace: the hd claim, not the request parameter, proves the hosted domain.
        if !hosted_domains.is_empty() {
            let hd = claims.hd.as_deref().and_then(normalize_domain);
            if !hd.as_ref().is_some_and(|hd| hosted_domains.contains(hd)) {
                return Err(IdTokenError::HostedDomainMismatch(claims.hd.clone()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::b64;
    use crate::core::config::{Config, ENTRA_CONSUMERS_TENANT_ID};
    use crate::core::oidc::jwks::{parse_jwks, Alg, HashAlg};
    use crate::core::ports::CryptoError;
    use serde_json::{json, Value};

    const NOW: u64 = 1_700_000_000;
    const ENTRA: &str = "https://login.microsoftonline.com";
    const TENANT_A: &str = "4f1a2b3c-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
    const TENANT_B: &str = "4f1a2b3c-bbbb-4bbb-8bbb-bbbbbbbbbbbb";

    /// A clock at [`NOW`], and a signature check that accepts every well-shaped signature: these tests are
    /// about the claim and connector rules (signatures: `id_token`'s tests, tests/flow.rs, tests/webcrypto.rs).
    struct AcceptAll;

    impl Clock for AcceptAll {
        fn now(&self) -> u64 {
            NOW
        }
    }

    impl SignatureVerifier for AcceptAll {
        async fn verify(&self, _: Alg, _: &Jwk, _: &[u8], _: &[u8]) -> Result<bool, CryptoError> {
            Ok(true)
        }
        async fn long_digest(&self, hash: HashAlg, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
            Ok(hash.digest_in_software(data))
        }
    }

    fn connector(json: Value) -> Connector {
        let config = Config::from_json(&json!({ "connectors": [json] }).to_string()).unwrap();
        config.connectors.into_iter().next().unwrap()
    }

    fn metadata(issuer: &str) -> ProviderMetadata {
        ProviderMetadata {
            issuer: issuer.into(),
            authorization_endpoint: format!("{issuer}/authorize"),
            token_endpoint: format!("{issuer}/token"),
            jwks_uri: format!("{issuer}/jwks"),
            userinfo_endpoint: None,
            end_session_endpoint: None,
            token_endpoint_auth_methods_supported: vec![],
            id_token_signing_alg_values_supported: vec![],
            authorization_response_iss_parameter_supported: false,
        }
    }

    fn key() -> Jwk {
        let set = json!({"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":b64::encode([3u8; 32])}]});
        parse_jwks(set.to_string().as_bytes()).unwrap().keys.remove(0)
    }

    fn token(claims: &Value) -> String {
        let header = b64::encode(r#"{"alg":"EdDSA","kid":"k"}"#);
        format!("{header}.{}.{}", b64::encode(claims.to_string()), b64::encode([7u8; 64]))
    }

    fn claims(iss: &str, client_id: &str, extra: Value) -> Value {
        let mut c =
            json!({"iss": iss, "sub": "u1", "aud": client_id, "exp": NOW + 300, "iat": NOW - 5, "nonce": "n-1"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    }

    /// Parse and verify `claims` with `connector`'s verifier.
    fn verify(
        connector: &Connector,
        metadata: &ProviderMetadata,
        claims: &Value,
    ) -> Result<VerifiedIdToken, IdTokenError> {
        let verifier = IdTokenVerifier::for_connector(connector, metadata).with_nonce("n-1").with_clock(&AcceptAll, 60);
        let token = verifier.parse(&token(claims))?;
        pollster::block_on(verifier.verify(&token, &key(), &AcceptAll))
    }

    #[test]
    fn oidc_issuer_audience_nonce_and_time_come_from_the_builder() {
        let c = connector(json!({"id":"acme","kind":"oidc","issuer":"https://idp.example","client_id":"edge",
            "client_secret_binding":"S","domains":["acme.example"]}));
        let m = metadata("https://idp.example");
        assert!(verify(&c, &m, &claims("https://idp.example", "edge", json!({}))).is_ok());
        let refused = verify(&c, &m, &claims("https://idp.example/", "edge", json!({})));
        assert!(matches!(refused, Err(IdTokenError::IssuerMismatch { .. })), "{refused:?}");
        assert_eq!(
            verify(&c, &m, &claims("https://idp.example", "other", json!({}))),
            Err(IdTokenError::AudienceMismatch)
        );
        assert_eq!(
            verify(&c, &m, &claims("https://idp.example", "edge", json!({"nonce": "n-2"}))),
            Err(IdTokenError::NonceMismatch)
        );
        let expired = verify(&c, &m, &claims("https://idp.example", "edge", json!({"exp": NOW - 60})));
        assert!(matches!(expired, Err(IdTokenError::Expired { .. })), "the builder's clock and leeway");
        // A nonce never set (or empty) matches no token, not even one without a nonce or with an empty one.
        for verifier in [
            IdTokenVerifier::for_connector(&c, &m).with_clock(&AcceptAll, 60),
            IdTokenVerifier::for_connector(&c, &m).with_clock(&AcceptAll, 60).with_nonce(""),
        ] {
            for nonce in [json!(""), json!(null)] {
                let t =
                    verifier.parse(&token(&claims("https://idp.example", "edge", json!({"nonce": nonce})))).unwrap();
                assert!(pollster::block_on(verifier.verify(&t, &key(), &AcceptAll)).is_err());
            }
        }
    }

    #[test]
    fn max_age_requires_a_recent_auth_time() {
        let c = connector(json!({"id":"acme","kind":"oidc","issuer":"https://idp.example","client_id":"edge",
            "client_secret_binding":"S","domains":["acme.example"],"max_age":300}));
        let m = metadata("https://idp.example");
        let with = |extra: Value| verify(&c, &m, &claims("https://idp.example", "edge", extra));
        assert_eq!(with(json!({})), Err(IdTokenError::AuthTimeMissing));
        assert_eq!(
            with(json!({"auth_time": NOW - 361})),
            Err(IdTokenError::AuthTimeTooOld { auth_time: NOW - 361, max_age: 300 })
        );
        assert!(with(json!({"auth_time": NOW - 360})).is_ok(), "max_age plus leeway");
        assert_eq!(
            IdTokenError::AuthTimeTooOld { auth_time: 5, max_age: 300 }.to_string(),
            "auth_time 5 is older than max_age 300",
            "the wording the flow logs"
        );
        // The builder may override the connector's max_age.
        let verifier =
            IdTokenVerifier::for_connector(&c, &m).with_nonce("n-1").with_clock(&AcceptAll, 60).with_max_age(None);
        let t = verifier.parse(&token(&claims("https://idp.example", "edge", json!({})))).unwrap();
        assert!(pollster::block_on(verifier.verify(&t, &key(), &AcceptAll)).is_ok());
    }

    #[test]
    fn google_hosted_domain_and_both_issuer_spellings() {
        let c = connector(json!({"id":"g","kind":"google","client_id":"edge","client_secret_binding":"S",
            "domains":["acme.example"],"hosted_domains":["acme.example"]}));
        let m = metadata(&c.issuer);
        let iss = c.issuer.clone();
        let bare = iss.strip_prefix("https://").unwrap().to_string();
        assert!(verify(&c, &m, &claims(&iss, "edge", json!({"hd": "acme.example"}))).is_ok());
        assert!(
            verify(&c, &m, &claims(&bare, "edge", json!({"hd": "ACME.example"}))).is_ok(),
            "bare issuer, hd normalised"
        );
        assert_eq!(
            verify(&c, &m, &claims(&iss, "edge", json!({"hd": "evil.example"}))),
            Err(IdTokenError::HostedDomainMismatch(Some("evil.example".into())))
        );
        assert_eq!(verify(&c, &m, &claims(&iss, "edge", json!({}))), Err(IdTokenError::HostedDomainMismatch(None)));
        let other = verify(&c, &m, &claims("http://accounts.google.com", "edge", json!({"hd": "acme.example"})));
        assert!(matches!(other, Err(IdTokenError::IssuerMismatch { .. })), "only the two documented spellings");
    }

    #[test]
    fn entra_multi_tenant_resolves_the_template_with_an_allowed_tid() {
        let c = connector(json!({"id":"p","kind":"entra","tenant":"organizations","authority":ENTRA,
            "allowed_tenants":[TENANT_A],"client_id":"edge","client_secret_binding":"S","domains":["a.example"]}));
        let m = metadata(&format!("{ENTRA}/{{tenantid}}/v2.0"));
        let iss_a = format!("{ENTRA}/{TENANT_A}/v2.0");
        assert!(verify(&c, &m, &claims(&iss_a, "edge", json!({"tid": TENANT_A}))).is_ok());
        assert_eq!(
            verify(&c, &m, &claims(&format!("{ENTRA}/{TENANT_B}/v2.0"), "edge", json!({"tid": TENANT_B}))),
            Err(IdTokenError::Issuer(IssuerError::TenantNotAllowed(TENANT_B.into()))),
            "refused before any key is needed"
        );
        assert_eq!(verify(&c, &m, &claims(&iss_a, "edge", json!({}))), Err(IdTokenError::Issuer(IssuerError::NoTid)));
        // Both before the key is chosen: `parse` alone refuses them.
        let verifier = IdTokenVerifier::for_connector(&c, &m);
        let other_tenant = token(&claims(&format!("{ENTRA}/{TENANT_B}/v2.0"), "edge", json!({"tid": TENANT_B})));
        assert_eq!(
            verifier.parse(&other_tenant).unwrap_err(),
            IdTokenError::Issuer(IssuerError::TenantNotAllowed(TENANT_B.into()))
        );
        let no_tid = token(&claims(&iss_a, "edge", json!({})));
        assert_eq!(verifier.parse(&no_tid).unwrap_err(), IdTokenError::Issuer(IssuerError::NoTid));
        let t = verifier.parse(&token(&claims(&iss_a, "edge", json!({"tid": TENANT_A})))).unwrap();
        assert_eq!(t.expected_issuer(), iss_a, "the template resolved with the tid");
        let mixed = verify(&c, &m, &claims(&format!("{ENTRA}/{TENANT_B}/v2.0"), "edge", json!({"tid": TENANT_A})));
        assert!(matches!(mixed, Err(IdTokenError::IssuerMismatch { .. })), "iss of another tenant than tid");
    }

    #[test]
    fn entra_single_tenant_and_consumers_accept_their_tenant_only() {
        let c = connector(json!({"id":"solo","kind":"entra","tenant":"contoso.example","authority":ENTRA,
            "client_id":"edge","client_secret_binding":"S","domains":["a.example"]}));
        let iss_a = format!("{ENTRA}/{TENANT_A}/v2.0");
        let m = metadata(&iss_a);
        assert!(verify(&c, &m, &claims(&iss_a, "edge", json!({"tid": TENANT_A}))).is_ok());
        assert_eq!(
            verify(&c, &m, &claims(&iss_a, "edge", json!({"tid": TENANT_B}))),
            Err(IdTokenError::Issuer(IssuerError::TenantNotAllowed(TENANT_B.into()))),
            "a guest token of another tenant at the same issuer"
        );
        assert_eq!(
            verify(&c, &m, &claims(&iss_a, "edge", json!({}))),
            Err(IdTokenError::Issuer(IssuerError::TenantNotAllowed(String::new())))
        );
        let consumers = connector(json!({"id":"me","kind":"entra","tenant":"consumers","authority":ENTRA,
            "client_id":"edge","client_secret_binding":"S","domains":["a.example"]}));
        let iss_c = format!("{ENTRA}/{ENTRA_CONSUMERS_TENANT_ID}/v2.0");
        let m = metadata(&iss_c);
        assert!(verify(&consumers, &m, &claims(&iss_c, "edge", json!({"tid": ENTRA_CONSUMERS_TENANT_ID}))).is_ok());
        assert_eq!(
            verify(&consumers, &m, &claims(&iss_c, "edge", json!({"tid": TENANT_A}))),
            Err(IdTokenError::Issuer(IssuerError::TenantNotAllowed(TENANT_A.into())))
        );
    }
}
