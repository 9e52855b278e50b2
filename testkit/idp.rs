//! Key and token minting: an identity provider's signing keys, generated with `ring` (the RSA key is fixed:
//! ring cannot generate one), published as JWKs and used to sign real compact JWS tokens; and `ring` as the
//! reference signature verifier (the worker uses WebCrypto).

use base64::Engine;
use edge_auth::core::oidc::jwks::{Alg, EcCurve, Jwk, KeyMaterial};
use ring::rand::SystemRandom;
use ring::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents, UnparsedPublicKey,
};
use serde_json::{json, Value};

use super::b64url;

pub fn discovery_url(issuer: &str) -> String {
    format!("{issuer}/.well-known/openid-configuration")
}
pub fn jwks_url(issuer: &str) -> String {
    format!("{issuer}/jwks")
}
pub fn token_url(issuer: &str) -> String {
    format!("{issuer}/token")
}

fn ec_point(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut p = vec![0x04];
    p.extend_from_slice(x);
    p.extend_from_slice(y);
    p
}

/// `ring`'s verdict on a signature: `Ok(false)` for a wrong signature, `Err` for a key that does not fit the
/// algorithm.
pub fn ring_verify(alg: Alg, key: &Jwk, signing_input: &[u8], sig: &[u8]) -> Result<bool, String> {
    let result = match (&key.material, alg) {
        (KeyMaterial::Ec { curve: EcCurve::P256, x, y }, Alg::ES256) => {
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, ec_point(x, y)).verify(signing_input, sig)
        }
        (KeyMaterial::Ec { curve: EcCurve::P384, x, y }, Alg::ES384) => {
            UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, ec_point(x, y)).verify(signing_input, sig)
        }
        (KeyMaterial::Ed25519 { x }, Alg::EdDSA) => {
            UnparsedPublicKey::new(&signature::ED25519, x).verify(signing_input, sig)
        }
        (KeyMaterial::Rsa { n, e }, _) => {
            let params: &signature::RsaParameters = match alg {
                Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                Alg::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                Alg::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                Alg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                Alg::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                Alg::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
                other => return Err(format!("{} cannot use an RSA key", other.name())),
            };
            RsaPublicKeyComponents { n, e }.verify(params, signing_input, sig)
        }
        _ => return Err(format!("{} does not fit the key", alg.name())),
    };
    Ok(result.is_ok())
}

/// `ring`'s verdict on an XML-DSig `rsa-sha1` signature (RSASSA-PKCS1-v1_5 with SHA-1; SAML connectors with
/// `allow_sha1`): `Err` for a key that is not RSA.
pub fn ring_verify_rsa_sha1(key: &Jwk, signed: &[u8], sig: &[u8]) -> Result<bool, String> {
    let KeyMaterial::Rsa { n, e } = &key.material else { return Err("RSA-SHA1 needs an RSA key".into()) };
    let params = &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY;
    Ok(RsaPublicKeyComponents { n, e }.verify(params, signed, sig).is_ok())
}

