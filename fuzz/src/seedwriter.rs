//! Writes bytes that `arbitrary` 1.x decodes back into a chosen value, for hand-made seeds of structured
//! targets. Only what the seeds need: enum variants (derive: `(u32 * variant_count) >> 32`), bools, the
//! `Text`/`Bytes` encoding, `Vec` continuation bytes, and "the default" (all zero bytes, which decode to
//! variant 0 / false / empty everywhere). `examples/gen_seeds.rs` decodes every seed again and checks it.

use arbitrary::{Arbitrary, Unstructured};

#[derive(Default)]
pub struct SeedWriter {
    pub bytes: Vec<u8>,
}

impl SeedWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Enum variant `index` of a derived enum with `count` variants.
    pub fn variant(&mut self, index: u32, count: u32) -> &mut Self {
        assert!(index < count);
        let x = ((u64::from(index) << 32).div_ceil(u64::from(count))) as u32;
        assert_eq!((u64::from(x) * u64::from(count)) >> 32, u64::from(index));
        self.bytes.extend_from_slice(&x.to_le_bytes());
        self
    }

    pub fn bool(&mut self, b: bool) -> &mut Self {
        self.bytes.push(u8::from(b));
        self
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.bytes.push(v);
        self
    }

    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A `Text` or `Bytes` value.
    pub fn text(&mut self, s: impl AsRef<[u8]>) -> &mut Self {
        let s = s.as_ref();
        let len = u16::try_from(s.len()).expect("seed text too long");
        self.u16(len);
        self.bytes.extend_from_slice(s);
        self
    }

    /// The encoding of `T`'s all-zero default (variant 0, false, empty, 0 everywhere).
    pub fn default_of<'a, T: Arbitrary<'a>>(&mut self) -> &mut Self {
        let n = default_len::<T>();
        self.bytes.extend(std::iter::repeat_n(0u8, n));
        self
    }

    /// `n` zero bytes.
    pub fn zeros(&mut self, n: usize) -> &mut Self {
        self.bytes.extend(std::iter::repeat_n(0u8, n));
        self
    }

    pub fn finish(&self) -> Vec<u8> {
        self.bytes.clone()
    }
}

/// How many bytes `T::arbitrary` consumes from a stream of zeros.
pub fn default_len<'a, T: Arbitrary<'a>>() -> usize {
    static ZEROS: [u8; 65536] = [0; 65536];
    let mut u: Unstructured<'a> = Unstructured::new(&ZEROS);
    let _ = T::arbitrary(&mut u);
    ZEROS.len() - u.len()
}
