use super::catalog::{Refusal, EN, KO, REFUSALS};
use super::*;
use crate::core::config::pages::{contrast_with_white, parse_color, read_pages};
use crate::core::http::Response;

#[test]
fn accept_language_picks_the_highest_q_we_have() {
    assert_eq!(negotiate(Some("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7")), Lang::Ko);
    assert_eq!(negotiate(Some("ko-KR")), Lang::Ko);
    assert_eq!(negotiate(Some("KO")), Lang::Ko);
    assert_eq!(negotiate(Some("en-US,en;q=0.9,ko;q=0.8")), Lang::En);
    assert_eq!(negotiate(Some("en;q=0.5, ko;q=0.6")), Lang::Ko, "q-values, not the order, decide");
    assert_eq!(negotiate(Some("ko;q=0.5, en;q=0.5")), Lang::Ko, "a tie: the first listed");
    assert_eq!(negotiate(Some("fr-FR,fr;q=0.9,ko;q=0.1")), Lang::Ko, "the first language we have");
    assert_eq!(negotiate(Some("ko;q=0, en")), Lang::En);
    assert_eq!(negotiate(Some("ko;q=0.000")), Lang::En, "q=0: not acceptable");
    assert_eq!(negotiate(Some("de, ko;Q=1.0")), Lang::Ko);
    assert_eq!(negotiate(Some("kok, ko-Kore-KR")), Lang::Ko, "kok (Konkani) is not ko; ko-Kore-KR is");
}

#[test]
fn wildcards_and_garbage_fall_back_to_english() {
    assert_eq!(negotiate(None), Lang::En);
    assert_eq!(negotiate(Some("")), Lang::En);
    assert_eq!(negotiate(Some("*")), Lang::En);
    assert_eq!(negotiate(Some("fr, *;q=0.5")), Lang::En);
    assert_eq!(negotiate(Some("*;q=0.9, ko;q=0.5")), Lang::En, "the wildcard is English");
    for garbage in [
        ";;;,,,",
        "ko;q=",
        "ko;q=2",
        "ko;q=1.5",
        "ko;q=-1",
        "ko;q=0.5.5",
        "ko;q=abc",
        "ko;q=0.1234",
        "\u{0}\u{ffff}",
        "é;q=0.9,ü",
        "ko;q=1.0001",
    ] {
        assert_eq!(negotiate(Some(garbage)), Lang::En, "{garbage:?}");
    }
    // Long or many-entried headers: bounded, never a panic (a cut inside a multi-byte character included).
    let long = format!("{}ko", "é,".repeat(5000));
    assert_eq!(negotiate(Some(&long)), Lang::En);
    let cut = format!("{}ko", "a".repeat(MAX_ACCEPT_LANGUAGE - 1));
    let _ = negotiate(Some(&format!("{cut}한")));
    // At most MAX_LANGUAGE_RANGES entries are looked at, even in a short header.
    let many = format!("{}ko", "x,".repeat(MAX_LANGUAGE_RANGES));
    assert!(many.len() < MAX_ACCEPT_LANGUAGE);
    assert_eq!(negotiate(Some(&many)), Lang::En);
    assert_eq!(negotiate(Some(&format!("{}ko", "x,".repeat(MAX_LANGUAGE_RANGES - 1)))), Lang::Ko);
}

#[test]
fn only_the_login_page_may_run_a_script() {
    let s = read_pages(Some(&serde_json::json!({ "logo_url": "https://cdn.acme.example/l.svg" }))).unwrap();
    let p = Pages { settings: &s, lang: Lang::En };
    let csp = |r: &Response| r.headers.iter().find(|(k, _)| *k == "content-security-policy").map(|(_, v)| v.clone());
    let login = csp(&p.script_response(200, p.login())).unwrap_or_default();
    assert!(login.contains("script-src 'self'") && login.contains("connect-src 'self'"), "{login}");
    for page in [p.signed_out(), p.sign_out_confirmation(), p.forbidden("a@b.example")] {
        let other = csp(&p.response(200, page)).unwrap_or_default();
        assert!(!other.contains("script-src") && !other.contains("connect-src"), "{other}");
        assert!(other.contains("default-src 'none'") && other.contains("img-src 'self' https://cdn.acme.example"));
    }
}