/// A 2048-bit RSA key for tests only (PKCS#8 DER, base64); ring cannot generate RSA keys.
pub const TEST_ONLY_RSA_PKCS8: &str = concat!(
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCRJMODvZlzEsyEnsnKuWgJaCi6fGW9e+Q2MpYYN0VW/UEo",
    "6yHSnnshGIyfVK8DDWiNeKOU9ALQCiHIQu50LLZi//WuU1+fUCZ3eZXksokxOdmV0nhTsiewYga/w0EYmb5o0av+lDWJFlMo",
    "YL1zju8L/PHuD5Bz/4W9NU7+X0kX47KsBRuxE6skw4+6+TtuyvwIG7CHg9aChinKKTXfNFEgPdBnCEwN8xpf1UBwbI9oPHha",
    "tj8mNNukI7gOs7YYHfjDjnsWtFEUqmXrW32WdeKx3vR6UkqTdJCSGyBlmWP49JkQaKNmXP0fFHVjHfbToimynbHoI5Hv7jTi",
    "sW377PyzAgMBAAECggEABms8I6O17pXilOw6JmIEDNkeEVPrt/E2YC3lNMBKVmowKzFtjH//wrCa6iJM9HNFBW9UD1lUlS4Y",
    "MmAWEEM4nwY3hPR2TSML9cqwa1h4osRZMBFfyuvHv5Aw6416CoQkx0PxOaVaUha6VMB6gGrOKEHmfSMTvgg15O6U8MD2sude",
    "Ryh9rZisyj1RKU/mGJnIgxYkuOMymX3amztUx99S8gYKIUs/kCKAHR3v8yFxnjxj44plR9rnjdS4CJGjI7kzqTPrWroNPmyH",
    "s4+T8j4tZsFzZZut42lpB9x8t+DSom8rIhQfTUeiJBnbctMFV32GuMI5HHn8V3PoQpPLcIdSoQKBgQDHh3yQg3v5J3OD6JxG",
    "HiFVFQ/zBdkP3ZkZa3bOFA/gnE1DkBv4rChzB9Y+cGbjDCuWREHNH0WuPEcUubFw8UczUEMhgW5vsgDs1BKSXt4ZqY/X6GH1",
    "Qxtyfckqzl+tV6RiHmPgK63MYAb+ppmTmAy9yRtsmHkHplRiU7wtY4L2AwKBgQC6ON5w6G5ajb8ntPHt4YduKrjZD8qtf6Q+",
    "pT72IO18rHufH4YOXXU/1EvvNb+2GpXzb278JdUOMN6BPfSL3pZJ0PUnHve+TqG/gjlFCB8D7Dv178s4vzN7EDYdXUPL1dOB",
    "lsi5zTlTVbzrl1lbnvZ5SH6LBwYQCL9E1vgEtfc3kQKBgQCfKW6uAJSGHXhCAu2V6TcBnbmJTGLoCwazhkvQ+6PmsgfYGz6U",
    "0Q+7Isc+K3+HIhAq3+v1ajq1UBQLbk0jIPSA9Ed4lLy5kK64PDtMUyysH9xEiHSLpqpgXAJ6iQE9Tyorsr5M9cq/uuIZhGAB",
    "okqXobKkn8P73Cx3+v+i3Tx8bQKBgFKE+sULqkMERu2geAhShQHjeo/tOIHTawO7k//bLYGuqQUlIfFhpqBHQfLZXX+jnkkG",
    "Wybu2M92BlM9Eg2c7/n713ajeWLiUziayyf05lGFsDhWLzaRO43P7Drs5isAML5fA8mZ0EpGVvYK1jUMZuntnu2aiiw2xBMM",
    "M1FbFRaRAoGALJ8qXiQ15yj15qi5ZB21ma2YntLjvsN5hGlsQB/Q0lDOAZwRh6wD0r0RyFjps1Tul5X+DQINFaEoMXEa3Qjx",
    "gwqflHYmI9Jm+UPzHeZMoOUJZvY3MXev1wL4m9vCsZEwrJqGhugf2n79BosJ45WTuMfnOkcPo5Jqr11CO4u4wPM=",
);

/// The keys an IdP can sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// ES256, published as `<prefix>-es-1`.
    Es,
    /// ES256, the rotated key `<prefix>-es-2` (published only when a test says so).
    EsNext,
    /// EdDSA (Ed25519), published as `<prefix>-ed-1`.
    Ed,
    /// RS256 with the fixed RSA key, published as `<prefix>-rs-1` (no `alg`, so PS256 fits it too).
    Rs256,
    /// PS256 with the same RSA key.
    Ps256,
    /// An ES256 key that is never published, but whose tokens claim the kid of [`Key::Es`].
    Impostor,
}

pub struct Idp {
    pub issuer: &'static str,
    pub kid_prefix: &'static str,
    pub rng: SystemRandom,
    pub es: EcdsaKeyPair,
    pub es_next: EcdsaKeyPair,
    pub impostor: EcdsaKeyPair,
    pub ed: Ed25519KeyPair,
    pub rsa: RsaKeyPair,
}

pub fn generate_es256(rng: &SystemRandom) -> EcdsaKeyPair {
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, rng).unwrap();
    EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), rng).unwrap()
}

impl Idp {
    pub fn new(issuer: &'static str, kid_prefix: &'static str) -> Idp {
        let rng = SystemRandom::new();
        let ed_pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let rsa_der = base64::engine::general_purpose::STANDARD.decode(TEST_ONLY_RSA_PKCS8).unwrap();
        Idp {
            issuer,
            kid_prefix,
            es: generate_es256(&rng),
            es_next: generate_es256(&rng),
            impostor: generate_es256(&rng),
            ed: Ed25519KeyPair::from_pkcs8(ed_pkcs8.as_ref()).unwrap(),
            rsa: RsaKeyPair::from_pkcs8(&rsa_der).unwrap(),
            rng,
        }
    }

    pub fn kid(&self, key: Key) -> String {
        let base = match key {
            Key::Es | Key::Impostor => "es-1",
            Key::EsNext => "es-2",
            Key::Ed => "ed-1",
            Key::Rs256 | Key::Ps256 => "rs-1",
        };
        format!("{}-{base}", self.kid_prefix)
    }

