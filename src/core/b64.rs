//! Strict base64url (RFC 4648 §5, no padding), as JOSE and our cookies use it.
//!
//! Decoding refuses padding, the standard alphabet (`+`, `/`), whitespace and non-canonical trailing bits,
//! so that one byte string has exactly one encoding.

use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

const STRICT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    STRICT.encode(bytes)
}

/// Standard base64 with padding (RFC 4648 §4), as SAML's bindings use it.
pub fn encode_standard(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Strict decode; `None` on any deviation.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    STRICT.decode(text).ok()
}

/// Lenient decode for operator-supplied keys (`SESSION_KEYS`): accepts base64url or standard base64,
/// with or without padding.
pub fn decode_lenient(text: &str) -> Option<Vec<u8>> {
    let normalised: String = text
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &URL_SAFE,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    LENIENT.decode(normalised).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(decode(&encode(&bytes)).unwrap(), bytes);
        }
    }

    #[test]
    fn refuses_padding_standard_alphabet_and_noncanonical_bits() {
        assert_eq!(decode("AQ").unwrap(), vec![1]);
        assert!(decode("AQ==").is_none(), "padding");
        assert!(decode("+w").is_none(), "standard alphabet");
        assert!(decode("/w").is_none(), "standard alphabet");
        assert!(decode("AR").is_none(), "non-canonical trailing bits");
        assert!(decode("A Q").is_none(), "whitespace");
        assert!(decode("A").is_none(), "impossible length");
    }

    #[test]
    fn lenient_accepts_both_alphabets_and_padding() {
        assert_eq!(decode_lenient("+w==").unwrap(), vec![0xfb]);
        assert_eq!(decode_lenient("-w").unwrap(), vec![0xfb]);
        assert!(decode_lenient("*").is_none());
    }
}
