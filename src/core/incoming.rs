//! An incoming `/auth/*` request as the platform reports it, turned into the core's [`Request`] — or refused.
//! The platform reads a form body only when [`form_body_cap`] says so, never more than the cap (a
//! `Content-Length` over it is not read at all:
//! [`declared_length_exceeds`](crate::core::http::declared_length_exceeds)), and reports what happened as data
//! ([`FormBody`]); what that means (a `413`, an empty form) is decided here.

use crate::core::error::FlowError;
use crate::core::http::{Method, Request, Response, MAX_FORM_BYTES};
use crate::core::log::{Event, Kind, Level};
use crate::core::ports::Log;

/// What the platform read of a request body (see [`form_body_cap`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormBody {
    /// Not read: not a form post.
    NotRead,
    /// The whole body, within the cap.
    Read(Vec<u8>),
    /// More than `limit` bytes: declared by `Content-Length` (nothing read) or passed while streaming (the
    /// stream was cancelled there).
    Exceeded { limit: usize },
    /// The stream failed.
    Failed(String),
}

/// How much of this request's body the platform reads as a form (`None`: it reads none): a `POST` declaring
/// `application/x-www-form-urlencoded`, at most [`MAX_FORM_BYTES`] — or [`MAX_SAML_FORM_BYTES`] on the SAML
/// routes (`path`), whose signed responses with many group attributes are larger than any OAuth form.
pub fn form_body_cap(method: Method, content_type: Option<&str>, path: &str) -> Option<usize> {
    let is_form =
        content_type.is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let saml = cfg!(feature = "saml") && (path.starts_with(SAML_ROUTE_PREFIX) || path.starts_with(WSFED_ROUTE_PREFIX));
    let cap = if saml { MAX_SAML_FORM_BYTES } else { MAX_FORM_BYTES };
    (method == Method::Post && is_form).then_some(cap)
}

/// The SAML routes (`/auth/saml/{id}/acs`, `/auth/saml/{id}/metadata`).
pub const SAML_ROUTE_PREFIX: &str = "/auth/saml/";
/// The WS-Federation route (`/auth/wsfed/{id}`): the `wresult` form (raw XML, up to the XML core's largest
/// document) is read with the SAML routes' cap.
pub const WSFED_ROUTE_PREFIX: &str = "/auth/wsfed/";

/// The largest form a SAML route reads: a `SAMLResponse` of the XML core's largest document (256 KiB), base64
/// (4/3) and form-encoded (`+`, `/`, `=` as three characters each), with room to spare.
pub const MAX_SAML_FORM_BYTES: usize = 768 * 1024;

/// The most fields a form may have: every form the worker reads (an IdP's `form_post` callback, a back-channel
/// logout, a SAML response) has a handful.
pub const MAX_FORM_FIELDS: usize = 64;

/// The request with its form fields, or the answer: `413 payload_too_large` for a body over the cap. A body
/// whose stream failed is an empty form (logged): the route then refuses what it lacks.
pub fn with_form(mut request: Request, body: FormBody, log: &impl Log) -> Result<Request, Response> {
    match body {
        FormBody::NotRead => {}
        FormBody::Read(bytes) => {
            // Fields are counted before they are kept: a body of empty fields (`&a&a…`, two bytes each) would
            // otherwise become hundreds of thousands of owned pairs (over 10 MB of isolate memory a request).
            let fields = url::form_urlencoded::parse(&bytes);
            if fields.clone().nth(MAX_FORM_FIELDS).is_some() {
                let message = format!("a form of more than {MAX_FORM_FIELDS} fields refused (413)");
                log.event(&refused(&request, "payload_too_large").message(&message));
                return Err(FlowError::PayloadTooLarge { limit: bytes.len() }.to_html_response());
            }
            request.form = fields.into_owned().collect();
        }
        FormBody::Exceeded { limit } => {
            let message = format!("body larger than {limit} bytes refused (413)");
            log.event(&refused(&request, "payload_too_large").message(&message));
            return Err(FlowError::PayloadTooLarge { limit }.to_html_response());
        }
        FormBody::Failed(why) => {
            let message = format!("the body could not be read (an empty form instead): {why}");
            log.event(&refused(&request, "body_unreadable").message(&message));
        }
    }
    Ok(request)
}

