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
    let domain = normalize_domain(domain).ok_or(EmailError::InvalidDomain)?;
    Ok(Email { local: local.to_string(), domain })
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
        // The domain is what follows the last @.
        assert_eq!(parse_email("\"a@b\"@acme.example").unwrap().domain, "acme.example");
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
