//! Strict JSON decoding of outside documents into typed structs.
//!
//! serde's derived `Deserialize` for a struct also accepts a JSON *array* and fills the fields by position
//! (`["RS256","kid"]` would read as `{"alg":"RS256","kid":"kid"}`). Every document we accept from outside
//! (JOSE headers, claims, discovery, JWKS, token and UserInfo responses, configuration) must be an object,
//! so decoding goes through here. Duplicate members are refused by the derived visitor.

use serde::de::DeserializeOwned;

/// Decode `bytes` as `T`, requiring the document to be a JSON object.
pub fn from_object_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err("expected a JSON object".into());
    }
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Header {
        alg: String,
        kid: Option<String>,
    }

    #[test]
    fn arrays_are_not_structs() {
        assert!(serde_json::from_slice::<Header>(br#"["RS256","k"]"#).is_ok(), "serde's positional quirk");
        assert!(from_object_slice::<Header>(br#"["RS256","k"]"#).is_err());
        assert!(from_object_slice::<Header>(br#" {"alg":"RS256"}"#).is_ok());
        assert!(from_object_slice::<Header>(br#"{"alg":"RS256","alg":"none"}"#).is_err(), "duplicates");
        assert!(from_object_slice::<Header>(b"").is_err());
    }
}