/// A `request_refused` event for this POST.
fn refused(request: &Request, reason: &str) -> Event {
    Event::new(Kind::RequestRefused, Level::Warn).request("POST", request.url.path()).reason(reason)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    #[derive(Default)]
    struct Logs(RefCell<Vec<String>>);

    impl Log for Logs {
        fn event(&self, event: &Event) {
            self.0.borrow_mut().push(event.to_json(None));
        }
    }

    fn post(path: &str) -> Request {
        Request {
            method: Method::Post,
            url: url::Url::parse(&format!("https://app.example{path}")).unwrap(),
            cookie_header: String::new(),
            origin_header: None,
            sec_fetch_site: None,
            accept_language: None,
            form: vec![],
        }
    }

    #[test]
    fn only_form_posts_are_read_with_the_cap() {
        let form = Some("application/x-www-form-urlencoded");
        assert_eq!(form_body_cap(Method::Post, form, "/auth/callback"), Some(MAX_FORM_BYTES));
        // Only the build with SAML reads larger forms, and only on its routes.
        let saml_cap = if cfg!(feature = "saml") { MAX_SAML_FORM_BYTES } else { MAX_FORM_BYTES };
        assert_eq!(form_body_cap(Method::Post, form, "/auth/saml/corp/acs"), Some(saml_cap));
        assert_eq!(
            form_body_cap(Method::Post, Some("Application/X-WWW-Form-Urlencoded; charset=UTF-8"), "/auth/callback"),
            Some(65_536)
        );
        for (method, ct) in [
            (Method::Get, form),
            (Method::Head, form),
            (Method::Other, form),
            (Method::Post, None),
            (Method::Post, Some("multipart/form-data; boundary=x")),
            (Method::Post, Some("application/json")),
            (Method::Post, Some("text/plain")),
        ] {
            assert_eq!(form_body_cap(method, ct, "/auth/callback"), None, "{method:?} {ct:?}");
        }
    }

    #[test]
    fn a_body_over_the_cap_is_413_payload_too_large_never_an_empty_form() {
        for limit in [MAX_FORM_BYTES, 10] {
            let logs = Logs::default();
            let refused = with_form(post("/auth/logout/backchannel"), FormBody::Exceeded { limit }, &logs).unwrap_err();
            assert_eq!(refused.status, 413);
            assert_eq!(refused.header("x-edge-auth-error"), Some("payload_too_large"));
            assert_eq!(
                logs.0.borrow().as_slice(),
                [format!(
                    r#"{{"event":"request_refused","level":"warn","method":"POST","path":"/auth/logout/backchannel","reason":"payload_too_large","message":"body larger than {limit} bytes refused (413)"}}"#
                )]
            );
        }
    }

    #[test]
    fn a_body_within_the_cap_is_parsed_and_a_failed_one_is_logged() {
        let logs = Logs::default();
        let body = FormBody::Read(b"logout_token=a%2Bb&x=1&x=2".to_vec());
        let r = with_form(post("/auth/callback"), body, &logs).unwrap();
        assert_eq!(r.form_param("logout_token"), Some("a+b"));
        assert_eq!(r.form_param("x"), Some("1"), "the first of repeated fields");
        assert!(logs.0.borrow().is_empty());
        let r = with_form(post("/auth/callback"), FormBody::NotRead, &logs).unwrap();
        assert!(r.form.is_empty() && logs.0.borrow().is_empty());
        let r = with_form(post("/auth/callback"), FormBody::Failed("reset".into()), &logs).unwrap();
        assert!(r.form.is_empty());
        assert_eq!(
            logs.0.borrow().as_slice(),
            [
                r#"{"event":"request_refused","level":"warn","method":"POST","path":"/auth/callback","reason":"body_unreadable","message":"the body could not be read (an empty form instead): reset"}"#
            ]
        );
    }
}
