//! JSON text with holes: a JSON object written member by member, so raw (possibly invalid) JSON can be spliced
//! in where the input asks for it.

use serde_json::Value;

use super::input::{EvClaim, Member, StrClaim};
use super::MAX_REPEAT;
use crate::Text;

/// A JSON object written member by member, so raw (possibly invalid) JSON can be spliced in.
#[derive(Default)]
pub(super) struct Obj {
    members: Vec<(String, String)>,
}

impl Obj {
    pub(super) fn raw(&mut self, key: &str, json_text: impl Into<String>) {
        self.members.push((key.to_string(), json_text.into()));
    }

    pub(super) fn value(&mut self, key: &str, v: &Value) {
        self.raw(key, v.to_string());
    }

    pub(super) fn string(&mut self, key: &str, s: &str) {
        self.value(key, &Value::String(s.to_string()));
    }

    /// A member with a realistic default (`None` = absent by default).
    pub(super) fn member(&mut self, key: &str, m: &Member, default: Option<Value>) {
        match m {
            Member::Default => {
                if let Some(v) = default {
                    self.value(key, &v);
                }
            }
            Member::Absent => {}
            Member::Raw(t) => self.string(key, t.as_str()),
            Member::RawJson(t) => self.raw(key, t.as_str()),
        }
    }

    /// A string claim: `default` when `Default`, `expected` when `Expected`.
    pub(super) fn claim(&mut self, key: &str, claim: &StrClaim, default: Option<&str>, expected: &str) {
        match claim {
            StrClaim::Default => {
                if let Some(d) = default {
                    self.string(key, d)
                }
            }
            StrClaim::Absent => {}
            StrClaim::Expected => self.string(key, expected),
            StrClaim::Raw(t) => self.string(key, t.as_str()),
            StrClaim::RawJson(t) => self.raw(key, t.as_str()),
            StrClaim::Long(n) => self.string(key, &"x".repeat(usize::from(*n) % MAX_REPEAT)),
        }
    }

    pub(super) fn email_verified(&mut self, claim: &EvClaim) {
        match claim {
            EvClaim::Default => self.raw("email_verified", "true"),
            EvClaim::False => self.raw("email_verified", "false"),
            EvClaim::StringTrue => self.raw("email_verified", "\"true\""),
            EvClaim::StringFalse => self.raw("email_verified", "\"false\""),
            EvClaim::Absent => {}
            EvClaim::RawJson(t) => self.raw("email_verified", t.as_str()),
        }
    }

    pub(super) fn finish(self, extra: Option<&Text>) -> String {
        let mut parts: Vec<String> =
            self.members.into_iter().map(|(k, v)| format!("{}:{v}", Value::String(k))).collect();
        if let Some(e) = extra {
            parts.push(e.0.clone());
        }
        format!("{{{}}}", parts.join(","))
    }
}
