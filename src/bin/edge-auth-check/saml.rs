//! One SAML 2.0 or WS-Federation connector: its IdP (inline, or its metadata fetched and read by the worker's
//! own parser — [`parse_idp_metadata_certificates`] for SAML metadata, [`parse_federation_metadata_certificates`]
//! for WS-Federation federation metadata), each signing certificate's subject, key and validity, and what the
//! operator registers at the IdP (with `--site`).

use edge_auth::core::cache::MAX_CACHE_SECONDS;
use edge_auth::core::config::{SamlConnector, SamlIdp, XmlProtocol};
use edge_auth::core::flow::site_uris::post_logout_redirect_uri;
use edge_auth::core::saml::identity::EMAIL_ATTRIBUTES;
use edge_auth::core::saml::metadata::parse_idp_metadata_certificates;
use edge_auth::core::saml::request::format_datetime;
use edge_auth::core::saml::EMAIL_ADDRESS_FORMAT;
use edge_auth::core::wsfed::identity::{EMAIL_CLAIM, NAME_CLAIM, STABLE_SUBJECT_CLAIMS, UPN_CLAIM};
use edge_auth::core::wsfed::metadata::parse_federation_metadata_certificates;
use edge_auth::core::wsfed::WSIGNOUT_CLEANUP;
use edge_auth::core::x509::{parse_certificate, IdpCertificate};

use crate::fetcher::Fetcher;
use crate::keys::key_type;
use crate::report::{locate, plural, Report};
use crate::secrets::{saml_decryption_key, SecretsFile};

/// A certificate expiring within this many days is a warning: time to add (or have the metadata publish) its
/// successor.
pub const EXPIRY_WARNING_DAYS: u64 = 30;
const DAY: u64 = 86_400;

/// The connector's field names and words, per protocol.
struct Words {
    kind: &'static str,
    fields: &'static str,
    entity_id: &'static str,
    sso_url: &'static str,
    sso_url_field: &'static str,
    sso_binding: &'static str,
    certificates: &'static str,
    metadata_url: &'static str,
}

fn words(protocol: XmlProtocol) -> Words {
    match protocol {
        XmlProtocol::Saml2 => Words {
            kind: "saml",
            fields: "inline (idp_entity_id, idp_sso_url, idp_certificates)",
            entity_id: "IdP entity ID",
            sso_url: "IdP SSO URL",
            sso_url_field: "idp_sso_url",
            sso_binding: "HTTP-Redirect",
            certificates: "idp_certificates",
            metadata_url: "idp_metadata_url",
        },
        XmlProtocol::WsFederation => Words {
            kind: "wsfed",
            fields: "inline (issuer, sso_url, certificates)",
            entity_id: "IdP issuer",
            sso_url: "IdP passive endpoint",
            sso_url_field: "sso_url",
            sso_binding: "wa=wsignin1.0",
            certificates: "certificates",
            metadata_url: "metadata_url",
        },
    }
}

/// Prints one SAML or WS-Federation connector; `false` when sign-ins through it would fail.
pub fn check_saml_connector(
    report: &mut Report,
    fetcher: &mut Fetcher,
    c: &SamlConnector,
    site: Option<&str>,
    secrets: Option<&SecretsFile>,
    now: u64,
) -> bool {
    let id = c.id.as_str();
    report.begin_connector();
    let name = if c.display_name == c.id { String::new() } else { format!(": {}", c.display_name) };
    let w = words(c.protocol);
    report.line(0, format!("connector {id:?} (kind {}){name}", w.kind));
    report.item("domains routed", c.domains.join(", "));
    let usable = match &c.idp {
        SamlIdp::Inline { entity_id, sso_url, certificates } => {
            report.item("IdP", w.fields);
            report.item(w.entity_id, entity_id);
            report.item(w.sso_url, format!("{sso_url} ({})", w.sso_binding));
            if sso_url.starts_with("http:") {
                report.warning(
                    2,
                    Some(id),
                    w.sso_url_field,
                    "http:// is accepted only for loopback hosts: development only",
                );
            }
            let mut usable = true;
            for (i, text) in certificates.iter().enumerate() {
                let field = format!("{}[{i}]", w.certificates);
                match parse_certificate(text) {
                    Ok(certificate) => report_certificate(report, id, &field, i, &certificate, Source::Inline, now),
                    // The configuration check refuses these already (the SAML build reads them at start-up).
                    Err(e) => {
                        report.config_error(2, format!("{}: {e}", locate(Some(id), &field)));
                        usable = false;
                    }
                }
            }
            usable
        }
        SamlIdp::Metadata { url } => check_metadata(report, fetcher, c, url, now),
    };
    match c.protocol {
        XmlProtocol::Saml2 => {
            report_email(report, c);
            report_algorithms(report, c);
            report_encryption(report, c, secrets, now);
            if c.idp_initiated {
                report.item("IdP-initiated", "accepted as a start: it begins an SP-initiated sign-in with this IdP");
            }
            report_registration(report, c, site);
        }
        XmlProtocol::WsFederation => {
            report_wsfed_identity(report, c);
            report_wsfed_registration(report, c, site);
        }
    }
    report.end_connector();
    report.line(2, if usable { "status: usable" } else { "status: UNUSABLE" });
    usable
}

