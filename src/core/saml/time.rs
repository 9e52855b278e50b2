//! `xs:dateTime` as SAML uses it (`2026-12-02T10:00:00Z`, `…00.123Z`, `…00+09:00`), to seconds since the epoch.
//! A time without a zone is refused: SAML requires UTC (Core §1.3.3), and a zone-less time is read
//! differently by different peers.

/// The `xs:dateTime` attribute `name` (unprefixed) of `element`, if present; `rule` broken when it is not one.
pub fn time_attribute(
    element: crate::core::xml::Element<'_, '_>,
    name: &str,
    rule: &'static str,
) -> Result<Option<u64>, crate::core::xml::BrokenRule> {
    match element.attribute(None, name) {
        None => Ok(None),
        Some(value) => parse_datetime(value).map(Some).ok_or(crate::core::xml::BrokenRule(rule)),
    }
}

/// Seconds since the Unix epoch (fractions dropped), or `None` when `text` is not such a time.
pub fn parse_datetime(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| text.get(range).and_then(digits_of);
    if bytes.len() < 20 || bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') || bytes.get(10) != Some(&b'T') {
        return None;
    }
    if bytes.get(13) != Some(&b':') || bytes.get(16) != Some(&b':') {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let mut rest = text.get(19..)?;
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction.find(|c: char| !c.is_ascii_digit()).unwrap_or(fraction.len());
        if end == 0 || end > 9 {
            return None;
        }
        rest = fraction.get(end..)?;
    }
    let offset = match rest {
        "Z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes().get(3) != Some(&b':') {
                return None;
            }
            let (h, m) = (digits_of(rest.get(1..3)?)?, digits_of(rest.get(4..6)?)?);
            if h > 14 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return None,
    };
    if !(1970..=9999).contains(&year) || day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(seconds).ok()
}

fn digits_of(part: &str) -> Option<i64> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_with_fractions_and_offsets() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_datetime("2026-12-02T10:00:00Z"), Some(1_796_205_600));
        assert_eq!(parse_datetime("2026-12-02T10:00:00.987Z"), Some(1_796_205_600));
        assert_eq!(parse_datetime("2026-12-02T19:00:00+09:00"), Some(1_796_205_600));
        assert_eq!(parse_datetime("2026-12-02T05:30:00-04:30"), Some(1_796_205_600));
        assert_eq!(parse_datetime("2024-02-29T00:00:00Z"), Some(1_709_164_800));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "2026-12-02T10:00:00",
            "2026-12-02 10:00:00Z",
            "2026-12-02T10:00Z",
            "2026-13-02T10:00:00Z",
            "2025-02-29T10:00:00Z",
            "2026-12-02T24:00:00Z",
            "2026-12-02T10:00:60Z",
            "2026-12-02T10:00:00.Z",
            "2026-12-02T10:00:00+0900",
            "2026-12-02T10:00:00+15:00",
            "+2026-12-02T10:00:00Z",
            "1969-12-31T23:59:59Z",
            "2026-12-02T10:00:00Zjunk",
            "２０２６-12-02T10:00:00Z",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }
}
