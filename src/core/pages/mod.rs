//! The visitor-facing pages (login, signed-out, sign-out confirmation, access refused, every refusal and IdP
//! error page): one template ([`shell`]), filled from a message catalogue ([`catalog`]) in the visitor's
//! language ([`negotiate`]) and branded from `AUTH_CONFIG`'s `"pages"` object ([`PageSettings`]). Every value
//! from configuration or the request is escaped. See docs/pages.md.

pub mod catalog;

use crate::core::html::escape;
use crate::core::http::Response;
use catalog::{Catalog, Refusal, EN, KO};

/// Content-Security-Policy of the login and signed-out pages (their scripts are external files).
/// No `form-action`: browsers apply it to redirects too, and the login form redirects to the IdP.
pub const LOGIN_PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The login page's script element: the only script a rendered page carries (no other page's CSP allows one).
pub const LOGIN_SCRIPT_TAG: &str = "<script src=\"/auth/static/login.js\" defer></script>";

/// A language edge-auth has a catalogue for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ko,
}

impl Lang {
    pub fn catalog(self) -> &'static Catalog {
        match self {
            Lang::En => &EN,
            Lang::Ko => &KO,
        }
    }

    fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.split('-').next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else if primary.eq_ignore_ascii_case("ko") {
            Some(Lang::Ko)
        } else {
            None
        }
    }
}

/// `pages.language`: follow the visitor's `Accept-Language`, or always one language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LanguageChoice {
    Auto,
    Fixed(Lang),
}

/// Longest `Accept-Language` read, and most entries looked at: beyond, the rest is ignored.
const MAX_ACCEPT_LANGUAGE: usize = 1024;
const MAX_LANGUAGE_RANGES: usize = 32;

