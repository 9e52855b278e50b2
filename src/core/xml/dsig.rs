//! XML Signature (<https://www.w3.org/TR/xmldsig-core1/>), only the shape SAML 2.0 and WS-Federation use: an
//! **enveloped** signature over the element that contains it, referenced by that element's ID. Everything else
//! is refused, because every extra a verifier honours has been a bypass somewhere (XSW1–8, references to other
//! elements or documents, extra transforms, `Object`/`Manifest`, a second `Reference`, `KeyInfo` keys).
//!
//! [`check_enveloped`] checks the structure and the digest; what it returns ([`SignedElement`]) still needs its
//! signature verified against the *configured* keys ([`SignedElement::verify`], through WebCrypto — `KeyInfo`
//! is never read). What a protocol may then read is [`VerifiedBytes`]: the canonical bytes the digest covered,
//! to be parsed again, so that nothing outside the signed bytes — a sibling, a wrapper, a comment, text the
//! signature excluded — can ever reach a claim.
//!
//! The rules, each refused with its own [`DsigError`]:
//! - `ds:Signature` holds exactly `SignedInfo`, `SignatureValue` and optionally `KeyInfo`, in that order; no
//!   `Object`, nothing else;
//! - `SignedInfo` holds exactly `CanonicalizationMethod` (exclusive c14n without comments, optionally with an
//!   `InclusiveNamespaces` PrefixList), `SignatureMethod` (RSA-SHA256/384/512, ECDSA-SHA256/384; RSA-SHA1 only
//!   under [`Sha1::Allowed`]) and **one** `Reference`;
//! - the `Reference` URI is `#` + the ID of the signature's parent element, that ID is carried by no other
//!   element of the document (every ID-like attribute is indexed: [`index_ids`]), its transforms are exactly
//!   enveloped-signature then exclusive c14n (optionally with a PrefixList), its `DigestMethod` SHA-256/384/512
//!   (SHA-1 only under [`Sha1::Allowed`]) and its `DigestValue` the digest of the parent's canonical form without
//!   the signature, compared in constant time;
//! - the `SignatureValue` is base64 (whitespace allowed), and verifies over the canonical `SignedInfo` with one
//!   of the configured keys of the matching type.
//!
//! SHA-1 is **deprecated** (collisions are practical: SHAttered, 2017; chosen-prefix ones, "SHA-1 is a
//! Shambles", 2020) and refused unless the caller passes [`Sha1::Allowed`] to [`check_enveloped_with`]: only a SAML
//! connector with `allow_sha1: true` does, for an IdP that cannot sign otherwise. Even then the only additions
//! are `rsa-sha1` (RSASSA-PKCS1-v1_5 with SHA-1, verified through WebCrypto like the others:
//! [`SignatureVerifier::verify_rsa_sha1`], never a JOSE [`Alg`], so no OpenID Connect path can reach it) and the
//! `sha1` digest; no ECDSA-SHA1, DSA or HMAC. [`check_enveloped`] (WS-Federation, and every caller without the
//! option) refuses both.

use subtle::ConstantTimeEq;

use super::c14n::{canonicalize, Options};
use super::{Document, Element, XmlError};
use crate::core::b64;
use crate::core::oidc::jwks::{Alg, HashAlg, Jwk, KeyMaterial};
use crate::core::ports::SignatureVerifier;

pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
const ECDSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#sha384";
const SHA512: &str = "http://www.w3.org/2001/04/xmlenc#sha512";
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// Whether SHA-1 — `rsa-sha1` signatures and `sha1` digests, in any combination — is accepted. Deprecated:
/// [`Sha1::Allowed`] only for a SAML connector whose operator set `allow_sha1: true` for an IdP that cannot sign
/// with SHA-256; everything else refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sha1 {
    #[default]
    Refused,
    Allowed,
}

impl Sha1 {
    /// [`Sha1::Allowed`] when `allow_sha1` (a SAML connector's option) is set.
    pub fn allowed_if(allow_sha1: bool) -> Sha1 {
        if allow_sha1 {
            Sha1::Allowed
        } else {
            Sha1::Refused
        }
    }
}