/// The signature algorithms the worker accepts from this IdP; `allow_sha1` is a warning (deprecated).
fn report_algorithms(report: &mut Report, c: &SamlConnector) {
    const ACCEPTED: &str = "RSA-SHA256/384/512, ECDSA-SHA256/384; digests SHA-256/384/512";
    if !c.allow_sha1 {
        report.item("signature algorithms", format!("{ACCEPTED} (SHA-1 refused)"));
        return;
    }
    report.item("signature algorithms", format!("{ACCEPTED}, and RSA-SHA1 / SHA-1 (allow_sha1)"));
    report.warning(
        2,
        Some(c.id.as_str()),
        "allow_sha1",
        "SHA-1 signatures and digests are accepted from this IdP: SHA-1 is deprecated (collisions are practical); \
         have the IdP sign with RSA-SHA256 and remove allow_sha1",
    );
}

/// Encrypted assertions: the SP certificate the IdP encrypts to (its expiry) and the private key's secret.
fn report_encryption(report: &mut Report, c: &SamlConnector, secrets: Option<&SecretsFile>, now: u64) {
    let Some(encryption) = &c.encryption else {
        report.item("assertion encryption", "off (an EncryptedAssertion is refused)");
        return;
    };
    let id = c.id.as_str();
    // The configuration check has read it already (an RSA key of 2048 bits or more).
    match parse_certificate(&encryption.certificate_base64) {
        Ok(certificate) => {
            report.item(
                "assertion encryption",
                format!(
                    "RSA-OAEP + AES-GCM to sp_encryption_certificate ({}, valid to {})",
                    certificate.subject,
                    date(certificate.not_after)
                ),
            );
            if let Some(why) = expiry_warning(certificate.not_after, now) {
                report.warning(
                    2,
                    Some(id),
                    "sp_encryption_certificate",
                    format!("{why}: IdPs may refuse to encrypt to it; make a new SP key pair and register it"),
                );
            }
        }
        Err(e) => report.config_error(2, format!("{}: {e}", locate(Some(id), "sp_encryption_certificate"))),
    }
    saml_decryption_key(report, secrets, id, &encryption.key_binding);
}

/// Where a certificate comes from: what the operator does when it expires differs.
#[derive(Clone, Copy)]
enum Source {
    Inline,
    Metadata,
}

/// The IdP's metadata, fetched as the worker fetches it and read by the worker's parser.
fn check_metadata(report: &mut Report, fetcher: &mut Fetcher, c: &SamlConnector, url: &str, now: u64) -> bool {
    let (id, w) = (c.id.as_str(), words(c.protocol));
    let field = w.metadata_url;
    report.item("IdP metadata", url);
    if url.starts_with("http:") {
        report.warning(2, Some(id), field, "http:// is accepted only for loopback hosts: development only");
    }
    if !fetcher.online() {
        report.item("IdP", "(not fetched: --offline)");
        return true;
    }
    let body = match fetcher.get_saml_metadata(url) {
        Ok(b) => b,
        Err(e) => {
            report.provider_error(id, field, format!("the IdP metadata could not be fetched: {e}"));
            return false;
        }
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        report.provider_error(id, field, format!("the IdP metadata at {url} is not UTF-8 text"));
        return false;
    };
    let read = match c.protocol {
        XmlProtocol::Saml2 => parse_idp_metadata_certificates(text, now),
        XmlProtocol::WsFederation => parse_federation_metadata_certificates(text, now),
    };
    let (idp, certificates) = match read {
        Ok(read) => read,
        Err(e) => {
            report.provider_error(id, field, format!("{e} (from {url})"));
            return false;
        }
    };
    report.item(w.entity_id, &idp.entity_id);
    report.item(w.sso_url, format!("{} ({})", idp.sso_url, w.sso_binding));
    if idp.sso_url.starts_with("http:") && !url.starts_with("http:") {
        report.warning(2, Some(id), field, "the IdP's endpoint uses http:// (loopback only): development only");
    }
    report.item(
        "metadata validUntil",
        match idp.valid_until {
            Some(end) => format!("{} (in {}; not used after it)", format_datetime(end), duration(end - now)),
            None => "(not stated)".to_string(),
        },
    );
    // As the worker's cache: cacheDuration, else the answer's caching headers, never above a day.
    let at_most = duration(MAX_CACHE_SECONDS);
    report.item(
        "metadata cache",
        match idp.cache_duration {
            Some(seconds) => {
                format!("cacheDuration {} (the worker caches it that long, at most {at_most})", duration(seconds))
            }
            None => format!("(no cacheDuration: the HTTP caching headers decide, at most {at_most})"),
        },
    );
    for (i, certificate) in certificates.iter().enumerate() {
        report_certificate(report, id, field, i, certificate, Source::Metadata, now);
    }
    true
}

