//! Reading a body with a cap: nothing beyond the cap is ever buffered. A `Content-Length` over the cap is
//! refused before the first byte is read; otherwise the stream is read chunk by chunk and cancelled as soon as
//! it passes the cap (a body without `Content-Length`, or with a lying one).

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::core::http::declared_length_exceeds;
use crate::platform::bindings::error_message;

#[derive(Debug)]
pub enum BodyError {
    /// More than the cap (declared or streamed).
    TooLarge,
    /// The stream failed.
    Failed(String),
}

fn failed(e: JsValue) -> BodyError {
    BodyError::Failed(error_message(&e, "reading the body failed"))
}

/// The body of `stream` (absent: empty), at most `cap` bytes.
pub async fn read_capped(
    stream: Option<web_sys::ReadableStream>,
    content_length: Option<&str>,
    cap: usize,
) -> Result<Vec<u8>, BodyError> {
    if declared_length_exceeds(content_length, cap) {
        // Not a byte is read; the runtime discards the rest after the answer.
        return Err(BodyError::TooLarge);
    }
    let Some(stream) = stream else { return Ok(Vec::new()) };
    let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut body = Vec::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(failed)?;
        let done = Reflect::get(&chunk, &JsValue::from_str("done")).map_err(failed)?;
        if done.as_bool() == Some(true) {
            return Ok(body);
        }
        let value = Reflect::get(&chunk, &JsValue::from_str("value")).map_err(failed)?;
        let Some(bytes) = value.dyn_ref::<Uint8Array>() else {
            return Err(BodyError::Failed("the body stream gave something other than bytes".into()));
        };
        let length = bytes.length() as usize;
        if body.len().saturating_add(length) > cap {
            let _ = reader.cancel();
            return Err(BodyError::TooLarge);
        }
        let start = body.len();
        body.resize(start + length, 0);
        if let Some(slot) = body.get_mut(start..) {
            bytes.copy_to(slot);
        }
    }
}
