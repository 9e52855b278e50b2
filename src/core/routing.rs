//! Home-realm discovery: an email address's domain picks the connector that owns it.
//!
//! Domains are normalised the same way in the configuration and in what visitors type or IdPs assert:
//! trimmed, lowercased, one trailing dot removed. Internationalised names are accepted in their ASCII
//! (`xn--`) form only: the worker carries no Unicode tables (50 KB); the login page converts what visitors
//! type with the browser's own IDNA. Matching is exact: `acme.example` does not own `mail.acme.example`.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EmailError {
    #[error("the email address is empty")]
    Empty,
    #[error("the email address is too long")]
    TooLong,
    #[error("the email address has no @")]
    MissingAt,
    #[error("the email address has nothing before the @")]
    EmptyLocalPart,
    #[error("the email address contains spaces or control characters")]
    InvalidCharacters,
    #[error("the part before the @ must be a plain address (no quotes, comments, backslashes, second @ or unusual characters)")]
    InvalidLocalPart,
    #[error("the part after the @ is not a valid domain name")]
    InvalidDomain,
}

/// An email address split into its parts, with the domain normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub local: String,
    pub domain: String,
}

impl Email {
    /// The normalised address: local part as given, domain normalised.
    pub fn address(&self) -> String {
        format!("{}@{}", self.local, self.domain)
    }
}

/// Parse an email address (as typed by a visitor or asserted by an IdP).
///
/// Strict on purpose: the local part must be a plain RFC 5322 dot-atom (RFC 6531 allows non-ASCII letters in
/// it too). Quoted local parts (`"a@b"@acme.example`), comments (`a(x)@…`), backslashes and a second `@` are
/// refused: origins, mailers and address parsers read them differently (the first `@` or the last, with or
/// without the quotes), so one asserted address could name two different accounts. So are invisible and
/// direction-changing characters and the full-width / small forms of ASCII punctuation, which some software
/// folds into `@`, `.` or a quote.
pub fn parse_email(input: &str) -> Result<Email, EmailError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(EmailError::Empty);
    }
    if input.len() > 320 {
        return Err(EmailError::TooLong);
    }
    if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(EmailError::InvalidCharacters);
    }
    let (local, domain) = input.rsplit_once('@').ok_or(EmailError::MissingAt)?;
    if local.is_empty() {
        return Err(EmailError::EmptyLocalPart);
    }
    if local.len() > 64 {
        return Err(EmailError::TooLong);
    }
    if !is_dot_atom(local) {
        return Err(EmailError::InvalidLocalPart);
    }
    let domain = normalize_domain(domain).ok_or(EmailError::InvalidDomain)?;
    Ok(Email { local: local.to_string(), domain })
}

/// RFC 5322 `dot-atom-text` (with RFC 6531's non-ASCII characters): atoms of `atext` joined by single dots.
fn is_dot_atom(local: &str) -> bool {
    !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c == '.' || is_atext(c))
}

fn is_atext(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    }
    !c.is_control() && !c.is_whitespace() && !is_confusable_or_invisible(c)
}

/// Non-ASCII characters refused in a local part: invisible and format characters (zero-width, joiners, bidi
/// controls, variation selectors, tags, byte order mark, Hangul fillers), the full-width, half-width, small and
/// vertical forms whose compatibility mapping is ASCII punctuation (`＠`, `﹫`, `＂`, `．`…), dot leaders,
/// noncharacters and private use.
fn is_confusable_or_invisible(c: char) -> bool {
    matches!(u32::from(c),
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F | 0x200B..=0x200F
        | 0x2024..=0x2026 | 0x2028..=0x202F | 0x205F..=0x206F | 0x3000 | 0x3164 | 0xE000..=0xF8FF
        | 0xFE00..=0xFE1F | 0xFE30..=0xFE6F | 0xFEFF | 0xFF00..=0xFFEF | 0xFFF0..=0xFFFF
        | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF | 0xF0000..=0x10FFFF)
}