/// The unprefixed attributes that carry an element's ID in the XML protocols: SAML 2.0 `ID`, SAML 1.1
/// `AssertionID` and `ResponseID`, WS-Security / XML-DSig `Id`. All are indexed together: a document in which
/// two elements carry one value is refused whatever the attribute, so a reference can never resolve two ways.
pub const ID_ATTRIBUTES: [&str; 4] = ["ID", "AssertionID", "ResponseID", "Id"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DsigError {
    /// The document is not one the XML core reads (or canonicalises).
    Xml(XmlError),
    /// Two elements carry the same ID value.
    DuplicateId,
    /// An element of the signature is missing, repeated, out of order, or not expected there (named).
    Structure(&'static str),
    /// An algorithm outside the accepted set (named by its URI is not repeated here: it is document content).
    Algorithm(&'static str),
    /// The Reference does not name the signature's parent element.
    Reference,
    /// The transforms are not exactly enveloped-signature then exclusive c14n.
    Transforms,
    /// A base64 value is malformed.
    Encoding(&'static str),
    /// The digest of the signed element is not the one in the signature.
    DigestMismatch,
    /// No configured key verifies the signature.
    BadSignature,
}

impl From<XmlError> for DsigError {
    fn from(e: XmlError) -> DsigError {
        DsigError::Xml(e)
    }
}

impl std::fmt::Display for DsigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DsigError::Xml(e) => write!(f, "{e}"),
            DsigError::DuplicateId => f.write_str("two elements carry the same ID"),
            DsigError::Structure(what) => write!(f, "the signature's structure is not accepted: {what}"),
            DsigError::Algorithm(what) => write!(f, "{what} algorithm not accepted"),
            DsigError::Reference => f.write_str("the signature does not reference the element that holds it"),
            DsigError::Transforms => {
                f.write_str("the transforms are not exactly enveloped-signature then exclusive c14n")
            }
            DsigError::Encoding(what) => write!(f, "{what} is not base64"),
            DsigError::DigestMismatch => f.write_str("the signed element does not match its digest"),
            DsigError::BadSignature => f.write_str("no configured certificate verifies the signature"),
        }
    }
}

impl std::error::Error for DsigError {}

/// Refuse a document in which two elements carry the same value in any of [`ID_ATTRIBUTES`].
pub fn index_ids(document: &Document<'_>) -> Result<(), DsigError> {
    let mut seen: Vec<&str> = Vec::new();
    for element in document.elements() {
        for name in ID_ATTRIBUTES {
            if let Some(id) = element.attribute(None, name) {
                if seen.contains(&id) {
                    return Err(DsigError::DuplicateId);
                }
                seen.push(id);
            }
        }
    }
    Ok(())
}

/// The algorithm of a `SignatureMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignatureAlg {
    /// One JOSE names too, verified as such (RSASSA-PKCS1-v1_5 as JOSE's `RS*`; ECDSA values in XML-DSig are
    /// r‖s, WebCrypto's format, as in JOSE).
    Jose(Alg),
    /// RSASSA-PKCS1-v1_5 with SHA-1 (`rsa-sha1`), under [`Sha1::Allowed`] only. Deliberately not an [`Alg`].
    RsaSha1,
}

fn signature_alg(uri: &str, sha1: Sha1) -> Result<SignatureAlg, DsigError> {
    Ok(match uri {
        RSA_SHA256 => SignatureAlg::Jose(Alg::RS256),
        RSA_SHA384 => SignatureAlg::Jose(Alg::RS384),
        RSA_SHA512 => SignatureAlg::Jose(Alg::RS512),
        ECDSA_SHA256 => SignatureAlg::Jose(Alg::ES256),
        ECDSA_SHA384 => SignatureAlg::Jose(Alg::ES384),
        RSA_SHA1 if sha1 == Sha1::Allowed => SignatureAlg::RsaSha1,
        _ => return Err(DsigError::Algorithm("signature")),
    })
}

/// The algorithm of a `DigestMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DigestAlg {
    Sha2(HashAlg),
    /// Under [`Sha1::Allowed`] only.
    Sha1,
}

fn digest_alg(uri: &str, sha1: Sha1) -> Result<DigestAlg, DsigError> {
    Ok(match uri {
        SHA256 => DigestAlg::Sha2(HashAlg::Sha256),
        SHA384 => DigestAlg::Sha2(HashAlg::Sha384),
        SHA512 => DigestAlg::Sha2(HashAlg::Sha512),
        SHA1 if sha1 == Sha1::Allowed => DigestAlg::Sha1,
        _ => return Err(DsigError::Algorithm("digest")),
    })
}

impl DigestAlg {
    /// Computed in Rust: the digest is checked, synchronously, before anything is verified.
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            DigestAlg::Sha2(hash) => hash.digest_in_software(data),
            DigestAlg::Sha1 => {
                use sha1::Digest;
                sha1::Sha1::digest(data).to_vec()
            }
        }
    }
}

/// An enveloped signature whose structure and digest checked out: its signature is not verified yet.
#[derive(Debug, Clone)]
pub struct SignedElement<'a, 'input> {
    /// The element the signature covers (the signature's parent).
    pub element: Element<'a, 'input>,
    /// The canonical form of `element` without the signature: exactly the bytes the digest covers.
    signed_bytes: String,
    /// The canonical `SignedInfo`: what the signature value signs.
    signed_info: Vec<u8>,
    signature_value: Vec<u8>,
    alg: SignatureAlg,
}

