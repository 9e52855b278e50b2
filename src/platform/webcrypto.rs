//! JWS (and XML-DSig) signature verification with WebCrypto (`crypto.subtle.importKey` + `crypto.subtle.verify`).
//! Imported `CryptoKey`s are cached per isolate, keyed by algorithm and public key.

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

use crate::core::oidc::jwks::{Alg, HashAlg, Jwk};
use crate::core::ports::CryptoError;

/// Bound on cached imported keys (an IdP publishes a handful; this stops growth from key churn).
const MAX_CACHED_KEYS: usize = 64;

thread_local! {
    static KEYS: RefCell<HashMap<(Alg, String), CryptoKey>> = RefCell::new(HashMap::new());
}

fn js_err(context: &str) -> impl Fn(JsValue) -> CryptoError + '_ {
    move |e| CryptoError(format!("{context}: {}", crate::platform::bindings::error_message(&e, "unknown error")))
}

pub(crate) fn subtle() -> Result<SubtleCrypto, CryptoError> {
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).map_err(js_err("crypto"))?;
    if crypto.is_undefined() {
        return Err(CryptoError("crypto is not available".into()));
    }
    Ok(crypto.unchecked_into::<web_sys::Crypto>().subtle())
}

pub(crate) fn object(entries: &[(&str, JsValue)]) -> Result<Object, CryptoError> {
    let o = Object::new();
    for (k, v) in entries {
        Reflect::set(&o, &JsValue::from_str(k), v).map_err(js_err("object"))?;
    }
    Ok(o)
}

fn hash_name(h: HashAlg) -> &'static str {
    match h {
        HashAlg::Sha256 => "SHA-256",
        HashAlg::Sha384 => "SHA-384",
        HashAlg::Sha512 => "SHA-512",
    }
}

fn hash_len(h: HashAlg) -> u32 {
    match h {
        HashAlg::Sha256 => 32,
        HashAlg::Sha384 => 48,
        HashAlg::Sha512 => 64,
    }
}

fn import_params(alg: Alg) -> Result<Object, CryptoError> {
    let hash = || object(&[("name", JsValue::from_str(hash_name(alg.hash())))]);
    match alg {
        Alg::RS256 | Alg::RS384 | Alg::RS512 => {
            object(&[("name", "RSASSA-PKCS1-v1_5".into()), ("hash", hash()?.into())])
        }
        Alg::PS256 | Alg::PS384 | Alg::PS512 => object(&[("name", "RSA-PSS".into()), ("hash", hash()?.into())]),
        Alg::ES256 => object(&[("name", "ECDSA".into()), ("namedCurve", "P-256".into())]),
        Alg::ES384 => object(&[("name", "ECDSA".into()), ("namedCurve", "P-384".into())]),
        Alg::EdDSA => object(&[("name", "Ed25519".into())]),
    }
}

fn verify_params(alg: Alg) -> Result<Object, CryptoError> {
    match alg {
        Alg::RS256 | Alg::RS384 | Alg::RS512 => object(&[("name", "RSASSA-PKCS1-v1_5".into())]),
        // RFC 7518 §3.5: the salt is as long as the hash.
        Alg::PS256 | Alg::PS384 | Alg::PS512 => {
            object(&[("name", "RSA-PSS".into()), ("saltLength", JsValue::from(hash_len(alg.hash())))])
        }
        Alg::ES256 | Alg::ES384 => object(&[
            ("name", "ECDSA".into()),
            ("hash", object(&[("name", JsValue::from_str(hash_name(alg.hash())))])?.into()),
        ]),
        Alg::EdDSA => object(&[("name", "Ed25519".into())]),
    }
}

async fn import(alg: Alg, key: &Jwk) -> Result<CryptoKey, CryptoError> {
    let cache_key = (alg, key.cache_key().to_string());
    if let Some(k) = KEYS.with(|c| c.borrow().get(&cache_key).cloned()) {
        return Ok(k);
    }
    let subtle = subtle()?;
    let jwk: Object = js_sys::JSON::parse(&key.public_jwk_json).map_err(js_err("jwk"))?.unchecked_into();
    let usages = Array::of1(&JsValue::from_str("verify"));
    let promise = subtle
        .import_key_with_object("jwk", &jwk, &import_params(alg)?, false, &usages)
        .map_err(js_err("importKey"))?;
    let imported: CryptoKey = JsFuture::from(promise).await.map_err(js_err("importKey"))?.unchecked_into();
    KEYS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX_CACHED_KEYS {
            c.clear();
        }
        c.insert(cache_key, imported.clone());
    });
    Ok(imported)
}

