//! `return_to`: where the visitor lands after signing in. Only same-origin relative paths are accepted.
//!
//! Accepted: `/`, `/x`, `/x?y=z#f`. Refused: absolute URLs (`https://…`), scheme-relative (`//host`),
//! backslash tricks (`/\host`, `\\host`), anything with control characters or whitespace, and encoded forms
//! of those (`/%2F%2Fhost`, `/%5Chost`) — refused rather than decoded, because browsers and proxies disagree
//! on decoding.

pub const MAX_RETURN_TO_LEN: usize = 2048;

/// `Some(path)` when `candidate` is a safe same-origin relative path.
pub fn safe_return_to(candidate: &str) -> Option<&str> {
    if candidate.is_empty() || candidate.len() > MAX_RETURN_TO_LEN {
        return None;
    }
    let bytes = candidate.as_bytes();
    if bytes.first() != Some(&b'/') {
        return None;
    }
    // `//host` and `/\host` are scheme-relative to browsers.
    if matches!(bytes.get(1), Some(b'/') | Some(b'\\')) {
        return None;
    }
    if candidate.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') {
        return None;
    }
    // Refuse encoded slashes, backslashes, control characters and percent-encoded percent signs anywhere:
    // a downstream decoder must not be able to produce `//` or `/\`.
    let lower = candidate.to_ascii_lowercase();
    for needle in ["%2f", "%5c", "%25", "%0", "%1", "%7f", "%09", "%20"] {
        if lower.contains(needle) {
            return None;
        }
    }
    // The path must parse as a relative reference that stays on the same origin.
    let base = url::Url::parse("https://same-origin.invalid/").ok()?;
    let joined = base.join(candidate).ok()?;
    if joined.origin() != base.origin() {
        return None;
    }
    Some(candidate)
}

/// The validated `return_to`, or `/`.
pub fn return_to_or_root(candidate: Option<&str>) -> String {
    candidate.and_then(safe_return_to).unwrap_or("/").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_same_origin_paths() {
        for ok in ["/", "/x", "/a/b?c=d&e=f#g", "/docs/page.html", "/search?q=a%26b", "/%E2%9C%93"] {
            assert_eq!(safe_return_to(ok), Some(ok), "{ok}");
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
    }
}