/// The bytes of an element whose signature verified: the only input a protocol reads claims from (parse them
/// again with [`super::parse`]; they are canonical XML, namespace declarations included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBytes(String);

impl VerifiedBytes {
    /// The canonical text (canonical XML is UTF-8).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The canonical form of the root of `decrypted`, a document decrypted from an encrypted element taken from
    /// verified bytes (XML Encryption inside a signed SAML Response): the ciphertext was signed, so its
    /// plaintext is what the signer sent. Only for that case: decrypted bytes from anywhere else prove nothing
    /// (anyone can encrypt to the SP's certificate).
    pub(crate) fn decrypted_from_signed(decrypted: &Document<'_>) -> Result<VerifiedBytes, DsigError> {
        let bytes = canonicalize(decrypted.root_element(), &Options::default())?;
        String::from_utf8(bytes).map(VerifiedBytes).map_err(|_| DsigError::Structure("canonical form"))
    }

    /// The one child element `{namespace}local_name` of the signed element, as signed bytes of its own (its
    /// exclusive canonical form: everything inside signed bytes is signed). Refused when there is none or more
    /// than one.
    pub fn child(&self, namespace: &str, local_name: &str) -> Result<VerifiedBytes, DsigError> {
        let document = super::parse(&self.0)?;
        let mut children = document.root_element().children_named(namespace, local_name);
        let (Some(child), None) = (children.next(), children.next()) else {
            return Err(DsigError::Structure("one signed child"));
        };
        let bytes = canonicalize(child, &Options::default())?;
        String::from_utf8(bytes).map(VerifiedBytes).map_err(|_| DsigError::Structure("canonical form"))
    }
}

