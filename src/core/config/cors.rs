//! `cors` of `AUTH_CONFIG`: which API paths answer browsers' CORS preflights, for which origins
//! ([`crate::core::cors`]).

use serde_json::Value;

use crate::core::config::error::ConfigError;
use crate::core::config::fields::{kind, Fields};
use crate::core::cors::{is_token, CorsRule};
use crate::core::url::is_loopback_host;

/// The longest `max_age_seconds` (browsers cap it lower: Chromium at 2 hours).
pub const MAX_CORS_MAX_AGE: u64 = 86_400;

/// The fields of one rule of `cors`.
pub(crate) const CORS_RULE_FIELDS: &[&str] =
    &["paths", "allowed_origins", "allowed_methods", "allowed_headers", "allow_credentials", "max_age_seconds"];
/// Read and validate the `cors` list (absent: none).
pub(crate) fn read_cors(value: Option<&Value>) -> Result<Vec<CorsRule>, ConfigError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ConfigError::top("cors", format!("invalid type: {}, expected a list of rules", kind(other))))
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("cors[{i}].");
        let f = Fields::of(item, &prefix, None, CORS_RULE_FIELDS)?;
        let at = |field: &str, j: usize, why: String| ConfigError::top(format!("{prefix}{field}[{j}]"), why);
        let required = |name: &str| -> Result<Vec<String>, ConfigError> {
            let list = f.str_list(name)?;
            if list.is_empty() {
                return Err(f.err(name, "must list at least one entry"));
            }
            Ok(list)
        };
        let mut paths = Vec::new();
        for (j, p) in required("paths")?.iter().enumerate() {
            let pattern = crate::core::policy::parse_path_pattern(p).map_err(|why| {
                at("paths", j, format!("{p:?} must be an absolute path, optionally ending in /*: {why}"))
            })?;
            if crate::core::flow::is_auth_path(&pattern.as_str()) || pattern.as_str() == "/auth/*" {
                return Err(at("paths", j, "edge-auth's own /auth/ routes take no CORS rules".into()));
            }
            paths.push(pattern);
        }
        let allow_credentials = f.bool("allow_credentials")?;
        let allowed_origins = required("allowed_origins")?;
        for (j, o) in allowed_origins.iter().enumerate() {
            check_origin(o, allow_credentials).map_err(|why| at("allowed_origins", j, format!("{o:?}: {why}")))?;
        }
        let allowed_methods = required("allowed_methods")?;
        for (j, m) in allowed_methods.iter().enumerate() {
            if !is_token(m) || m.bytes().any(|b| b.is_ascii_lowercase()) {
                return Err(at(
                    "allowed_methods",
                    j,
                    format!("{m:?} is not a method as browsers send it (e.g. \"POST\")"),
                ));
            }
        }
        let mut allowed_headers = Vec::new();
        for (j, h) in f.str_list("allowed_headers")?.iter().enumerate() {
            if !is_token(h) {
                return Err(at("allowed_headers", j, format!("{h:?} is not a header name")));
            }
            allowed_headers.push(h.to_ascii_lowercase());
        }
        let max_age_seconds = f.opt_u64("max_age_seconds")?;
        if max_age_seconds.is_some_and(|age| age > MAX_CORS_MAX_AGE) {
            return Err(f.err("max_age_seconds", format!("must be at most {MAX_CORS_MAX_AGE} seconds")));
        }
        out.push(CorsRule {
            paths,
            allowed_origins,
            allowed_methods,
            allowed_headers,
            allow_credentials,
            max_age_seconds,
        });
    }
    Ok(out)
}

/// An allowed origin: exactly as browsers serialise it (`https://host[:port]`, lower case, no default port, no
/// path), `https` or loopback `http`; `*` only without credentials.
fn check_origin(origin: &str, credentials: bool) -> Result<(), &'static str> {
    if origin == "*" {
        return if credentials {
            Err("`*` cannot be combined with allow_credentials: list the origins")
        } else {
            Ok(())
        };
    }
    let url = url::Url::parse(origin).map_err(|_| "not an origin like https://app.example")?;
    if !crate::core::url::has_plain_host(&url) {
        return Err("one origin per entry: no wildcards or other characters in the host");
    }
    if url.origin().ascii_serialization() != origin {
        return Err("must be written as browsers send it: scheme://host[:port], lower case, no path or trailing /");
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(url.host()) => Ok(()),
        _ => Err("https:// only (http:// for localhost, 127.0.0.0/8 and [::1])"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<Vec<CorsRule>, ConfigError> {
        read_cors(Some(&serde_json::from_str(json).unwrap()))
    }

    #[test]
    fn a_rule_is_read() {
        let r = read(
            r#"[{"paths":["/api/*","/graphql"],"allowed_origins":["https://app.example","http://localhost:3000"],
                "allowed_methods":["GET","POST"],"allowed_headers":["Content-Type"],"allow_credentials":true,"max_age_seconds":600}]"#,
        )
        .unwrap();
        assert_eq!(r[0].allowed_headers, vec!["content-type"]);
        assert_eq!(r[0].max_age_seconds, Some(600));
        assert!(r[0].paths[1].matches("/graphql"));
    }

    #[test]
    fn errors_name_the_field() {
        let base = |over: &str| {
            format!(
                r#"[{{"paths":["/api/*"],"allowed_origins":["https://app.example"],"allowed_methods":["GET"]{over}}}]"#
            )
        };
        for (json, field) in [
            (base(r#","allowed_origins":["*"],"allow_credentials":true"#), "cors[0].allowed_origins[0]"),
            (base(r#","allowed_origins":["https://app.example/"]"#), "cors[0].allowed_origins[0]"),
            (base(r#","allowed_origins":["https://App.example"]"#), "cors[0].allowed_origins[0]"),
            (base(r#","allowed_origins":["https://app.example:443"]"#), "cors[0].allowed_origins[0]"),
            (base(r#","allowed_origins":["http://app.example"]"#), "cors[0].allowed_origins[0]"),
            (base(r#","allowed_origins":["null"]"#), "cors[0].allowed_origins[0]"),
            (base(r#","allowed_origins":["https://*.example"]"#), "cors[0].allowed_origins[0]"),
            (base(r#","allowed_origins":[]"#), "cors[0].allowed_origins"),
            (base(r#","allowed_methods":["GET POST"]"#), "cors[0].allowed_methods[0]"),
            (base(r#","allowed_methods":["get"]"#), "cors[0].allowed_methods[0]"),
            (base(r#","allowed_headers":["x y"]"#), "cors[0].allowed_headers[0]"),
            (base(r#","paths":["/auth/*"]"#), "cors[0].paths[0]"),
            (base(r#","paths":["/auth/me"]"#), "cors[0].paths[0]"),
            (base(r#","paths":["api"]"#), "cors[0].paths[0]"),
            (base(r#","max_age_seconds":86401"#), "cors[0].max_age_seconds"),
            (base(r#","origins":["https://x.example"]"#), "cors[0].origins"),
        ] {
            assert_eq!(read(&json).unwrap_err().field, field, "{json}");
        }
        assert!(read(&base(r#","allowed_origins":["*"]"#)).is_ok(), "* without credentials");
        assert!(read(&base(r#","allowed_origins":["http://127.0.0.1:8787","http://[::1]:3000"]"#)).is_ok());
    }
}
