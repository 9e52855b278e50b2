//! Strict JSON for every document the worker reads: from outside, ID and logout token headers and claims,
//! discovery, JWKS, token and UserInfo responses, Facebook's Graph answers, `AUTH_CONFIG` and the assertion key;
//! and our own, the sealed session and transaction cookies and the revocation log's pages.
//!
//! - A document is read into a [`Value`] by one reader, [`parse`], which refuses a member name given twice in
//!   any object at any depth (`{"alg":"RS256","alg":"none"}`, `{"groups":[],"groups":["admins"]}`): two
//!   readers of the same signed bytes must never see different claims, and serde_json's own `Value` keeps the
//!   last one silently.
//! - A document that must be an object is an object ([`parse_object`]): serde's derived structs also read a
//!   JSON *array* by position (`["RS256","kid"]` as `{"alg":"RS256","kid":"kid"}`); a hand reader over
//!   [`Members`] cannot.
//! - Members are read by name through [`Members`], with serde's wording for the errors ("missing field
//!   `exp`", "invalid type: sequence, expected a string"). No value from the document is put in them; a member
//!   name is, when it is short printable ASCII (the reader's "duplicate field `alg`").
//!
//! One reader instead of a derived `Deserialize` per document type: each derive instantiated serde_json's struct
//! visitor again (about 60 KB of the worker's wasm for a dozen types), and any derive brings serde's "invalid
//! type: floating point" message and with it Rust's float formatting (15 KB). Types we write keep their derived
//! `Serialize`; nothing in the crate derives `Deserialize` (scripts/size.mjs's budget would show one coming back).

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A JSON object as [`parse_object`] reads it.
pub type Object = Map<String, Value>;

/// Parse a whole JSON document, refusing a member name given twice in any object.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice::<Strict>(bytes).map(|s| s.0).map_err(|e| e.to_string())
}

/// Parse a document that must be a JSON object (see [`parse`]).
pub fn parse_object(bytes: &[u8]) -> Result<Object, String> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err("expected a JSON object".into());
    }
    match parse(bytes)? {
        Value::Object(members) => Ok(members),
        _ => Err("expected a JSON object".into()),
    }
}

/// A [`Value`] whose objects have no member twice.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::Number(v.into())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::Number(v.into())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Strict, E> {
        // JSON text has no NaN or infinity; serde_json refuses numbers out of f64's range before this.
        Number::from_f64(v).map(|n| Strict(Value::Number(n))).ok_or_else(|| E::custom("a number out of range"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Strict(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                return Err(de::Error::custom(format_args!("duplicate field {}", shown_name(&name))));
            }
            let Strict(value) = map.next_value()?;
            members.insert(name, value);
        }
        Ok(Strict(Value::Object(members)))
    }
}

/// A member name for an error message: in backquotes when it is short printable ASCII (every name we read
/// is), otherwise not at all — the document's text never reaches a log line unchecked.
fn shown_name(name: &str) -> String {
    if name.len() <= 64 && name.bytes().all(|b| b.is_ascii_graphic() && b != b'`') {
        format!("`{name}`")
    } else {
        "(a member name not shown)".into()
    }
}

/// What kind of JSON value `v` is, in serde's words.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "sequence",
        Value::Object(_) => "map",
    }
}

/// "invalid type: KIND, expected EXPECTED (`NAME`)".
pub fn invalid_type(name: &str, found: &Value, expected: &str) -> String {
    format!("invalid type: {}, expected {expected} ({})", kind(found), shown_name(name))
}

/// The members of an object, read by name. A member that is `null` reads as absent (as serde's `Option`
/// fields did); a member of another type than asked is an error.
#[derive(Clone, Copy)]
pub struct Members<'a>(pub &'a Object);