/// Normalise a domain name: trim, drop one trailing dot, lowercase, IDNA to ASCII. `None` when the result
/// is not a plausible DNS name (IP literals, empty labels, labels over 63 octets, no dot at all).
pub fn normalize_domain(input: &str) -> Option<String> {
    let trimmed = input.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if trimmed.is_empty() || trimmed.len() > 253 || trimmed.starts_with('[') {
        return None;
    }
    // DNS characters only, before any parsing: the host parser percent-decodes (`%A9`), and its IDNA step
    // must never see anything but ASCII (fuzzing found a debug assertion there).
    if !trimmed.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')) {
        return None;
    }
    let lowered = trimmed.to_ascii_lowercase();
    let host = url::Host::parse(&lowered).ok()?;
    let ascii = match host {
        url::Host::Domain(d) => d,
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => return None,
    };
    if ascii.len() > 253 || !ascii.contains('.') {
        return None;
    }
    let labels_ok = ascii.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    labels_ok.then_some(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_trailing_dot_and_whitespace() {
        assert_eq!(normalize_domain("ACME.Example").as_deref(), Some("acme.example"));
        assert_eq!(normalize_domain("acme.example.").as_deref(), Some("acme.example"));
        assert_eq!(normalize_domain("  acme.example ").as_deref(), Some("acme.example"));
    }

    #[test]
    fn internationalised_names_are_taken_in_their_ascii_form() {
        assert_eq!(normalize_domain("xn--bcher-kva.example").as_deref(), Some("xn--bcher-kva.example"));
        assert_eq!(normalize_domain("XN--BCHER-KVA.example").as_deref(), Some("xn--bcher-kva.example"));
        // Unicode forms are refused, never mis-normalised (the login page sends the xn-- form).
        assert_eq!(normalize_domain("bücher.example"), None);
        assert_eq!(normalize_domain("\u{430}pple.example"), None, "Cyrillic a");
        // Fuzzing regression: a percent-encoded byte decodes to non-ASCII inside the host parser.
        assert_eq!(normalize_domain("R%A9ample."), None);
        assert_eq!(parse_email(" Bob@R%A9ample. "), Err(EmailError::InvalidDomain));
    }

    #[test]
    fn refuses_what_is_not_a_domain() {
        for bad in [
            "",
            ".",
            "acme..example",
            "acme.example..",
            "localhost",
            "1.2.3.4",
            "[::1]",
            "acme example",
            "-acme.example",
            "acme-.example",
            "a/b.example",
            "acme.example:443",
            "@acme.example",
        ] {
            assert_eq!(normalize_domain(bad), None, "{bad:?} must be refused");
        }
        let long_label = format!("{}.example", "a".repeat(64));
        assert_eq!(normalize_domain(&long_label), None);
    }

    #[test]
    fn parses_emails() {
        let e = parse_email(" Alice@ACME.example. ").unwrap();
        assert_eq!(e.local, "Alice");
        assert_eq!(e.domain, "acme.example");
        assert_eq!(e.address(), "Alice@acme.example");
        // Plain dot-atoms with every atext character, and non-ASCII letters (RFC 6531), are addresses.
        for ok in [
            "o'brien+tag@acme.example",
            "a.b-c_d@acme.example",
            "!#$%&'*+-/=?^_`{|}~@acme.example",
            "jürgen@acme.example",
            "j%C3%BCrgen@acme.example",
            "李@acme.example",
        ] {
            assert_eq!(parse_email(ok).unwrap().address(), ok, "{ok}");
        }
    }

    #[test]
    fn refuses_local_parts_that_parsers_read_differently() {
        for bad in [
            "\"a@b\"@acme.example",
            "\"alice\"@acme.example",
            "\"a;b\"@acme.example",
            "a@evil.example@acme.example",
            "alice(comment)@acme.example",
            "(comment)alice@acme.example",
            "al\\ice@acme.example",
            "al\\@ice@acme.example",
            ".alice@acme.example",
            "alice.@acme.example",
            "al..ice@acme.example",
            "alice<x>@acme.example",
            "al,ice@acme.example",
            "al;ice@acme.example",
            "al:ice@acme.example",
            "al[ice]@acme.example",
            "a\u{FF20}evil.example@acme.example",
            "a\u{FE6B}b@acme.example",
            "al\u{200B}ice@acme.example",
            "al\u{202E}ecila@acme.example",
            "al\u{FEFF}ice@acme.example",
            "al\u{E0041}ice@acme.example",
            "al\u{FF0E}ice@acme.example",
        ] {
            assert_eq!(parse_email(bad), Err(EmailError::InvalidLocalPart), "{bad:?} must be refused");
        }
    }

    #[test]
    fn refuses_bad_emails() {
        assert_eq!(parse_email(""), Err(EmailError::Empty));
        assert_eq!(parse_email("alice"), Err(EmailError::MissingAt));
        assert_eq!(parse_email("@acme.example"), Err(EmailError::EmptyLocalPart));
        assert_eq!(parse_email("alice@"), Err(EmailError::InvalidDomain));
        assert_eq!(parse_email("alice@acme"), Err(EmailError::InvalidDomain));
        assert_eq!(parse_email("al ice@acme.example"), Err(EmailError::InvalidCharacters));
        assert_eq!(
            parse_email("alice@acme.example\n"),
            Ok(Email { local: "alice".into(), domain: "acme.example".into() })
        );
        assert_eq!(parse_email("al\u{0}ice@acme.example"), Err(EmailError::InvalidCharacters));
        assert_eq!(parse_email(&format!("{}@acme.example", "a".repeat(65))), Err(EmailError::TooLong));
    }
}