/// Exactly the child elements of `parent`, in order, named `names` (`optional` ones may be missing, at the
/// end); anything else (another element, a repeat, another order) is refused.
fn children<'a, 'input>(
    parent: Element<'a, 'input>,
    names: &[(&'static str, bool)],
    what: &'static str,
) -> Result<Vec<Option<Element<'a, 'input>>>, DsigError> {
    let mut found: Vec<Option<Element<'a, 'input>>> = vec![None; names.len()];
    let mut next = 0;
    for child in parent.child_elements() {
        let Some(index) = names.iter().skip(next).position(|(name, _)| child.is(DSIG_NS, name)).map(|i| i + next)
        else {
            return Err(DsigError::Structure(what));
        };
        if let Some(slot) = found.get_mut(index) {
            *slot = Some(child);
        }
        next = index + 1;
    }
    for ((_, optional), slot) in names.iter().zip(&found) {
        if slot.is_none() && !optional {
            return Err(DsigError::Structure(what));
        }
    }
    Ok(found)
}

/// The `PrefixList` of an exclusive-c14n method element's optional `ec:InclusiveNamespaces` child (its only
/// allowed child).
fn inclusive_prefixes<'a>(method: Element<'a, '_>) -> Result<Vec<&'a str>, DsigError> {
    let mut prefixes = Vec::new();
    let mut seen = false;
    for child in method.child_elements() {
        if seen || !child.is(EXC_C14N, "InclusiveNamespaces") {
            return Err(DsigError::Structure("c14n method content"));
        }
        seen = true;
        let list = child.attribute(None, "PrefixList").ok_or(DsigError::Structure("PrefixList"))?;
        prefixes.extend(list.split_ascii_whitespace());
    }
    Ok(prefixes)
}

fn base64_value(element: Element<'_, '_>, what: &'static str) -> Result<Vec<u8>, DsigError> {
    let text = element.text()?;
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(DsigError::Encoding(what));
    }
    b64::decode_lenient(&compact).ok_or(DsigError::Encoding(what))
}

/// Check the enveloped `signature` (a `ds:Signature` element of `document`): the document's IDs
/// ([`index_ids`]), then the signature's structure, algorithms, reference and digest. See the module
/// documentation. SHA-1 is refused ([`check_enveloped_with`] takes the policy).
pub fn check_enveloped<'a, 'input>(
    document: &'a Document<'input>,
    signature: Element<'a, 'input>,
) -> Result<SignedElement<'a, 'input>, DsigError> {
    check_enveloped_with(document, signature, Sha1::Refused)
}

/// [`check_enveloped`], with SHA-1 (signature and digest) accepted only under [`Sha1::Allowed`].
pub fn check_enveloped_with<'a, 'input>(
    document: &'a Document<'input>,
    signature: Element<'a, 'input>,
    sha1: Sha1,
) -> Result<SignedElement<'a, 'input>, DsigError> {
    index_ids(document)?;
    if !signature.is(DSIG_NS, "Signature") {
        return Err(DsigError::Structure("Signature"));
    }
    let element = signature.parent_element().ok_or(DsigError::Reference)?;
    let parts =
        children(signature, &[("SignedInfo", false), ("SignatureValue", false), ("KeyInfo", true)], "Signature")?;
    let (Some(Some(signed_info)), Some(Some(signature_value))) = (parts.first(), parts.get(1)) else {
        return Err(DsigError::Structure("Signature"));
    };
    let info = children(
        *signed_info,
        &[("CanonicalizationMethod", false), ("SignatureMethod", false), ("Reference", false)],
        "SignedInfo",
    )?;
    let (Some(Some(c14n_method)), Some(Some(signature_method)), Some(Some(reference))) =
        (info.first(), info.get(1), info.get(2))
    else {
        return Err(DsigError::Structure("SignedInfo"));
    };
    if c14n_method.attribute(None, "Algorithm") != Some(EXC_C14N) {
        return Err(DsigError::Algorithm("canonicalization"));
    }
    let signed_info_prefixes = inclusive_prefixes(*c14n_method)?;
    if signature_method.child_elements().next().is_some() {
        return Err(DsigError::Structure("SignatureMethod content"));
    }
    let alg = signature_alg(signature_method.attribute(None, "Algorithm").unwrap_or_default(), sha1)?;

    // The reference: `#` + the ID of the element that holds the signature, by node identity.
    let uri = reference.attribute(None, "URI").ok_or(DsigError::Reference)?;
    let id = uri.strip_prefix('#').filter(|id| !id.is_empty()).ok_or(DsigError::Reference)?;
    if !ID_ATTRIBUTES.iter().any(|name| element.attribute(None, name) == Some(id)) {
        return Err(DsigError::Reference);
    }
    let parts =
        children(*reference, &[("Transforms", false), ("DigestMethod", false), ("DigestValue", false)], "Reference")?;
    let (Some(Some(transforms)), Some(Some(digest_method)), Some(Some(digest_value))) =
        (parts.first(), parts.get(1), parts.get(2))
    else {
        return Err(DsigError::Structure("Reference"));
    };
    let transforms: Vec<Element<'a, 'input>> = transforms.child_elements().collect();
    let [enveloped, exclusive] = transforms.as_slice() else { return Err(DsigError::Transforms) };
    if !enveloped.is(DSIG_NS, "Transform")
        || !exclusive.is(DSIG_NS, "Transform")
        || enveloped.attribute(None, "Algorithm") != Some(ENVELOPED_SIGNATURE)
        || enveloped.child_elements().next().is_some()
        || exclusive.attribute(None, "Algorithm") != Some(EXC_C14N)
    {
        return Err(DsigError::Transforms);
    }
    let reference_prefixes = inclusive_prefixes(*exclusive)?;
    if digest_method.child_elements().next().is_some() {
        return Err(DsigError::Structure("DigestMethod content"));
    }
    let digest_alg = digest_alg(digest_method.attribute(None, "Algorithm").unwrap_or_default(), sha1)?;
    let expected = base64_value(*digest_value, "DigestValue")?;

    let signed_bytes =
        canonicalize(element, &Options { inclusive_prefixes: &reference_prefixes, exclude: Some(signature) })?;
    let actual = digest_alg.digest(&signed_bytes);
    if actual.len() != expected.len() || !bool::from(actual.ct_eq(&expected)) {
        return Err(DsigError::DigestMismatch);
    }
    let signed_info_bytes =
        canonicalize(*signed_info, &Options { inclusive_prefixes: &signed_info_prefixes, exclude: None })?;
    let signed_bytes = String::from_utf8(signed_bytes).map_err(|_| DsigError::Structure("canonical form"))?;
    Ok(SignedElement {
        element,
        signed_bytes,
        signed_info: signed_info_bytes,
        signature_value: base64_value(*signature_value, "SignatureValue")?,
        alg,
    })
}

impl SignedElement<'_, '_> {
    /// Verify the signature with the configured keys only (any of them: certificate rollover); the key type
    /// must match the algorithm. On success, the signed bytes.
    pub async fn verify<V: SignatureVerifier>(self, keys: &[Jwk], verifier: &V) -> Result<VerifiedBytes, DsigError> {
        for key in keys {
            let verified = match self.alg {
                SignatureAlg::Jose(alg) => {
                    key.suits(alg)
                        && verifier.verify(alg, key, &self.signed_info, &self.signature_value).await == Ok(true)
                }
                // An RSA key that names no algorithm of its own (certificates never do).
                SignatureAlg::RsaSha1 => {
                    matches!(key.material, KeyMaterial::Rsa { .. })
                        && key.alg.is_none()
                        && verifier.verify_rsa_sha1(key, &self.signed_info, &self.signature_value).await == Ok(true)
                }
            };
            if verified {
                return Ok(VerifiedBytes(self.signed_bytes));
            }
        }
        Err(DsigError::BadSignature)
    }
}
