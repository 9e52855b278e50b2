//! Arbitrary bytes -> every parser of an IdP's answers: `parse_jwks` (then `select_key` for every
//! algorithm, with no kid, each key's kid and an unknown kid), `parse_provider_metadata` (for each fixture
//! issuer, then what the flow builds from the metadata), `parse_token_response`, `parse_userinfo`, and
//! Facebook's token and Graph API `/me` parsers.
#![no_main]

use edge_auth::core::config::TokenEndpointAuthMethod;
use edge_auth::core::facebook;
use edge_auth::core::fetch::HttpResponse;
use edge_auth::core::oidc::authorize::AuthorizationRequest;
use edge_auth::core::oidc::discovery::parse_provider_metadata;
use edge_auth::core::oidc::jwks::{parse_jwks, select_key, Alg, KeySelection, MAX_KEYS};
use edge_auth::core::oidc::jws::UntrustedJws;
use edge_auth::core::oidc::token::{choose_auth_method, parse_token_response, TokenRequest};
use edge_auth::core::oidc::userinfo::parse_userinfo;
use edge_auth::core::secret::Secret;
use edge_auth_fuzz::fixtures::{ACME_ISSUER, LOOPBACK_ISSUER, PARTNER_ISSUER};
use edge_auth_fuzz::flow::oracle::model::key_fits;
use libfuzzer_sys::fuzz_target;

const ALGS: [Alg; 9] =
    [Alg::RS256, Alg::RS384, Alg::RS512, Alg::PS256, Alg::PS384, Alg::PS512, Alg::ES256, Alg::ES384, Alg::EdDSA];
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

fuzz_target!(init: edge_auth_fuzz::known::install(), |data: &[u8]| {
    edge_auth_fuzz::known::guard(|| {
        if let Ok(set) = parse_jwks(data) {
            assert!(set.keys.len() <= MAX_KEYS);
            for key in &set.keys {
                let public: serde_json::Value = serde_json::from_str(key.cache_key()).expect("public_jwk_json is JSON");
                for m in PRIVATE_MEMBERS {
                    assert!(public.get(m).is_none(), "private member {m:?} copied into the public JWK");
                }
                let _ = key.rsa_modulus_len();
            }
            let mut kids: Vec<Option<&str>> = vec![None, Some("no-such-kid")];
            kids.extend(set.keys.iter().take(8).map(|k| k.kid.as_deref()).filter(Option::is_some));
            for alg in ALGS {
                for kid in &kids {
                    match select_key(&set, alg, *kid) {
                        KeySelection::Found(k) => {
                            assert!(key_fits(alg, k), "selected a key that does not suit {alg:?}");
                            if kid.is_some() {
                                assert_eq!(k.kid.as_deref(), *kid, "selected a key with another kid");
                            }
                        }
                        KeySelection::UnknownKid => assert!(kid.is_some()),
                        KeySelection::Ambiguous => assert!(kid.is_none()),
                        KeySelection::NoSuitableKey => {}
                    }
                }
            }
        }

        for issuer in [ACME_ISSUER, PARTNER_ISSUER, LOOPBACK_ISSUER] {
            if let Ok(m) = parse_provider_metadata(issuer, data) {
                assert_eq!(m.issuer, issuer);
                for configured in [None, Some(TokenEndpointAuthMethod::ClientSecretPost)] {
                    if let Some(method) = choose_auth_method(configured, &m) {
                        let secret = Secret::new("s3cret".to_string());
                        let _ = TokenRequest {
                            token_endpoint: &m.token_endpoint,
                            auth_method: method,
                            client_id: "edge",
                            client_secret: &secret,
                            code: "code",
                            redirect_uri: "https://site.example/auth/callback",
                            pkce_verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                        }
                        .to_http();
                    }
                }
                let scopes = vec!["groups".to_string()];
                let _ = AuthorizationRequest {
                    authorization_endpoint: &m.authorization_endpoint,
                    client_id: "edge",
                    redirect_uri: "https://site.example/auth/callback",
                    extra_scopes: &scopes,
                    state: "state",
                    nonce: "nonce",
                    pkce_verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                    login_hint: Some("alice@acme.example"),
                    extra_params: &[("prompt", "login".to_string()), ("response_mode", "form_post".to_string())],
                    scope_override: None,
                }
                .url();
                if let Some(end) = &m.end_session_endpoint {
                    if let Ok(mut u) = url::Url::parse(end) {
                        u.query_pairs_mut().append_pair("client_id", "edge");
                    }
                }
            }
        }

        for status in [200, 400, 503] {
            let response = HttpResponse::new(status, data.to_vec());
            if let Ok(tokens) = parse_token_response(&response) {
                assert_eq!(status, 200);
                let _ = UntrustedJws::parse(tokens.id_token.expose());
            }
            if let Ok(info) = parse_userinfo(&response, "248289761001") {
                assert_eq!(status, 200);
                assert_eq!(info.sub, "248289761001");
            }
            if let Ok(token) = facebook::parse_token_response(&response) {
                assert!(!token.expose().is_empty());
            }
            if let Ok(user) = facebook::parse_me_response(&response) {
                assert!(!user.id.is_empty() && user.id.len() <= 64);
            }
        }
    });
});