#[test]
fn the_operator_can_fix_the_language() {
    let fixed = read_pages(Some(&serde_json::json!({ "language": "ko" }))).unwrap();
    assert_eq!(fixed.lang(Some("en-US")), Lang::Ko);
    assert_eq!(fixed.lang(None), Lang::Ko);
    let en = read_pages(Some(&serde_json::json!({ "language": "en" }))).unwrap();
    assert_eq!(en.lang(Some("ko-KR")), Lang::En);
    let auto = read_pages(Some(&serde_json::json!({ "language": "auto" }))).unwrap();
    assert_eq!(auto.lang(Some("ko-KR")), Lang::Ko);
    assert_eq!(read_pages(None).unwrap().lang(Some("ko-KR")), Lang::Ko, "auto by default");
    // A fixed language does not vary; auto does (and no shared cache keeps one language for everyone).
    let r = Pages::new(&fixed, Some("en")).response(200, String::new());
    assert_eq!((r.header("vary"), r.header("content-language")), (None, Some("ko")));
    let r = Pages::new(&auto, Some("ko-KR")).response(200, String::new());
    assert_eq!((r.header("vary"), r.header("content-language")), (Some("Accept-Language"), Some("ko")));
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

#[test]
fn pages_config_is_validated_field_by_field() {
    let bad = |v: serde_json::Value| read_pages(Some(&v)).unwrap_err().to_string();
    assert!(bad(serde_json::json!({ "language": "fr" })).contains("`pages.language`"));
    assert!(bad(serde_json::json!({ "langauge": "ko" })).contains("unknown field `langauge`"));
    assert!(bad(serde_json::json!({ "language": 1 })).contains("`pages.language`"));
    assert!(bad(serde_json::json!("ko")).contains("`pages`"));
    assert!(bad(serde_json::json!({ "product_name": "" })).contains("`pages.product_name`"));
    assert!(bad(serde_json::json!({ "product_name": "a\nb" })).contains("`pages.product_name`"));
    assert!(bad(serde_json::json!({ "product_name": "x".repeat(65) })).contains("`pages.product_name`"));
    for logo in [
        "http://cdn.example/logo.svg",
        "//cdn.example/logo.svg",
        "/\\cdn.example",
        "javascript:alert(1)",
        "data:image/svg+xml,<svg/>",
        "https://user:pw@cdn.example/l.svg",
        "https://user@cdn.example/l.svg",
        // The host goes into the CSP's img-src list: nothing that ends or splits it.
        "https://cdn.example;sandbox/x.png",
        "https://a,b.example/x.png",
        "https://cdn'x.example/x.png",
        "https://cdn.example/a b.svg",
        "logo.svg",
    ] {
        assert!(bad(serde_json::json!({ "logo_url": logo })).contains("`pages.logo_url`"), "{logo}");
    }
    for color in
        ["red", "#12", "#1234", "#12345g", "1f4fd1", "#1f4fd1;", "#1f4fd1 ", "rgb(0,0,0)", "#ffff", "#+1+2+3", "#한"]
    {
        assert!(bad(serde_json::json!({ "accent_color": color })).contains("`pages.accent_color`"), "{color}");
    }
    for support in [
        "not an address",
        "a@b",
        "http://help.example",
        "mailto:x@y.example",
        "a\"@b.example",
        "https://",
        "x@y.example?subject=hi",
    ] {
        assert!(bad(serde_json::json!({ "support": support })).contains("`pages.support`"), "{support}");
    }
    // An accent colour too light for the white button text is refused, with the reason.
    let light = bad(serde_json::json!({ "accent_color": "#6d8ff0" }));
    assert!(light.contains("contrast") && light.contains("4.5:1"), "{light}");
    assert!(bad(serde_json::json!({ "accent_color": "#fff" })).contains("contrast"));
    let ok = read_pages(Some(&serde_json::json!({
        "language": "auto", "product_name": "Acme SSO", "logo_url": "https://cdn.acme.example/logo.svg",
        "accent_color": "#0B5", "support": "it-help@acme.example"
    })));
    assert!(ok.is_err(), "#0b5 (green) is 2.9:1 with white");
    let ok = read_pages(Some(&serde_json::json!({
        "product_name": "Acme SSO", "logo_url": "/brand/logo.svg", "accent_color": "#0B5D1E",
        "support": "https://help.acme.example/sso"
    })))
    .unwrap();
    assert_eq!(ok.accent_color.as_deref(), Some("#0b5d1e"));
    assert_eq!(ok.support_href.as_deref(), Some("https://help.acme.example/sso"));
    let mail = read_pages(Some(&serde_json::json!({ "support": "it-help@acme.example" }))).unwrap();
    assert_eq!(mail.support_href.as_deref(), Some("mailto:it-help@acme.example"));
}

#[test]
fn contrast_is_wcag_relative_luminance() {
    let c = |s: &str| contrast_with_white(parse_color(s).unwrap());
    assert!((c("#000") - 21.0).abs() < 0.01);
    assert!((c("#ffffff") - 1.0).abs() < 0.01);
    assert!((c("#767676") - 4.54).abs() < 0.01, "{}", c("#767676"));
    assert!((c("#1f4fd1") - 6.78).abs() < 0.01, "{}", c("#1f4fd1"));
    assert_eq!(parse_color("#abc"), Some((0xaa, 0xbb, 0xcc)));
}

#[test]
fn the_csp_admits_the_brand_style_and_the_logo_origin_only() {
    let s = read_pages(Some(&serde_json::json!({
        "logo_url": "https://cdn.acme.example/img/logo.svg?v=2", "accent_color": "#0b5d1e"
    })))
    .unwrap();
    let style = s.brand_style().unwrap();
    use sha2::Digest;
    let hash = crate::core::b64::encode_standard(sha2::Sha256::digest(style.as_bytes()));
    assert!(s.csp.contains(&format!("style-src 'self' 'sha256-{hash}'")), "{}", s.csp);
    assert!(s.csp.contains("img-src 'self' https://cdn.acme.example;"), "{}", s.csp);
    assert!(s.csp.contains("frame-ancestors 'none'") && s.csp.contains("default-src 'none'"));
    let page = Pages { settings: &s, lang: Lang::En }.login();
    assert!(page.contains(&format!("<style>{style}</style>")), "the hashed style is the page's");
    assert_eq!(PageSettings::default().csp, crate::core::pages::LOGIN_PAGE_CSP);
}

#[test]
fn branding_values_are_escaped_everywhere() {
    let s = PageSettings {
        product_name: "<script>alert(1)</script>\"'&".into(),
        logo_url: Some("/l.svg\"><script>x</script>".into()),
        support_href: Some("mailto:a\"><b>@x.example".into()),
        ..PageSettings::default()
    };
    for lang in [Lang::En, Lang::Ko] {
        let p = Pages { settings: &s, lang };
        let pages = [
            p.login(),
            p.signed_out(),
            p.sign_out_confirmation(),
            p.forbidden("<img src=x onerror=alert(1)>@x.example"),
            p.refusal(
                Refusal::UnknownDomain,
                &[("edge-auth-error", "unknown_domain")],
                Some("<b>.example"),
                "/auth/login",
                "x",
            ),
        ];
        for page in pages {
            assert!(!page.contains("<script>alert") && !page.contains("<script>x"), "{page}");
            assert!(!page.contains("<img src=x") && !page.contains("<b>"), "{page}");
            assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"), "{page}");
            assert!(page.contains(&format!("<html lang=\"{}\">", lang.catalog().lang)));
        }
    }
}

#[test]
fn both_catalogues_are_complete_and_plain_text() {
    for c in [&EN, &KO] {
        let texts = [
            c.single_sign_on,
            c.secured_by,
            c.password_note,
            c.error_code,
            c.need_help,
            c.contact_support,
            c.home,
            c.sign_in,
            c.login_explain,
            c.work_email,
            c.continue_label,
            c.continuing,
            c.signed_out_title,
            c.signed_out_text,
            c.sign_in_again,
            c.sign_out_title,
            c.sign_out_text,
            c.sign_out,
            c.forbidden_title,
            c.forbidden_text,
            c.switch_account,
        ];
        let refusals = c.refusals.iter().flat_map(|(a, b, l)| [*a, *b, *l]);
        for t in texts.into_iter().chain(refusals) {
            assert!(!t.trim().is_empty(), "{}: an empty text", c.lang);
            // Inserted into pages as they are (attributes included): no markup, no quotes.
            assert!(!t.contains(['<', '>', '&', '"']), "{}: {t}", c.lang);
        }
        assert_eq!(c.refusals.len(), REFUSALS);
        assert!(c.secured_by.contains("{product}") && c.forbidden_text.contains("{email}"));
        assert!(c.refusals[Refusal::UnknownDomain as usize].1.contains("{domain}"));
    }
    // Korean is Korean (Hangul in every text), polite.
    for (title, message, label) in KO.refusals {
        for t in [title, message, label] {
            assert!(t.chars().any(|ch| ('\u{ac00}'..='\u{d7a3}').contains(&ch)), "{t}");
        }
        assert!(message.ends_with("니다.") || message.ends_with("세요.") || message.ends_with("시오."), "{message}");
    }
}

#[test]
fn korean_pages_say_korean_things() {
    let s = PageSettings::default();
    let p = Pages::new(&s, Some("ko-KR,ko;q=0.9"));
    let login = p.login();
    assert!(login.contains("<html lang=\"ko\">") && login.contains("회사 이메일"), "{login}");
    let refusal = FlowError::Idp("access_denied".into()).to_page(&p);
    assert!(refusal.body.contains("로그인이 취소되었습니다") && refusal.body.contains("관리자에게 문의하세요"));
    assert!(refusal.body.contains(r#"<meta name="edge-auth-idp-error" content="access_denied">"#));
    assert_eq!(refusal.header("content-language"), Some("ko"));
    let en = FlowError::Idp("access_denied".into()).to_page(&Pages::new(&s, Some("en")));
    assert!(en.body.contains("Sign-in was cancelled") && en.body.contains("<html lang=\"en\">"));
}

use crate::core::error::FlowError;

#[test]
fn auth_config_reads_the_pages_object() {
    use crate::core::config::Config;
    let with = |pages: &str| {
        Config::from_json(&format!(
            r#"{{"connectors":[{{"id":"acme","kind":"oidc","issuer":"https://idp.acme.example","client_id":"edge",
            "client_secret_binding":"S","domains":["acme.example"]}}]{pages}}}"#
        ))
    };
    assert_eq!(with("").unwrap().pages, PageSettings::default());
    let c = with(r#","pages":{"language":"ko","product_name":"에이스 SSO"}"#).unwrap();
    assert_eq!((c.pages.language, c.pages.product_name.as_str()), (LanguageChoice::Fixed(Lang::Ko), "에이스 SSO"));
    let e = with(r#","pages":{"language":"kr"}"#).unwrap_err();
    assert_eq!(e.field, "pages.language", "{e}");
    let e = with(r##","pages":{"colour":"#000"}"##).unwrap_err();
    assert_eq!(e.field, "pages.colour", "{e}");
    assert!(e.reason.contains("unknown field"), "{e}");
}
