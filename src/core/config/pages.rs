//! `AUTH_CONFIG` `"pages"`: the language of the visitor pages and their branding (docs/pages.md).
//!
//! ```json
//! "pages": { "language": "auto", "product_name": "Acme SSO", "logo_url": "https://cdn.acme.example/logo.svg",
//!            "accent_color": "#1f4fd1", "support": "it-help@acme.example" }
//! ```

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::core::config::error::ConfigError;
use crate::core::config::fields::Fields;
use crate::core::pages::{Lang, LanguageChoice, PageSettings};

/// The fields of `"pages"`.
pub(crate) const PAGES_FIELDS: &[&str] = &["language", "product_name", "logo_url", "accent_color", "support"];
const MAX_PRODUCT_NAME_CHARS: usize = 64;
const MAX_URL_LEN: usize = 512;
/// The accent colour is the background of white button text and the colour of links on white: WCAG 2.2 AA
/// asks 4.5:1 for such text.
pub const MIN_ACCENT_CONTRAST_HUNDREDTHS: u32 = 450;

/// Read and validate `"pages"` (absent: the defaults, English or Korean by `Accept-Language`).
pub fn read_pages(value: Option<&Value>) -> Result<PageSettings, ConfigError> {
    let mut settings = PageSettings::default();
    let Some(value) = value.filter(|v| !v.is_null()) else { return Ok(settings) };
    let f = Fields::of(value, "pages.", None, PAGES_FIELDS)?;
    if let Some(language) = f.opt_str("language")? {
        settings.language = match language.as_str() {
            "auto" => LanguageChoice::Auto,
            "en" => LanguageChoice::Fixed(Lang::En),
            "ko" => LanguageChoice::Fixed(Lang::Ko),
            other => {
                return Err(f.err("language", format!("{other:?} is not one of \"auto\", \"en\", \"ko\"")));
            }
        };
    }
    if let Some(name) = f.opt_str("product_name")? {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_PRODUCT_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(f.err(
                "product_name",
                format!("must be 1 to {MAX_PRODUCT_NAME_CHARS} characters, without control characters"),
            ));
        }
        settings.product_name = name.to_string();
    }
    let mut img_src = String::new();
    if let Some(logo) = f.opt_str("logo_url")? {
        img_src = logo_source(&logo).ok_or_else(|| {
            f.err("logo_url", "must be an https:// URL or a path on this site starting with / (not //)")
        })?;
        settings.logo_url = Some(logo);
    }
    if let Some(color) = f.opt_str("accent_color")? {
        let rgb =
            parse_color(&color).ok_or_else(|| f.err("accent_color", "must be a colour written #rgb or #rrggbb"))?;
        // Hundredths, as an integer: formatting a float would link float printing into the worker (~5 KB).
        let contrast = (contrast_with_white(rgb) * 100.0) as u32;
        if contrast < MIN_ACCENT_CONTRAST_HUNDREDTHS {
            return Err(f.err(
                "accent_color",
                format!(
                    "{color} has a contrast of {}.{:02}:1 with the white button text; WCAG 2.2 AA needs at least \
                     4.5:1: choose a darker colour",
                    contrast / 100,
                    contrast % 100
                ),
            ));
        }
        settings.accent_color = Some(color.to_ascii_lowercase());
    }
    if let Some(support) = f.opt_str("support")? {
        settings.support_href = Some(
            support_href(&support).ok_or_else(|| f.err("support", "must be an email address or an https:// URL"))?,
        );
    }
    settings.csp = csp(&settings, &img_src);
    Ok(settings)
}

/// The logo's `img-src` addition: its origin for an https URL, nothing for a path on this site.
fn logo_source(logo: &str) -> Option<String> {
    if logo.len() > MAX_URL_LEN || logo.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return None;
    }
    if logo.starts_with('/') && !logo.starts_with("//") && !logo.starts_with("/\\") {
        return Some(String::new());
    }
    let url = url::Url::parse(logo).ok()?;
    // A plain host only: its origin goes into the CSP's `img-src` list (`https://cdn.example;sandbox` would add
    // a directive).
    if url.scheme() != "https"
        || !crate::core::url::has_plain_host(&url)
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

fn support_href(support: &str) -> Option<String> {
    if support.len() > MAX_URL_LEN || support.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return None;
    }
    if support.starts_with("https://") {
        let url = url::Url::parse(support).ok()?;
        return url.host_str().is_some().then(|| url.to_string());
    }
    let (local, domain) = support.rsplit_once('@')?;
    let plain = |s: &str| !s.is_empty() && !s.contains(['<', '>', '"', '\'', '?', '&', '#', '/', ':', '@', '\\']);
    (plain(local) && plain(domain) && domain.contains('.')).then(|| format!("mailto:{support}"))
}

/// `#rgb` / `#rrggbb` as (r, g, b).
pub fn parse_color(color: &str) -> Option<(u8, u8, u8)> {
    let hex = color.strip_prefix('#')?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let digit = |i: usize| hex.get(i..i + 1).and_then(|d| u8::from_str_radix(d, 16).ok());
    match hex.len() {
        3 => Some((digit(0)? * 17, digit(1)? * 17, digit(2)? * 17)),
        6 => {
            let byte = |i: usize| hex.get(i..i + 2).and_then(|d| u8::from_str_radix(d, 16).ok());
            Some((byte(0)?, byte(2)?, byte(4)?))
        }
        _ => None,
    }
}

/// WCAG 2.2 contrast ratio of a colour with white.
pub fn contrast_with_white((r, g, b): (u8, u8, u8)) -> f64 {
    let l = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    1.05 / (l + 0.05)
}

/// sRGB channel -> linear light (WCAG's relative luminance), without libm: `x^2.4` as `x^2 * x^(2/5)`, the
/// fifth root by bisection.
fn linear(channel: u8) -> f64 {
    let c = f64::from(channel) / 255.0;
    if c <= 0.04045 {
        return c / 12.92;
    }
    let x = (c + 0.055) / 1.055;
    let target = x * x; // (x^(2/5))^5 = x^2
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..40 {
        let mid = (lo + hi) / 2.0;
        if mid * mid * mid * mid * mid < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    x * x * lo
}

/// The pages' CSP: the login page's, with the accent `<style>`'s hash and the logo's origin when set.
fn csp(settings: &PageSettings, img_src: &str) -> String {
    let mut style_src = "style-src 'self'".to_string();
    if let Some(style) = settings.brand_style() {
        let hash = crate::core::b64::encode_standard(Sha256::digest(style.as_bytes()));
        style_src.push_str(&format!(" 'sha256-{hash}'"));
    }
    let mut img = "img-src 'self'".to_string();
    if !img_src.is_empty() {
        img.push(' ');
        img.push_str(img_src);
    }
    crate::core::pages::LOGIN_PAGE_CSP.replace("style-src 'self'", &style_src).replace("img-src 'self'", &img)
}