impl<'a> Members<'a> {
    /// Whether the member is there at all, `null` included (for members that must not be there).
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// The member, unless absent or `null`.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A member that must be there (`null` is not a value of any type we require).
    pub fn required(&self, name: &str) -> Result<&'a Value, String> {
        self.0.get(name).ok_or_else(|| format!("missing field {}", shown_name(name)))
    }

    /// A string member that must be there.
    pub fn string(&self, name: &str) -> Result<&'a str, String> {
        let v = self.required(name)?;
        v.as_str().ok_or_else(|| invalid_type(name, v, "a string"))
    }

    pub fn opt_string(&self, name: &str) -> Result<Option<&'a str>, String> {
        self.get(name).map(|v| v.as_str().ok_or_else(|| invalid_type(name, v, "a string"))).transpose()
    }

    /// A list of strings.
    pub fn opt_strings(&self, name: &str) -> Result<Option<Vec<String>>, String> {
        let Some(v) = self.get(name) else { return Ok(None) };
        let items = v.as_array().ok_or_else(|| invalid_type(name, v, "a sequence"))?;
        items
            .iter()
            .map(|item| item.as_str().map(str::to_string).ok_or_else(|| invalid_type(name, item, "a string")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A boolean that must be there.
    pub fn bool(&self, name: &str) -> Result<bool, String> {
        let v = self.required(name)?;
        v.as_bool().ok_or_else(|| invalid_type(name, v, "a boolean"))
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, String> {
        self.get(name).map(|v| v.as_bool().ok_or_else(|| invalid_type(name, v, "a boolean"))).transpose()
    }

    /// A non-negative integer that must be there.
    pub fn u64(&self, name: &str) -> Result<u64, String> {
        let v = self.required(name)?;
        v.as_u64().ok_or_else(|| invalid_type(name, v, "an unsigned integer"))
    }

    pub fn opt_u64(&self, name: &str) -> Result<Option<u64>, String> {
        self.get(name).map(|v| v.as_u64().ok_or_else(|| invalid_type(name, v, "an unsigned integer"))).transpose()
    }

    /// An integer (a number with a fraction or an exponent is not one).
    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>, String> {
        self.get(name).map(|v| v.as_i64().ok_or_else(|| invalid_type(name, v, "an integer"))).transpose()
    }

    pub fn opt_object(&self, name: &str) -> Result<Option<&'a Object>, String> {
        self.get(name).map(|v| v.as_object().ok_or_else(|| invalid_type(name, v, "a map"))).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_must_be_objects() {
        assert!(parse_object(br#"["RS256","k"]"#).is_err());
        assert!(parse_object(br#" {"alg":"RS256"}"#).is_ok());
        assert!(parse_object(b"").is_err());
        assert!(parse_object(b"null").is_err());
        assert!(parse_object(b"{}x").is_err(), "trailing characters");
        assert!(parse(b"[1, 2.5, -3, true, null, \"x\", {}]").is_ok());
    }

    #[test]
    fn a_member_given_twice_is_refused_at_any_depth() {
        let e = parse_object(br#"{"alg":"RS256","alg":"none"}"#).unwrap_err();
        assert!(e.contains("duplicate field `alg`"), "{e}");
        assert!(parse_object(br#"{"a":{"groups":[],"groups":["admins"]}}"#).unwrap_err().contains("duplicate field"));
        assert!(parse_object(br#"{"a":[{"k":1,"k":1}]}"#).unwrap_err().contains("duplicate field"));
        // The same name in different objects is fine; an escaped spelling of a name is the same name.
        assert!(parse_object(br#"{"a":{"k":1},"b":{"k":1}}"#).is_ok());
        assert!(parse_object(br#"{"alg":"RS256","\u0061lg":"none"}"#).unwrap_err().contains("duplicate field"));
        // A name that is not short printable ASCII is not echoed.
        let e = parse_object("{\"\u{1F600}\":1,\"\u{1F600}\":2}".as_bytes()).unwrap_err();
        assert!(e.contains("not shown") && !e.contains('\u{1F600}'), "{e}");
    }

    #[test]
    fn what_serde_json_refuses_stays_refused() {
        // Nesting beyond serde_json's limit of 128, numbers out of f64's range, lone surrogates, invalid UTF-8.
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        assert!(parse(deep.as_bytes()).is_err());
        assert!(parse(format!("{}1{}", "[".repeat(100), "]".repeat(100)).as_bytes()).is_ok());
        assert!(parse(b"1e400").is_err());
        assert!(parse_object(br#"{"v":"\ud800"}"#).is_err(), "a lone surrogate escape");
        assert!(parse_object(br#"{"v":"\ud83d\ude00"}"#).is_ok(), "a surrogate pair");
        assert!(parse_object(b"{\"v\":\"\xff\"}").is_err(), "invalid UTF-8");
        // A very large integer reads as a float, as serde_json's own Value reads it.
        assert_eq!(parse(b"18446744073709551616").unwrap(), serde_json::json!(18446744073709551616.0));
    }

    #[test]
    fn members_by_type() {
        let o = parse_object(br#"{"s":"x","n":null,"i":5,"f":1.5,"b":true,"l":["a","b"],"m":[1],"o":{}}"#).unwrap();
        let m = Members(&o);
        assert_eq!(m.string("s").unwrap(), "x");
        assert_eq!(m.string("missing").unwrap_err(), "missing field `missing`");
        assert_eq!(m.string("n").unwrap_err(), "invalid type: null, expected a string (`n`)");
        assert_eq!(m.opt_string("n").unwrap(), None, "null reads as absent");
        assert_eq!(m.opt_string("l").unwrap_err(), "invalid type: sequence, expected a string (`l`)");
        assert_eq!(m.opt_i64("i").unwrap(), Some(5));
        assert!(m.opt_i64("f").is_err(), "a fraction is not an integer");
        assert_eq!(m.opt_bool("b").unwrap(), Some(true));
        assert!(m.opt_bool("s").is_err());
        assert_eq!(m.opt_strings("l").unwrap(), Some(vec!["a".to_string(), "b".to_string()]));
        assert!(m.opt_strings("m").is_err(), "a list of numbers");
        assert!(m.opt_strings("s").is_err(), "one string is not a list");
        assert!(m.opt_object("o").unwrap().is_some());
        assert!(m.opt_object("l").is_err());
    }
}