/// One signing certificate: subject, key, validity, and a warning when it has expired or expires soon.
fn report_certificate(
    report: &mut Report,
    id: &str,
    field: &str,
    index: usize,
    certificate: &IdpCertificate,
    source: Source,
    now: u64,
) {
    let n = index + 1;
    let subject = if certificate.subject.is_empty() { "(no subject)" } else { certificate.subject.as_str() };
    let until = date(certificate.not_after);
    report.line(
        4,
        format!(
            "certificate #{n}: {subject}, {}, valid {} to {until}",
            key_type(&certificate.key),
            date(certificate.not_before)
        ),
    );
    if let Some(why) = expiry_warning(certificate.not_after, now) {
        // The inline list's field as configured (`idp_certificates`, `certificates`).
        let list = field.split('[').next().unwrap_or(field);
        let what_to_do = match (source, now >= certificate.not_after) {
            (Source::Inline, true) => format!(
                "edge-auth still verifies with its key, but the IdP has probably moved to a new certificate: \
                 add the one it signs with now to {list}"
            ),
            (Source::Inline, false) => format!(
                "add the IdP's next certificate to {list} before the IdP switches to it (both may be listed), or \
                 sign-ins fail from then on"
            ),
            (Source::Metadata, true) => "edge-auth still verifies with its key, but check that the IdP still signs \
                                         with it: its metadata publishes no newer one"
                .to_string(),
            (Source::Metadata, false) => {
                "the IdP's metadata should publish its successor before then (edge-auth follows the metadata)"
                    .to_string()
            }
        };
        report.warning(2, Some(id), field, format!("certificate #{n} ({subject}) {why}: {what_to_do}"));
    }
}

/// `expired on DATE` or `expires on DATE (in N days)` within [`EXPIRY_WARNING_DAYS`]; `None` otherwise.
pub fn expiry_warning(not_after: u64, now: u64) -> Option<String> {
    if now >= not_after {
        return Some(format!("expired on {}", date(not_after)));
    }
    let days = (not_after - now) / DAY;
    (days < EXPIRY_WARNING_DAYS)
        .then(|| format!("expires on {} (in {days} day{})", date(not_after), plural(days as usize)))
}

/// Where the worker reads the email from (SAML has no standard claim for it).
fn report_email(report: &mut Report, c: &SamlConnector) {
    let attributes = match &c.email_attribute {
        Some(name) => format!("attribute {name:?} (email_attribute)"),
        None => format!("a single-valued attribute {}", EMAIL_ATTRIBUTES.join(", ")),
    };
    report.item("email from", format!("NameID of format emailAddress, else {attributes}"));
}

/// What the operator registers at the IdP for this connector (`--site` gives the site's origin).
fn report_registration(report: &mut Report, c: &SamlConnector, site: Option<&str>) {
    let origin = site.unwrap_or("https://SITE");
    let entity_note = if c.sp_entity_id.is_some() { " (sp_entity_id)" } else { " (the SP metadata URL)" };
    registration_heading(report, site);
    report.line(4, format!("{:<20}{}{entity_note}", "SP entity ID:", c.sp_entity_id(origin)));
    report.line(4, format!("{:<20}{} (binding HTTP-POST)", "ACS URL:", c.acs_url(origin)));
    report.line(4, format!("{:<20}{} (the IdP can import it)", "SP metadata:", c.metadata_url(origin)));
    let name_id = match &c.email_attribute {
        Some(name) => {
            format!("emailAddress ({EMAIL_ADDRESS_FORMAT}), or any format with the email in attribute {name:?}")
        }
        None => format!("emailAddress ({EMAIL_ADDRESS_FORMAT}) recommended, or send the email as an attribute"),
    };
    report.line(4, format!("{:<20}{name_id}", "NameID format:"));
    let sha1 = if c.allow_sha1 { "SHA-1 accepted: allow_sha1, deprecated" } else { "SHA-1 is refused" };
    report.line(4, format!("{:<20}the assertion or the response, SHA-256 or stronger ({sha1})", "signing:"));
}

