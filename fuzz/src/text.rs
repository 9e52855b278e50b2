//! Fuzzer-chosen strings and byte strings with a simple, seed-friendly encoding: a little-endian `u16`
//! length, then that many bytes (capped by what is left). `arbitrary`'s own `String` takes its length from
//! the *end* of the data, which makes hand-written seeds impractical.

use arbitrary::{Arbitrary, Unstructured};

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Text(pub String);

fn take<'a>(u: &mut Unstructured<'a>) -> arbitrary::Result<&'a [u8]> {
    let len = usize::from(u16::arbitrary(u)?).min(u.len());
    u.bytes(len)
}

impl<'a> Arbitrary<'a> for Bytes {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Bytes(take(u)?.to_vec()))
    }
    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (2, None)
    }
}

impl<'a> Arbitrary<'a> for Text {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Text(String::from_utf8_lossy(take(u)?).into_owned()))
    }
    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (2, None)
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(s) => write!(f, "b{s:?}"),
            Err(_) => write!(f, "hex:{}", self.0.iter().map(|b| format!("{b:02x}")).collect::<String>()),
        }
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