/// The language of the page for an `Accept-Language` header (RFC 9110 §12.5.4): the catalogue language of the
/// highest `q` (the first listed on a tie; `q=0` is "not this one"; `*` is English), English when none is
/// acceptable or the header is absent or garbage.
pub fn negotiate(accept_language: Option<&str>) -> Lang {
    let Some(header) = accept_language else { return Lang::En };
    let mut end = header.len().min(MAX_ACCEPT_LANGUAGE);
    while !header.is_char_boundary(end) {
        end -= 1;
    }
    let header = header.get(..end).unwrap_or_default();
    let mut best: Option<(u16, Lang)> = None;
    for range in header.split(',').take(MAX_LANGUAGE_RANGES) {
        let mut parts = range.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let mut q = Some(1000);
        for param in parts {
            let param = param.trim();
            if let Some(value) = param.strip_prefix("q=").or_else(|| param.strip_prefix("Q=")) {
                q = parse_q(value.trim());
            }
        }
        let Some(q) = q.filter(|q| *q > 0) else { continue };
        let lang = if tag == "*" { Some(Lang::En) } else { Lang::from_tag(tag) };
        if let Some(lang) = lang {
            if best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
    }
    best.map_or(Lang::En, |(_, lang)| lang)
}

/// A `qvalue` in thousandths (`0`, `0.5`, `1.000`), `None` if it is not one.
fn parse_q(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths =
        fraction.bytes().chain(std::iter::repeat(b'0')).take(3).fold(0u16, |n, b| n * 10 + u16::from(b - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The operator's choices for the pages (`AUTH_CONFIG` `"pages"`), validated by
/// [`crate::core::config::pages`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSettings {
    pub language: LanguageChoice,
    pub product_name: String,
    /// `https://…` or a path on this site (`/…`).
    pub logo_url: Option<String>,
    /// `#rgb` or `#rrggbb`, at least 4.5:1 against white (the button text).
    pub accent_color: Option<String>,
    /// `mailto:…` or `https://…`, as the link's `href`.
    pub support_href: Option<String>,
    /// The pages' Content-Security-Policy: the login page's, plus the logo's origin and the accent colour's
    /// `<style>` hash when they are set.
    pub csp: String,
}

impl Default for PageSettings {
    fn default() -> Self {
        PageSettings {
            language: LanguageChoice::Auto,
            product_name: "edge-auth".to_string(),
            logo_url: None,
            accent_color: None,
            support_href: None,
            csp: LOGIN_PAGE_CSP.to_string(),
        }
    }
}

impl PageSettings {
    /// The language of a page for this request.
    pub fn lang(&self, accept_language: Option<&str>) -> Lang {
        match self.language {
            LanguageChoice::Auto => negotiate(accept_language),
            LanguageChoice::Fixed(lang) => lang,
        }
    }

    /// The inline `<style>` setting the accent colour (its hash is in [`Self::csp`]).
    pub fn brand_style(&self) -> Option<String> {
        // The button (white text) in both colour schemes; links and the focus ring in the light one only (the
        // colour is checked against white, not against the dark scheme's surface).
        self.accent_color.as_ref().map(|c| {
            format!(":root{{--accent:{c};--accent-hover:{c}}}@media (prefers-color-scheme:light){{:root{{--link:{c};--focus:{c}}}}}")
        })
    }
}

/// One page for one visitor: the settings and the language.
#[derive(Clone, Copy)]
pub struct Pages<'a> {
    pub settings: &'a PageSettings,
    pub lang: Lang,
}

/// What a page's `<main>` shows below its heading.
pub enum Action<'a> {
    /// A button-styled link.
    Link { href: &'a str, label: &'a str },
    /// `POST /auth/logout`.
    SignOut { label: &'a str },
}

impl<'a> Pages<'a> {
    pub fn new(settings: &'a PageSettings, accept_language: Option<&str>) -> Pages<'a> {
        Pages { settings, lang: settings.lang(accept_language) }
    }

    pub fn text(&self) -> &'static Catalog {
        self.lang.catalog()
    }

    /// A page's response: the body, the CSP of the pages, and the language headers. A page that follows
    /// `Accept-Language` varies on it (no shared cache stores one language for everyone).
    pub fn response(&self, status: u16, body: String) -> Response {
        self.respond(status, body, false)
    }

    /// [`Self::response`] for the login page, the one page with a script (`/auth/static/login.js`, which also
    /// calls back to this site): only its CSP allows `script-src` and `connect-src`. Every other page, which
    /// may show the visitor's email or domain, runs no script at all.
    pub fn script_response(&self, status: u16, body: String) -> Response {
        self.respond(status, body, true)
    }

    fn respond(&self, status: u16, body: String, script: bool) -> Response {
        let mut response = Response::html(status, body);
        for (name, value) in &mut response.headers {
            if *name == "content-security-policy" {
                *value = if script {
                    self.settings.csp.clone()
                } else {
                    self.settings.csp.replace("script-src 'self'; ", "").replace("connect-src 'self'; ", "")
                };
            }
        }
        let response = response.with_header("content-language", self.lang.catalog().lang);
        match self.settings.language {
            LanguageChoice::Auto => response.with_header("vary", "Accept-Language"),
            LanguageChoice::Fixed(_) => response,
        }
    }

    /// The one template of every page: `<head>`, the brand, `main_html` (already escaped), the footer.
    pub fn shell(&self, title: &str, meta: &[(&str, &str)], main_html: &str, script: bool) -> String {
        let t = self.text();
        let s = self.settings;
        let product = escape(&s.product_name);
        let mut head = String::new();
        for (name, content) in meta {
            head.push_str(&format!("<meta name=\"{}\" content=\"{}\">\n", escape(name), escape(content)));
        }
        if script {
            head.push_str(LOGIN_SCRIPT_TAG);
            head.push('\n');
        }
        let logo = match &s.logo_url {
            Some(url) => format!("<img src=\"{}\" alt=\"\" width=\"28\" height=\"28\">", escape(url)),
            None => LOGO_SVG.to_string(),
        };
        let support = match &s.support_href {
            Some(href) => format!(
                "<p class=\"support\">{} <a href=\"{}\">{}</a></p>\n",
                t.need_help,
                escape(href),
                t.contact_support
            ),
            None => String::new(),
        };
        let secured = escape(t.secured_by).replace("{product}", &product);
        format!(
            r#"<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="robots" content="noindex">
{head}<title>{title}</title>
<link rel="icon" href="/auth/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/auth/static/style.css">
{brand_style}</head>
<body>
<main class="card" aria-labelledby="title">
<div class="brand">{logo}<span>{product} <span class="brand-sub">{sso}</span></span></div>
{main_html}{support}</main>
<footer class="page-footer">{LOCK_SVG}<span>{secured}</span></footer>
</body>
</html>
"#,
            lang = t.lang,
            title = escape(title),
            brand_style = s.brand_style().map(|style| format!("<style>{style}</style>\n")).unwrap_or_default(),
            sso = t.single_sign_on,
        )
    }

    /// A page with a heading, paragraphs (escaped here), an action and the error code.
    pub fn card(
        &self,
        title: &str,
        meta: &[(&str, &str)],
        paragraphs: &[&str],
        action: Action<'_>,
        code: Option<&str>,
    ) -> String {
        let mut main = format!("<h1 id=\"title\">{}</h1>\n", escape(title));
        for p in paragraphs {
            main.push_str(&format!("<p>{}</p>\n", escape(p)));
        }
        main.push_str(&self.action_html(action));
        if let Some(code) = code {
            main.push_str(&format!(
                "<p class=\"detail\">{} <code>{}</code></p>\n",
                self.text().error_code,
                escape(code)
            ));
        }
        self.shell(title, meta, &main, false)
    }

    fn action_html(&self, action: Action<'_>) -> String {
        match action {
            Action::Link { href, label } => format!(
                "<p class=\"action\"><a class=\"button\" href=\"{}\" id=\"retry\">{}</a></p>\n",
                escape(href),
                escape(label)
            ),
            Action::SignOut { label } => format!(
                "<form method=\"post\" action=\"/auth/logout\"><p class=\"action\"><button class=\"button\" type=\"submit\">{}</button></p></form>\n",
                escape(label)
            ),
        }
    }

    /// A refusal page (`meta`: the `edge-auth-error` code, and for IdP errors the IdP's code).
    pub fn refusal(
        &self,
        refusal: Refusal,
        meta: &[(&str, &str)],
        domain: Option<&str>,
        href: &str,
        shown_code: &str,
    ) -> String {
        let (title, message, label) = self.text().refusals.get(refusal as usize).copied().unwrap_or(("", "", ""));
        let message = match domain {
            Some(domain) => message.replace("{domain}", domain),
            None => message.to_string(),
        };
        self.card(title, meta, &[&message], Action::Link { href, label }, Some(shown_code))
    }

    /// `GET /auth/login` without an address: the sign-in form (login.js copies `return_to` into it).
    pub fn login(&self) -> String {
        let t = self.text();
        let main = format!(
            r#"<h1 id="title">{sign_in}</h1>
<p id="explain">{explain}</p>
<form class="form" id="login-form" method="get" action="/auth/login">
<label for="email">{label}</label>
<input id="email" name="email" type="email" autocomplete="username" inputmode="email" autocapitalize="none" spellcheck="false" placeholder="name@company.com" aria-describedby="explain" required autofocus>
<input type="hidden" name="return_to" id="return_to" value="" disabled>
<button type="submit" id="continue" data-busy="{busy}">{cont}</button>
</form>
<p class="hint">{note}</p>
"#,
            sign_in = t.sign_in,
            explain = t.login_explain,
            label = t.work_email,
            busy = t.continuing,
            cont = t.continue_label,
            note = t.password_note,
        );
        self.shell(t.sign_in, &[], &main, true)
    }

    /// `/auth/signed-out`.
    pub fn signed_out(&self) -> String {
        let t = self.text();
        let main = format!(
            "{CHECK_BADGE}<h1 id=\"title\">{}</h1>\n<p>{}</p>\n<p class=\"action\"><a class=\"button\" href=\"/auth/login\" id=\"sign-in-again\">{}</a></p>\n",
            t.signed_out_title, t.signed_out_text, t.sign_in_again
        );
        self.shell(t.signed_out_title, &[], &main, false)
    }

    /// `GET /auth/logout`: ask before signing out (a link must not sign anyone out).
    pub fn sign_out_confirmation(&self) -> String {
        let t = self.text();
        self.card(t.sign_out_title, &[], &[t.sign_out_text], Action::SignOut { label: t.sign_out }, None)
    }

    /// An access policy does not admit the signed-in user: who is signed in, and a way to switch.
    pub fn forbidden(&self, email: &str) -> String {
        let t = self.text();
        let text = escape(t.forbidden_text).replace("{email}", &format!("<strong>{}</strong>", escape(email)));
        let main = format!(
            "<h1 id=\"title\">{title}</h1>\n<p>{text}</p>\n{action}<p class=\"detail\"><a href=\"/\">{home}</a> · {code} <code>forbidden</code></p>\n",
            title = t.forbidden_title,
            action = self.action_html(Action::SignOut { label: t.switch_account }),
            home = t.home,
            code = t.error_code,
        );
        self.shell(t.forbidden_title, &[("edge-auth-error", "forbidden")], &main, false)
    }
}

const LOGO_SVG: &str = r#"<svg viewBox="0 0 32 32" aria-hidden="true" focusable="false"><path class="logo-shield" d="M16 2.5 4.5 6.8v8.4c0 7.1 4.8 12.6 11.5 14.3 6.7-1.7 11.5-7.2 11.5-14.3V6.8L16 2.5Z"/><path class="logo-mark" d="M16 9.5a4 4 0 0 0-1.6 7.67V21.5a1.6 1.6 0 0 0 3.2 0v-4.33A4 4 0 0 0 16 9.5Z"/></svg>"#;
const LOCK_SVG: &str = r#"<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><path fill="currentColor" d="M8 1a3.5 3.5 0 0 0-3.5 3.5V6H4a1.5 1.5 0 0 0-1.5 1.5v6A1.5 1.5 0 0 0 4 15h8a1.5 1.5 0 0 0 1.5-1.5v-6A1.5 1.5 0 0 0 12 6h-.5V4.5A3.5 3.5 0 0 0 8 1Zm2 5H6V4.5a2 2 0 1 1 4 0V6Z"/></svg>"#;
const CHECK_BADGE: &str = r#"<div class="icon-badge" aria-hidden="true"><svg viewBox="0 0 24 24" focusable="false"><path fill="none" stroke="currentColor" stroke-width="2.25" stroke-linecap="round" stroke-linejoin="round" d="m5 12.5 4.5 4.5L19 7.5"/></svg></div>
"#;

#[cfg(test)]
mod tests;