/// Where the worker reads a WS-Federation token's email and subject from.
fn report_wsfed_identity(report: &mut Report, c: &SamlConnector) {
    let email = match &c.email_attribute {
        Some(name) => format!("claim {name:?} (email_claim), and no other"),
        None => format!(
            "claim {EMAIL_CLAIM}, else {UPN_CLAIM} or {NAME_CLAIM} when it is an address, else a NameIdentifier of \
             format emailAddress"
        ),
    };
    report.item("email from", email);
    report.item("subject from", format!("{}, else the NameIdentifier", STABLE_SUBJECT_CLAIMS.join(", ")));
}

/// What the operator registers at a WS-Federation IdP (an AD FS relying party trust, an Entra application).
fn report_wsfed_registration(report: &mut Report, c: &SamlConnector, site: Option<&str>) {
    let origin = site.unwrap_or("https://SITE");
    let realm_note = if c.sp_entity_id.is_some() { " (realm)" } else { " (the default: the reply URL)" };
    registration_heading(report, site);
    report.line(4, format!("{:<20}{}{realm_note}", "realm (wtrealm):", c.audience(origin)));
    report.line(4, format!("{:<20}{} (WS-Federation passive endpoint)", "reply URL:", c.reply_url(origin)));
    report.line(4, format!("{:<20}{}?wa={WSIGNOUT_CLEANUP}", "sign-out URL:", c.reply_url(origin)));
    report.line(4, format!("{:<20}{} (the wreply of sign-out)", "after sign-out:", post_logout_redirect_uri(origin)));
    report.line(4, format!("{:<20}{EMAIL_CLAIM}, and ImmutableID or objectGUID as the subject", "claims:"));
    report.line(4, format!("{:<20}the SAML 1.1 or 2.0 token, SHA-256 or stronger (SHA-1 is refused)", "signing:"));
}

/// The heading of what to register, with a hint when `--site` was not given.
fn registration_heading(report: &mut Report, site: Option<&str>) {
    let heading = match site {
        Some(_) => "register at the IdP:",
        None => "register at the IdP (give --site https://your.site for the full URLs):",
    };
    report.line(2, heading);
}

/// The date of seconds since the epoch (`2026-12-02`).
fn date(seconds: u64) -> String {
    format_datetime(seconds).chars().take(10).collect()
}

/// A duration for people: `3 days`, `5 hours`, `10 minutes`, `30 s`.
fn duration(seconds: u64) -> String {
    let (n, unit) = match seconds {
        s if s >= 2 * DAY || s == DAY => (s / DAY, "day"),
        s if s >= 2 * 3600 => (s / 3600, "hour"),
        s if s >= 120 => (s / 60, "minute"),
        s => return format!("{s} s"),
    };
    format!("{n} {unit}{}", plural(n as usize))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The 30-day window: a certificate is warned about from 29 whole days before its end, and after it.
    #[test]
    fn expiry_warnings_start_thirty_days_before() {
        let now = 1_800_000_000;
        assert_eq!(expiry_warning(now + 31 * DAY, now), None);
        assert_eq!(expiry_warning(now + 30 * DAY, now), None);
        let soon = expiry_warning(now + 10 * DAY + 5, now).unwrap();
        assert!(soon.starts_with("expires on ") && soon.ends_with("(in 10 days)"), "{soon}");
        assert_eq!(expiry_warning(now + DAY, now).unwrap(), format!("expires on {} (in 1 day)", date(now + DAY)));
        assert_eq!(expiry_warning(now, now).unwrap(), format!("expired on {}", date(now)));
        assert_eq!(expiry_warning(now - 1, now).unwrap(), format!("expired on {}", date(now - 1)));
    }

    #[test]
    fn durations_and_dates_read_like_words() {
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(600), "10 minutes");
        assert_eq!(duration(3 * 3600), "3 hours");
        assert_eq!(duration(DAY), "1 day");
        assert_eq!(duration(DAY + 3600), "25 hours");
        assert_eq!(duration(7 * DAY + 5), "7 days");
        assert_eq!(date(0), "1970-01-01");
    }
}