/// `Ok(true)` only when WebCrypto confirms the signature.
pub async fn verify(alg: Alg, key: &Jwk, signing_input: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
    let crypto_key = import(alg, key).await?;
    let promise = subtle()?
        .verify_with_object_and_u8_array_and_u8_array(&verify_params(alg)?, &crypto_key, signature, signing_input)
        .map_err(js_err("verify"))?;
    let result = JsFuture::from(promise).await.map_err(js_err("verify"))?;
    Ok(result.as_bool() == Some(true))
}

/// RSASSA-PKCS1-v1_5 with SHA-1 (XML-DSig `rsa-sha1`; SAML connectors with `allow_sha1` only): `Ok(true)` only
/// when WebCrypto confirms the signature. In the SAML build only, apart from the JOSE path (the OpenID
/// Connect-only worker is unchanged by it); the key is imported for each verification, not cached: this path is
/// rare, and a cache of its own cost more of the worker than the imports cost time.
#[cfg(feature = "xml")]
pub async fn verify_rsa_sha1(key: &Jwk, signed: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
    let subtle = subtle()?;
    let name = || JsValue::from_str("RSASSA-PKCS1-v1_5");
    let jwk: Object = js_sys::JSON::parse(&key.public_jwk_json).map_err(js_err("jwk"))?.unchecked_into();
    let params = object(&[("name", name()), ("hash", object(&[("name", "SHA-1".into())])?.into())])?;
    let usages = Array::of1(&JsValue::from_str("verify"));
    let promise = subtle.import_key_with_object("jwk", &jwk, &params, false, &usages).map_err(js_err("importKey"))?;
    let imported: CryptoKey = JsFuture::from(promise).await.map_err(js_err("importKey"))?.unchecked_into();
    let promise = subtle
        .verify_with_object_and_u8_array_and_u8_array(&object(&[("name", name())])?, &imported, signature, signed)
        .map_err(js_err("verify"))?;
    let result = JsFuture::from(promise).await.map_err(js_err("verify"))?;
    Ok(result.as_bool() == Some(true))
}

/// SHA-384/512 through `crypto.subtle.digest` (keeps SHA-512's code out of the wasm).
pub async fn digest(hash: HashAlg, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let promise = subtle()?.digest_with_str_and_u8_array(hash_name(hash), data).map_err(js_err("digest"))?;
    let buffer = JsFuture::from(promise).await.map_err(js_err("digest"))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// RSA-OAEP decryption of a transported content key (XML Encryption's `EncryptedKey`) with the SP's private key,
/// PKCS #8 DER: `importKey("pkcs8", …, {name: "RSA-OAEP", hash}, false, ["decrypt"])` then `decrypt`. The
/// imported key is not cached (this runs once per encrypted sign-in) and is not extractable.
pub async fn rsa_oaep_decrypt(
    private_key_pkcs8: &[u8],
    hash: crate::core::ports::OaepHash,
    encrypted_key: &[u8],
) -> Result<Vec<u8>, crate::core::ports::UnwrapError> {
    use crate::core::ports::{OaepHash, UnwrapError};
    let hash_name = match hash {
        OaepHash::Sha1 => "SHA-1",
        OaepHash::Sha256 => "SHA-256",
    };
    let private_key = |e: CryptoError| UnwrapError::PrivateKey(e.0);
    let subtle = subtle().map_err(private_key)?;
    let params = object(&[
        ("name", "RSA-OAEP".into()),
        ("hash", object(&[("name", hash_name.into())]).map_err(private_key)?.into()),
    ])
    .map_err(private_key)?;
    let key_data = js_sys::Uint8Array::from(private_key_pkcs8);
    let usages = Array::of1(&JsValue::from_str("decrypt"));
    let promise = subtle
        .import_key_with_object("pkcs8", &key_data, &params, false, &usages)
        .map_err(|e| private_key(js_err("importKey")(e)))?;
    let imported: CryptoKey =
        JsFuture::from(promise).await.map_err(|e| private_key(js_err("importKey")(e)))?.unchecked_into();
    let decrypt_params = object(&[("name", "RSA-OAEP".into())]).map_err(private_key)?;
    let promise = subtle
        .decrypt_with_object_and_u8_array(&decrypt_params, &imported, encrypted_key)
        .map_err(|_| UnwrapError::Decrypt)?;
    let buffer = JsFuture::from(promise).await.map_err(|_| UnwrapError::Decrypt)?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}
