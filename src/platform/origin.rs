//! Origin mode: proxy an authenticated request to the origin with identity headers and a signed assertion
//! (ES256 via WebCrypto). Assertions are cached per session and site for half their lifetime.

use std::cell::RefCell;

use js_sys::{Array, Object, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::CryptoKey;
use worker::{Request, Response, Result};

use crate::core::assertion::{
    cookie_header_for_origin, forwarded_as_received, AssertionKey, Principal, ASSERTION_HEADER,
};
use crate::core::assertion_cache::{AssertionCache, SessionKey};
use crate::core::b64;
use crate::core::config::OriginSettings;
use crate::platform::webcrypto::{object, subtle};

thread_local! {
    static SIGNING_KEY: RefCell<Option<(String, CryptoKey)>> = const { RefCell::new(None) };
    /// Signed assertions, reused while more than half their lifetime remains.
    static ASSERTIONS: AssertionCache = AssertionCache::default();
}

fn js(e: JsValue) -> worker::Error {
    worker::Error::JsError(crate::platform::bindings::error_message(&e, "JavaScript error"))
}

fn crypto(e: crate::core::ports::CryptoError) -> worker::Error {
    worker::Error::JsError(e.0)
}

async fn signing_key(key: &AssertionKey) -> Result<CryptoKey> {
    if let Some(k) =
        SIGNING_KEY.with(|c| c.borrow().as_ref().filter(|(kid, _)| *kid == key.kid).map(|(_, k)| k.clone()))
    {
        return Ok(k);
    }
    let jwk: Object = js_sys::JSON::parse(key.private_jwk_json.expose()).map_err(js)?.unchecked_into();
    let params = object(&[("name", "ECDSA".into()), ("namedCurve", "P-256".into())]).map_err(crypto)?;
    let usages = Array::of1(&JsValue::from_str("sign"));
    let promise = subtle().map_err(crypto)?.import_key_with_object("jwk", &jwk, &params, false, &usages).map_err(js)?;
    let imported: CryptoKey = JsFuture::from(promise).await.map_err(js)?.unchecked_into();
    SIGNING_KEY.with(|c| *c.borrow_mut() = Some((key.kid.clone(), imported.clone())));
    Ok(imported)
}

/// A signed assertion for `principal`, reused while more than half its lifetime remains ([`AssertionCache`]).
pub async fn assertion(
    key: &AssertionKey,
    principal: Principal<'_>,
    site_origin: &str,
    origin: &OriginSettings,
    now: u64,
) -> Result<String> {
    let ttl = origin.assertion_ttl_seconds;
    let cache_key = match principal {
        Principal::User(session) => SessionKey::of(session, site_origin),
        Principal::ServiceToken(id) => SessionKey::of_token(id, site_origin),
    };
    if let Some(jwt) = ASSERTIONS.with(|c| c.get(&cache_key, ttl, now)) {
        return Ok(jwt);
    }
    let audience = origin.url.origin().ascii_serialization();
    let input = principal.signing_input(key, site_origin, &audience, now, ttl);
    let params = object(&[("name", "ECDSA".into()), ("hash", "SHA-256".into())]).map_err(crypto)?;
    let promise = subtle()
        .map_err(crypto)?
        .sign_with_object_and_u8_array(&params, &signing_key(key).await?, input.as_bytes())
        .map_err(js)?;
    let signature = Uint8Array::new(&JsFuture::from(promise).await.map_err(js)?).to_vec();
    let jwt = format!("{input}.{}", b64::encode(signature));
    ASSERTIONS.with(|c| c.insert(cache_key, jwt.clone(), ttl, now));
    Ok(jwt)
}

/// The same request (method, headers, body) for another URL: the canonical path, when it differs from the one
/// received (static mode).
pub fn request_at(req: &Request, url: &url::Url) -> Result<Request> {
    let inner = req.inner();
    let method = inner.method();
    let init = web_sys::RequestInit::new();
    init.set_method(&method);
    init.set_headers(&inner.headers());
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if method != "GET" && method != "HEAD" {
        if let Some(body) = inner.body() {
            init.set_body(&body);
        }
    }
    Ok(Request::from(web_sys::Request::new_with_str_and_init(url.as_str(), &init).map_err(js)?))
}

/// Forward `req` to the origin at the canonical `path` (exactly: `path` contains nothing that `set_path`
/// re-encodes). Client-sent identity headers (the service-token headers too) and our cookies never reach it; for
/// a signed-in user or a service token the identity headers and the assertion are added.
///
/// Built on web-sys directly: workers-rs's `RequestInit` conversion carries every Cloudflare `cf` option
/// (about 10 KB of wasm) and we set none of them.
pub async fn proxy(
    req: Request,
    url: &url::Url,
    path: &str,
    origin: &OriginSettings,
    identity: Option<(Principal<'_>, String)>,
) -> Result<Response> {
    let mut target = origin.url.clone();
    target.set_path(path);
    target.set_query(url.query());
    let headers = web_sys::Headers::new().map_err(js)?;
    for (name, value) in req.headers().entries() {
        if forwarded_as_received(&name) {
            headers.append(&name, &value).map_err(js)?;
        }
    }
    if let Some(cookie) = req.headers().get("cookie")? {
        let forwarded = cookie_header_for_origin(&cookie);
        if !forwarded.is_empty() {
            headers.set("cookie", &forwarded).map_err(js)?;
        }
    }
    headers.set("x-forwarded-host", url.host_str().unwrap_or_default()).map_err(js)?;
    headers.set("x-forwarded-proto", url.scheme()).map_err(js)?;
    if let Some((principal, assertion)) = identity {
        for (name, value) in principal.headers() {
            headers.set(name, &value).map_err(js)?;
        }
        headers.set(ASSERTION_HEADER, &assertion).map_err(js)?;
    }
    let inner = req.inner();
    let method = inner.method();
    let init = web_sys::RequestInit::new();
    init.set_method(&method);
    init.set_headers(&headers);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if method != "GET" && method != "HEAD" {
        if let Some(body) = inner.body() {
            init.set_body(&body);
        }
    }
    let upstream = web_sys::Request::new_with_str_and_init(target.as_str(), &init).map_err(js)?;
    Ok(Response::from(crate::platform::bindings::fetch(&upstream).await.map_err(js)?))
}
