//! XML Encryption 1.1, the part a SAML SP needs: an `EncryptedAssertion`'s content decrypted with the SP's
//! private key. Decryption is *not* authentication: anyone can encrypt to the SP's public certificate, so what
//! this module returns is trusted only when the ciphertext came from signed bytes, or when the plaintext
//! carries a signature of its own (the caller, [`crate::core::saml::verify_response`], decides).
//!
//! Accepted, all else refused with an [`XencError`] naming the rule:
//! - the container (a `saml:EncryptedAssertion`) holds exactly one `xenc:EncryptedData` (its `Type`, if any,
//!   `…xmlenc#Element`) and at most one `xenc:EncryptedKey` beside it; exactly one `EncryptedKey` in total,
//!   either inside the data's `ds:KeyInfo` or beside it (the `KeyInfo` then absent or holding only a
//!   `ds:RetrievalMethod` whose `URI` is `#` + that key's `Id`);
//! - content encryption AES-GCM (`xmlenc11#aes128-gcm`, `aes256-gcm`: `CipherValue` = 12-byte IV ‖ ciphertext
//!   ‖ 16-byte tag), the unwrapped key exactly as long as the algorithm's. AES-CBC (`xmlenc#aes*-cbc`) is
//!   refused: it is unauthenticated, and its padding oracle decrypts whole assertions (Jager & Somorovsky,
//!   2011); the issue allows it only behind an explicit option, which does not exist yet;
//! - key transport RSA-OAEP only: `xmlenc#rsa-oaep-mgf1p` (SHA-1 digest and MGF1-SHA-1: an explicit
//!   `DigestMethod` must be SHA-1) or `xmlenc11#rsa-oaep` with SHA-1/MGF1-SHA-1 or SHA-256/MGF1-SHA-256 (one
//!   hash for both, as WebCrypto takes). No `OAEPparams` (label). RSA PKCS #1 v1.5 (`rsa-1_5`) is refused
//!   (Bleichenbacher);
//! - `CipherData` holds one `CipherValue` (base64, whitespace allowed), never a `CipherReference`; sizes
//!   bounded ([`MAX_ENCRYPTED_KEY_BYTES`]; the data by the document's own limit).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};

use super::dsig::DSIG_NS;
use super::{Element, XmlError};
use crate::core::b64;
use crate::core::ports::{KeyUnwrapper, OaepHash, UnwrapError};

pub const XENC_NS: &str = "http://www.w3.org/2001/04/xmlenc#";
pub const XENC11_NS: &str = "http://www.w3.org/2009/xmlenc11#";

const TYPE_ELEMENT: &str = "http://www.w3.org/2001/04/xmlenc#Element";
const TYPE_ENCRYPTED_KEY: &str = "http://www.w3.org/2001/04/xmlenc#EncryptedKey";
pub const AES128_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes128-gcm";
pub const AES256_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes256-gcm";
const AES_CBC: [&str; 3] = [
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes192-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
];
pub const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
pub const RSA_OAEP: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
const RSA_1_5: &str = "http://www.w3.org/2001/04/xmlenc#rsa-1_5";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const MGF1_SHA1: &str = "http://www.w3.org/2009/xmlenc11#mgf1sha1";
const MGF1_SHA256: &str = "http://www.w3.org/2009/xmlenc11#mgf1sha256";

/// The (content, key transport) algorithms the SP metadata announces, in order of preference.
pub const ACCEPTED_ALGORITHMS: [&str; 4] = [AES256_GCM, AES128_GCM, RSA_OAEP, RSA_OAEP_MGF1P];

/// Largest RSA-encrypted key accepted: a 16384-bit modulus.
pub const MAX_ENCRYPTED_KEY_BYTES: usize = 2048;
const GCM_IV_BYTES: usize = 12;
const GCM_TAG_BYTES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XencError {
    Xml(XmlError),
    /// An element is missing, repeated or not accepted where it is (named).
    Structure(&'static str),
    /// An algorithm outside the accepted set (named).
    Algorithm(&'static str),
    /// A base64 value is malformed, or a size is out of bounds (named).
    Encoding(&'static str),
    /// The SP's private key could not be used (the operator's configuration; the message has no key material).
    PrivateKey(String),
    /// The encrypted key does not decrypt with the SP's private key.
    KeyTransport,
    /// The unwrapped key is not as long as the content algorithm's key.
    KeyLength,
    /// The content does not decrypt (the GCM tag does not verify: tampered, or another key).
    Decryption,
    /// The plaintext is not UTF-8.
    Plaintext,
}

impl From<XmlError> for XencError {
    fn from(e: XmlError) -> XencError {
        XencError::Xml(e)
    }
}

impl std::fmt::Display for XencError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            XencError::Xml(e) => write!(f, "{e}"),
            XencError::Structure(what) => write!(f, "the encrypted element's structure is not accepted: {what}"),
            XencError::Algorithm(what) => write!(f, "{what} not accepted"),
            XencError::Encoding(what) => write!(f, "{what} is not base64 of an accepted size"),
            XencError::PrivateKey(message) => write!(f, "the SP decryption key (sp_decryption_key_binding): {message}"),
            XencError::KeyTransport => f.write_str("the encrypted key does not decrypt with the SP's private key"),
            XencError::KeyLength => f.write_str("the decrypted key is not as long as the content algorithm's"),
            XencError::Decryption => f.write_str("the content does not decrypt (AES-GCM tag mismatch)"),
            XencError::Plaintext => f.write_str("the decrypted content is not UTF-8"),
        }
    }
}

