//! `return_to`: where the visitor lands after signing in. Only same-origin relative paths are accepted.
//!
//! Accepted: `/`, `/x`, `/x?y=z#f`, `/search?q=annual%20report`. Refused: absolute URLs (`https://…`),
//! scheme-relative (`//host`), backslash tricks (`/\host`, `\\host`), raw control characters or whitespace,
//! and every *encoded* form that a downstream decoder could turn into one of those (`/%2F%2Fhost`,
//! `/%5Chost`, `/%252F%252Fhost`, `/%09/host`): the value is percent-decoded up to three times and each
//! round must still be a plain same-origin path.
//!
//! The accepted value is returned with every non-ASCII character (and the few ASCII characters a `Location`
//! header must not carry raw) percent-encoded as UTF-8, so `/café` lands on `/caf%C3%A9`: the same path to
//! every URL parser, and a header value the runtime accepts. Nothing else changes (existing escapes stay).

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

pub const MAX_RETURN_TO_LEN: usize = 2048;
const DECODE_ROUNDS: usize = 3;

/// Encoded in an accepted `return_to` (non-ASCII is always encoded): what may not appear raw in a URL.
const NOT_RAW_IN_LOCATION: &AsciiSet =
    &CONTROLS.add(b' ').add(b'"').add(b'<').add(b'>').add(b'`').add(b'{').add(b'}').add(b'|').add(b'^');

/// The path to redirect to (ASCII, see the module documentation) when `candidate` is a safe same-origin
/// relative path.
pub fn safe_return_to(candidate: &str) -> Option<String> {
    let accepted = checked_return_to(candidate)?;
    let encoded = utf8_percent_encode(accepted, NOT_RAW_IN_LOCATION).to_string();
    // Encoding adds no '/', '\' or '.', so the checks hold for it too; checked again all the same.
    if encoded.len() > MAX_RETURN_TO_LEN {
        return None;
    }
    checked_return_to(&encoded).map(str::to_string)
}

fn checked_return_to(candidate: &str) -> Option<&str> {
    if candidate.is_empty() || candidate.len() > MAX_RETURN_TO_LEN {
        return None;
    }
    if candidate.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') {
        return None;
    }
    let mut current = candidate.to_string();
    for _ in 0..=DECODE_ROUNDS {
        if !is_plain_relative_path(&current) {
            return None;
        }
        let decoded = percent_decode_str(&current).decode_utf8_lossy().into_owned();
        if decoded == current {
            break;
        }
        current = decoded;
    }
    // The path must parse as a relative reference that stays on the same origin.
    let base = url::Url::parse("https://same-origin.invalid/").ok()?;
    let joined = base.join(candidate).ok()?;
    (joined.origin() == base.origin()).then_some(candidate)
}

/// One decoding round: starts with a single `/`, not followed by `/` or `\` once the tab/newline characters
/// that URL parsers drop are removed, and no control characters in the path part.
fn is_plain_relative_path(text: &str) -> bool {
    let squeezed: String = text.chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect();
    let bytes = squeezed.as_bytes();
    if bytes.first() != Some(&b'/') || matches!(bytes.get(1), Some(b'/') | Some(b'\\')) {
        return false;
    }
    let path = text.split(['?', '#']).next().unwrap_or_default();
    !path.chars().any(|c| c.is_control() || c == '\\')
}

/// The validated `return_to`, or `/`.
pub fn return_to_or_root(candidate: Option<&str>) -> String {
    candidate.and_then(safe_return_to).unwrap_or_else(|| "/".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_same_origin_paths() {
        for ok in [
            "/",
            "/x",
            "/a/b?c=d&e=f#g",
            "/docs/page.html",
            "/search?q=a%26b",
            "/%E2%9C%93",
            "/search?q=annual%20report",
            "/files/annual%20report.html",
            "/x?r=%2F",
            "/a/%2F/b",
            "/x?q=100%25",
        ] {
            assert_eq!(safe_return_to(ok).as_deref(), Some(ok), "{ok}");
        }
    }

    #[test]
    fn non_ascii_is_percent_encoded_and_lands_where_it_was_meant_to() {
        assert_eq!(safe_return_to("/café").as_deref(), Some("/caf%C3%A9"));
        assert_eq!(
            safe_return_to("/문서/보고서?q=연간#요약").as_deref(),
            Some("/%EB%AC%B8%EC%84%9C/%EB%B3%B4%EA%B3%A0%EC%84%9C?q=%EC%97%B0%EA%B0%84#%EC%9A%94%EC%95%BD")
        );
        assert_eq!(safe_return_to("/a|b^c{d}").as_deref(), Some("/a%7Cb%5Ec%7Bd%7D"));
        // Existing escapes are kept as they are (a literal `%C3%A9` stays that, it is not encoded twice).
        assert_eq!(safe_return_to("/caf%C3%A9").as_deref(), Some("/caf%C3%A9"));
        // The result is ASCII, a fixed point, and joins to the same URL as the original.
        let base = url::Url::parse("https://site.example/").unwrap();
        for raw in ["/café", "/über/straße?x=ü", "/ünïcödé#frägment", "/%E2%9C%93/✓"] {
            let out = safe_return_to(raw).unwrap();
            assert!(out.is_ascii(), "{out}");
            assert_eq!(safe_return_to(&out).as_deref(), Some(out.as_str()), "fixed point");
            assert_eq!(base.join(raw).unwrap(), base.join(&out).unwrap(), "{raw}");
        }
        // Too long once encoded: refused rather than cut.
        assert_eq!(safe_return_to(&format!("/{}", "é".repeat(500))), None);
        // Non-ASCII white space and line separators stay refused.
        for bad in ["/\u{2028}/evil", "/\u{3000}/evil", "/\u{a0}evil"] {
            assert_eq!(safe_return_to(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn refuses_every_off_site_trick() {
        for bad in [
            "",
            "x",
            "https://evil.example",
            "http://evil.example/",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "\\/evil.example",
            "/\\/evil.example",
            "javascript:alert(1)",
            "/%2F%2Fevil.example",
            "/%2fevil.example",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "/%5cevil.example",
            "/%252F%252Fevil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/ /evil",
            "/x\u{0}",
            "/%09/evil.example",
            "/%00",
            "/%0a",
            " /x",
            "data:text/html,x",
            "/x\u{2028}",
        ] {
            assert_eq!(safe_return_to(bad), None, "{bad:?} must be refused");
        }
        assert_eq!(safe_return_to(&format!("/{}", "a".repeat(MAX_RETURN_TO_LEN))), None);
    }

    #[test]
    fn falls_back_to_root() {
        assert_eq!(return_to_or_root(None), "/");
        assert_eq!(return_to_or_root(Some("//evil.example")), "/");
        assert_eq!(return_to_or_root(Some("/ok")), "/ok");
        assert_eq!(return_to_or_root(Some("/café")), "/caf%C3%A9");
    }
}