    pub fn alg(key: Key) -> &'static str {
        match key {
            Key::Es | Key::EsNext | Key::Impostor => "ES256",
            Key::Ed => "EdDSA",
            Key::Rs256 => "RS256",
            Key::Ps256 => "PS256",
        }
    }

    pub fn ec_jwk(kid: &str, pair: &EcdsaKeyPair) -> Value {
        let point = pair.public_key().as_ref();
        assert_eq!(point.len(), 65);
        json!({"kty": "EC", "crv": "P-256", "x": b64url(&point[1..33]), "y": b64url(&point[33..65]),
               "kid": kid, "use": "sig", "alg": "ES256"})
    }

    pub fn jwk(&self, key: Key) -> Value {
        let kid = self.kid(key);
        match key {
            Key::Es => Idp::ec_jwk(&kid, &self.es),
            Key::EsNext => Idp::ec_jwk(&kid, &self.es_next),
            Key::Impostor => Idp::ec_jwk(&kid, &self.impostor),
            Key::Ed => json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(self.ed.public_key().as_ref()),
                              "kid": kid, "use": "sig", "alg": "EdDSA"}),
            Key::Rs256 | Key::Ps256 => {
                let public = RsaPublicKeyComponents::<Vec<u8>>::from(self.rsa.public());
                json!({"kty": "RSA", "n": b64url(&public.n), "e": b64url(&public.e), "kid": kid, "use": "sig"})
            }
        }
    }

    /// The published key set: `{"keys": [...]}`.
    pub fn jwks(&self, keys: &[Key]) -> Value {
        json!({ "keys": keys.iter().map(|k| self.jwk(*k)).collect::<Vec<_>>() })
    }

    pub fn default_jwks(&self) -> Value {
        self.jwks(&[Key::Es, Key::Ed, Key::Rs256])
    }

    pub fn discovery(&self) -> Value {
        let i = self.issuer;
        json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}/authorize"),
            "token_endpoint": token_url(i),
            "jwks_uri": jwks_url(i),
            "userinfo_endpoint": format!("{i}/userinfo"),
            "end_session_endpoint": format!("{i}/logout"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256", "EdDSA", "RS256", "PS256"],
            "code_challenge_methods_supported": ["S256"],
        })
    }

    pub fn raw_signature(&self, key: Key, signing_input: &[u8]) -> Vec<u8> {
        match key {
            Key::Es => self.es.sign(&self.rng, signing_input).unwrap().as_ref().to_vec(),
            Key::EsNext => self.es_next.sign(&self.rng, signing_input).unwrap().as_ref().to_vec(),
            Key::Impostor => self.impostor.sign(&self.rng, signing_input).unwrap().as_ref().to_vec(),
            Key::Ed => self.ed.sign(signing_input).as_ref().to_vec(),
            Key::Rs256 | Key::Ps256 => {
                let padding: &'static dyn signature::RsaEncoding =
                    if key == Key::Rs256 { &signature::RSA_PKCS1_SHA256 } else { &signature::RSA_PSS_SHA256 };
                let mut sig = vec![0u8; self.rsa.public().modulus_len()];
                self.rsa.sign(padding, &self.rng, signing_input, &mut sig).unwrap();
                sig
            }
        }
    }

    /// A compact JWS with the given header, signed with `key`.
    pub fn sign_with_header(&self, key: Key, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64url(header.to_string()), b64url(claims.to_string()));
        let sig = self.raw_signature(key, input.as_bytes());
        format!("{input}.{}", b64url(sig))
    }

    /// An ID token signed with `key` under its own `alg` and `kid`.
    pub fn sign(&self, key: Key, claims: &Value) -> String {
        let header = json!({"alg": Idp::alg(key), "kid": self.kid(key), "typ": "JWT"});
        self.sign_with_header(key, &header, claims)
    }
}

/// A compact JWS whose signature is computed by `sign` (for `none` and HMAC forgeries).
pub fn forge(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", b64url(header.to_string()), b64url(claims.to_string()));
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64url(sig))
}

/// RSA-OAEP decryption with the RustCrypto `rsa` crate (the host's stand-in for WebCrypto's, which the worker
/// uses): the SP's PKCS #8 DER private key, one hash for the OAEP digest and MGF1, no label.
pub fn rsa_oaep_decrypt(
    pkcs8: &[u8],
    hash: edge_auth::core::ports::OaepHash,
    encrypted: &[u8],
) -> Result<Vec<u8>, edge_auth::core::ports::UnwrapError> {
    use edge_auth::core::ports::{OaepHash, UnwrapError};
    use rsa::pkcs8::DecodePrivateKey;
    let key = rsa::RsaPrivateKey::from_pkcs8_der(pkcs8).map_err(|e| UnwrapError::PrivateKey(e.to_string()))?;
    let padding = match hash {
        OaepHash::Sha1 => rsa::Oaep::new::<sha1::Sha1>(),
        OaepHash::Sha256 => rsa::Oaep::new::<sha2::Sha256>(),
    };
    key.decrypt(padding, encrypted).map_err(|_| UnwrapError::Decrypt)
}