impl std::error::Error for XencError {}

/// The SP's private key (PKCS #8 DER), read from its Worker secret. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct DecryptionKey {
    pkcs8_der: Vec<u8>,
}

impl std::fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DecryptionKey(..)")
    }
}

impl DecryptionKey {
    /// A PKCS #8 PEM private key (`-----BEGIN PRIVATE KEY-----`). `Err` says what is wrong ("is not …"),
    /// never the key.
    pub fn from_pem(text: &str) -> Result<DecryptionKey, &'static str> {
        let body = text
            .trim()
            .strip_prefix("-----BEGIN PRIVATE KEY-----")
            .and_then(|rest| rest.trim_end().strip_suffix("-----END PRIVATE KEY-----"))
            .ok_or(
                "is not a PKCS #8 PEM private key (-----BEGIN PRIVATE KEY-----; convert a BEGIN RSA PRIVATE KEY \
                 with `openssl pkcs8 -topk8 -nocrypt`)",
            )?;
        let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        if compact.len() > 16 * 1024 {
            return Err("is larger than 12 KiB");
        }
        let pkcs8_der = b64::decode_lenient(&compact).ok_or("is not base64 inside its PEM armour")?;
        Ok(DecryptionKey { pkcs8_der })
    }

    pub fn from_der(pkcs8_der: Vec<u8>) -> DecryptionKey {
        DecryptionKey { pkcs8_der }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ContentAlg {
    Aes128Gcm,
    Aes256Gcm,
}

impl ContentAlg {
    fn key_len(self) -> usize {
        match self {
            ContentAlg::Aes128Gcm => 16,
            ContentAlg::Aes256Gcm => 32,
        }
    }
}

/// An encrypted element, read and checked, not decrypted yet.
#[derive(Debug, Clone)]
pub struct EncryptedElement {
    content_alg: ContentAlg,
    key_hash: OaepHash,
    encrypted_key: Vec<u8>,
    cipher: Vec<u8>,
}

/// The child elements of `parent`, in order, each one of `names` ((namespace, local name), optional); a child
/// matching none of them, a repeat, or another order is refused.
fn ordered_children<'a, 'input>(
    parent: Element<'a, 'input>,
    names: &[(&'static str, &'static str, bool)],
    what: &'static str,
) -> Result<Vec<Option<Element<'a, 'input>>>, XencError> {
    let mut found: Vec<Option<Element<'a, 'input>>> = vec![None; names.len()];
    let mut next = 0;
    for child in parent.child_elements() {
        let Some(index) = names.iter().skip(next).position(|(ns, name, _)| child.is(ns, name)).map(|i| i + next) else {
            return Err(XencError::Structure(what));
        };
        if let Some(slot) = found.get_mut(index) {
            *slot = Some(child);
        }
        next = index + 1;
    }
    for ((_, _, optional), slot) in names.iter().zip(&found) {
        if slot.is_none() && !optional {
            return Err(XencError::Structure(what));
        }
    }
    Ok(found)
}

/// The bytes of a `CipherData`: its one `CipherValue` (no `CipherReference`), at most `max` bytes.
fn cipher_value(cipher_data: Element<'_, '_>, max: usize, what: &'static str) -> Result<Vec<u8>, XencError> {
    let mut children = cipher_data.child_elements();
    let (Some(value), None) = (children.next(), children.next()) else {
        return Err(XencError::Structure("CipherData holds one CipherValue"));
    };
    if !value.is(XENC_NS, "CipherValue") {
        return Err(XencError::Structure("CipherData holds one CipherValue (no CipherReference)"));
    }
    let compact: String = value.text()?.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() || compact.len() > max.div_ceil(3) * 4 {
        return Err(XencError::Encoding(what));
    }
    let bytes = b64::decode_lenient(&compact).ok_or(XencError::Encoding(what))?;
    if bytes.len() > max {
        return Err(XencError::Encoding(what));
    }
    Ok(bytes)
}

fn content_alg(method: Element<'_, '_>) -> Result<ContentAlg, XencError> {
    if method.child_elements().next().is_some() {
        return Err(XencError::Structure("the content EncryptionMethod has no content"));
    }
    match method.attribute(None, "Algorithm").unwrap_or_default() {
        AES128_GCM => Ok(ContentAlg::Aes128Gcm),
        AES256_GCM => Ok(ContentAlg::Aes256Gcm),
        uri if AES_CBC.contains(&uri) => {
            Err(XencError::Algorithm("AES-CBC content encryption (unauthenticated; configure the IdP for AES-GCM)"))
        }
        _ => Err(XencError::Algorithm("content encryption algorithm")),
    }
}

fn key_transport(method: Element<'_, '_>) -> Result<OaepHash, XencError> {
    let algorithm = method.attribute(None, "Algorithm").unwrap_or_default();
    let (mut digest, mut mgf) = (None, None);
    for child in method.child_elements() {
        let slot = if child.is(DSIG_NS, "DigestMethod") {
            &mut digest
        } else if child.is(XENC11_NS, "MGF") && algorithm == RSA_OAEP {
            &mut mgf
        } else if child.is(XENC_NS, "OAEPparams") {
            return Err(XencError::Algorithm("an OAEP label (OAEPparams)"));
        } else {
            return Err(XencError::Structure("the key transport EncryptionMethod's content"));
        };
        if slot.is_some() || child.child_elements().next().is_some() {
            return Err(XencError::Structure("the key transport EncryptionMethod's content"));
        }
        *slot = Some(child.attribute(None, "Algorithm").unwrap_or_default());
    }
    match (algorithm, digest.unwrap_or(SHA1), mgf.unwrap_or(MGF1_SHA1)) {
        (RSA_OAEP_MGF1P, SHA1, _) => Ok(OaepHash::Sha1),
        (RSA_OAEP, SHA1, MGF1_SHA1) => Ok(OaepHash::Sha1),
        (RSA_OAEP, SHA256, MGF1_SHA256) => Ok(OaepHash::Sha256),
        (RSA_OAEP_MGF1P | RSA_OAEP, ..) => {
            Err(XencError::Algorithm("RSA-OAEP digest and MGF (SHA-1/MGF1-SHA-1 or SHA-256/MGF1-SHA-256)"))
        }
        (RSA_1_5, ..) => Err(XencError::Algorithm("RSA PKCS #1 v1.5 key transport (use RSA-OAEP)")),
        _ => Err(XencError::Algorithm("key transport algorithm")),
    }
}

/// An `xenc:EncryptedKey`: its transport algorithm and its encrypted bytes. Its own `ds:KeyInfo` (often the
/// SP certificate) is not read: the SP has one decryption key.
fn read_encrypted_key(key: Element<'_, '_>) -> Result<(OaepHash, Vec<u8>), XencError> {
    let parts = ordered_children(
        key,
        &[
            (XENC_NS, "EncryptionMethod", false),
            (DSIG_NS, "KeyInfo", true),
            (XENC_NS, "CipherData", false),
            (XENC_NS, "ReferenceList", true),
            (XENC_NS, "CarriedKeyName", true),
        ],
        "EncryptedKey holds EncryptionMethod, KeyInfo?, CipherData, ReferenceList?, CarriedKeyName?",
    )?;
    let (Some(Some(method)), Some(Some(cipher_data))) = (parts.first(), parts.get(2)) else {
        return Err(XencError::Structure("EncryptedKey"));
    };
    let hash = key_transport(*method)?;
    let encrypted = cipher_value(*cipher_data, MAX_ENCRYPTED_KEY_BYTES, "the EncryptedKey's CipherValue")?;
    Ok((hash, encrypted))
}

/// Read and check an encrypted container (a `saml:EncryptedAssertion`): see the module documentation.
pub fn read_encrypted(container: Element<'_, '_>) -> Result<EncryptedElement, XencError> {
    let mut data = None;
    let mut sibling_keys = Vec::new();
    for child in container.child_elements() {
        if child.is(XENC_NS, "EncryptedData") && data.is_none() {
            data = Some(child);
        } else if child.is(XENC_NS, "EncryptedKey") && data.is_some() {
            sibling_keys.push(child);
        } else {
            return Err(XencError::Structure("one EncryptedData, then EncryptedKey elements"));
        }
    }
    let data = data.ok_or(XencError::Structure("one EncryptedData"))?;
    if data.attribute(None, "Type").is_some_and(|t| t != TYPE_ELEMENT) {
        return Err(XencError::Structure("the EncryptedData's Type is Element"));
    }
    let parts = ordered_children(
        data,
        &[(XENC_NS, "EncryptionMethod", false), (DSIG_NS, "KeyInfo", true), (XENC_NS, "CipherData", false)],
        "EncryptedData holds EncryptionMethod, KeyInfo?, CipherData",
    )?;
    let (Some(Some(method)), Some(key_info), Some(Some(cipher_data))) = (parts.first(), parts.get(1), parts.get(2))
    else {
        return Err(XencError::Structure("EncryptedData"));
    };
    let content_alg = content_alg(*method)?;

    // Exactly one EncryptedKey in total: inside KeyInfo, or beside EncryptedData (then KeyInfo, if present,
    // only points at it).
    let keys_inside = key_info.map_or(0, |info| info.children_named(XENC_NS, "EncryptedKey").count());
    if keys_inside + sibling_keys.len() != 1 {
        return Err(XencError::Structure("exactly one EncryptedKey"));
    }
    let key = match (key_info, sibling_keys.as_slice()) {
        (Some(info), []) => {
            let mut children = info.child_elements();
            match (children.next(), children.next()) {
                (Some(key), None) if key.is(XENC_NS, "EncryptedKey") => key,
                _ => return Err(XencError::Structure("the EncryptedData's KeyInfo holds one EncryptedKey")),
            }
        }
        (None, [key]) => *key,
        (Some(info), [key]) => {
            let mut children = info.child_elements();
            let (Some(retrieval), None) = (children.next(), children.next()) else {
                return Err(XencError::Structure("exactly one EncryptedKey"));
            };
            let id = key.attribute(None, "Id").filter(|id| !id.is_empty());
            let points_at_key = retrieval.is(DSIG_NS, "RetrievalMethod")
                && retrieval.child_elements().next().is_none()
                && retrieval.attribute(None, "Type").is_none_or(|t| t == TYPE_ENCRYPTED_KEY)
                && id.is_some()
                && retrieval.attribute(None, "URI").and_then(|u| u.strip_prefix('#')) == id;
            if !points_at_key {
                return Err(XencError::Structure("the KeyInfo's RetrievalMethod names the EncryptedKey"));
            }
            *key
        }
        _ => return Err(XencError::Structure("exactly one EncryptedKey")),
    };
    let (key_hash, encrypted_key) = read_encrypted_key(key)?;
    let cipher = cipher_value(*cipher_data, super::MAX_DOCUMENT_BYTES, "the EncryptedData's CipherValue")?;
    if cipher.len() < GCM_IV_BYTES + GCM_TAG_BYTES {
        return Err(XencError::Encoding("the EncryptedData's CipherValue"));
    }
    Ok(EncryptedElement { content_alg, key_hash, encrypted_key, cipher })
}

impl EncryptedElement {
    /// Unwrap the content key with `key` (RSA-OAEP, through the platform) and decrypt the content (AES-GCM,
    /// tag verified). The plaintext is untrusted text: parse it as any other input.
    pub async fn decrypt<U: KeyUnwrapper>(&self, key: &DecryptionKey, unwrapper: &U) -> Result<String, XencError> {
        let content_key = unwrapper
            .rsa_oaep_decrypt(&key.pkcs8_der, self.key_hash, &self.encrypted_key)
            .await
            .map_err(|e| match e {
                UnwrapError::PrivateKey(message) => XencError::PrivateKey(message),
                UnwrapError::Decrypt => XencError::KeyTransport,
            })?;
        if content_key.len() != self.content_alg.key_len() {
            return Err(XencError::KeyLength);
        }
        let (iv, sealed) = self.cipher.split_at(GCM_IV_BYTES);
        let nonce = Nonce::from_slice(iv);
        let plaintext = match self.content_alg {
            ContentAlg::Aes128Gcm => {
                Aes128Gcm::new_from_slice(&content_key).map_err(|_| XencError::KeyLength)?.decrypt(nonce, sealed)
            }
            ContentAlg::Aes256Gcm => {
                Aes256Gcm::new_from_slice(&content_key).map_err(|_| XencError::KeyLength)?.decrypt(nonce, sealed)
            }
        }
        .map_err(|_| XencError::Decryption)?;
        String::from_utf8(plaintext).map_err(|_| XencError::Plaintext)
    }
}
