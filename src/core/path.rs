//! The request path, decided once: the canonical path C that the access policy decides on and that is
//! forwarded (to the origin, or to the static assets) byte for byte, and the readings an origin could take of
//! it, under which the policy must hold too (see [`crate::core::policy::requirement`]).
//!
//! [`canonicalize`]: percent-escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded (`%61dmin`
//! is `admin`, `%2e%2e` is `..`), the hex of the other escapes is upper-cased, characters outside RFC 3986's
//! `pchar` are escaped, empty segments (`//`) are merged and `.`/`..` resolved (never above the root). `;`
//! and encoded separators (`%2F`, `%5C`) stay as they are. Refused: control characters raw or encoded (also
//! after further rounds of decoding `%25`), malformed escapes, overlong UTF-8 (also after those rounds), a raw backslash, more than
//! [`MAX_PATH_BYTES`]. C contains only characters that neither `url::Url::set_path` nor the WHATWG URL
//! parser of the runtime re-encode, and canonicalising C gives C.
//!
//! [`READINGS`]: what an origin may make of C: `;params` stripped (Tomcat, Spring, Jetty), percent-decoded
//! once or repeatedly with `%2F`/`%5C`/`\` as separators (nginx, Express, Werkzeug, IIS's double decoding),
//! both orders of the two, each with Windows' trailing dots and spaces trimmed from segments (and ASP.NET's
//! cookieless tickets, `/(S(x))/admin`, dropped). At match time
//! each of these is also read case-insensitively, with the trailing slash ignored, and as the key of the
//! static-asset server (`/index.html`, `/index` and `/` name the same file, as do `/page.html` and `/page`).

use std::borrow::Cow;

/// Longer request paths are refused (`bad_path`).
pub const MAX_PATH_BYTES: usize = 8192;

/// Why a path cannot be canonicalised safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadPath {
    NotAbsolute,
    TooLong,
    ControlCharacter,
    MalformedEscape,
    /// `%C0%AF`: an overlong UTF-8 encoding (of `/` here), which lenient decoders read as the ASCII character.
    OverlongUtf8,
    Backslash,
}

impl BadPath {
    pub fn describe(self) -> &'static str {
        match self {
            BadPath::NotAbsolute => "the path does not start with /",
            BadPath::TooLong => "the path is longer than 8192 bytes",
            BadPath::ControlCharacter => "the path contains a control character (raw or percent-encoded)",
            BadPath::MalformedEscape => "the path contains a malformed percent-escape",
            BadPath::OverlongUtf8 => "the path contains an overlong UTF-8 sequence",
            BadPath::Backslash => "the path contains a backslash",
        }
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Characters kept as they are in C: RFC 3986 `pchar` (unreserved, sub-delims, `:`, `@`) and `/`.
fn is_kept_raw(b: u8) -> bool {
    is_unreserved(b)
        || matches!(b, b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b':' | b'@' | b'/')
}

fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn push_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    for nibble in [b >> 4, b & 0xf] {
        out.push(HEX.get(usize::from(nibble)).map_or('0', |&h| char::from(h)));
    }
}

/// The escape at `bytes[i..]` (`%XY`), if well-formed.
fn escape_at(bytes: &[u8], i: usize) -> Option<u8> {
    let hi = bytes.get(i + 1).copied().and_then(hex_value)?;
    let lo = bytes.get(i + 2).copied().and_then(hex_value)?;
    Some(hi << 4 | lo)
}

/// The escape `%XY` = `v` at `bytes[i..]` starts an overlong UTF-8 sequence: lead bytes that can only start one
/// (C0, C1; E0 80..9F; F0 80..8F).
fn overlong_at(bytes: &[u8], i: usize, v: u8) -> bool {
    let next = if bytes.get(i + 3) == Some(&b'%') { escape_at(bytes, i + 3) } else { None };
    match (v, next) {
        (0xC0 | 0xC1, _) => true,
        (0xE0, Some(n)) => (0x80..=0x9F).contains(&n),
        (0xF0, Some(n)) => (0x80..=0x8F).contains(&n),
        _ => false,
    }
}

/// Already canonical at a glance: `/`, unreserved characters, no empty and no dot segments.
fn is_simple(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else { return false };
    if !rest.bytes().all(|b| b == b'/' || is_unreserved(b)) {
        return false;
    }
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if (segment.is_empty() && !last) || segment == "." || segment == ".." {
            return false;
        }
    }
    true
}

/// A plain path: the same under every reading but case, trailing slash and asset key, so that the policy
/// check needs no allocation: `/`, unreserved characters, no empty or dot segments, no segment ending in `.`.
pub fn is_plain(path: &str) -> bool {
    is_simple(path) && !path.split('/').any(|s| s.ends_with('.'))
}

/// The canonical path C of a request path (see the module documentation); borrowed when it is already C.
pub fn canonicalize(path: &str) -> Result<Cow<'_, str>, BadPath> {
    if path.len() > MAX_PATH_BYTES {
        return Err(BadPath::TooLong);
    }
    if !path.starts_with('/') {
        return Err(BadPath::NotAbsolute);
    }
    if is_simple(path) {
        return Ok(Cow::Borrowed(path));
    }
    let bytes = path.as_bytes();
    let mut text = String::with_capacity(path.len() + 8);
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let v = escape_at(bytes, i).ok_or(BadPath::MalformedEscape)?;
            if is_control(v) {
                return Err(BadPath::ControlCharacter);
            }
            if overlong_at(bytes, i, v) {
                return Err(BadPath::OverlongUtf8);
            }
            if is_unreserved(v) {
                text.push(char::from(v));
            } else {
                push_escape(&mut text, v);
            }
            i += 3;
            continue;
        }
        if b == b'\\' {
            return Err(BadPath::Backslash);
        }
        if is_control(b) {
            return Err(BadPath::ControlCharacter);
        }
        if is_kept_raw(b) {
            text.push(char::from(b));
        } else {
            push_escape(&mut text, b);
        }
        i += 1;
    }
    // `%2500` is `%00` to an origin that decodes twice.
    if text.contains("%25") {
        let mut round = text.clone();
        for _ in 0..DECODE_ROUNDS {
            let next = decode_once(&round);
            if next.bytes().any(is_control) {
                return Err(BadPath::ControlCharacter);
            }
            // `%25C0%25AF` is `%C0%AF` to an origin that decodes twice.
            let b = next.as_bytes();
            if b.iter().enumerate().any(|(j, &c)| c == b'%' && escape_at(b, j).is_some_and(|v| overlong_at(b, j, v))) {
                return Err(BadPath::OverlongUtf8);
            }
            if next == round {
                break;
            }
            round = next;
        }
    }
    let resolved = resolve(&text);
    Ok(if resolved == path { Cow::Borrowed(path) } else { Cow::Owned(resolved) })
}

/// Merge empty segments and resolve `.` and `..` (never above the root); a trailing slash, `/.` or `/..`
/// leaves the result ending in `/`.
pub fn resolve(path: &str) -> String {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let mut out: Vec<&str> = Vec::new();
    let mut trailing = false;
    for segment in rest.split('/') {
        trailing = true;
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => {
                out.push(s);
                trailing = false;
            }
        }
    }
    let mut result = String::with_capacity(path.len() + 1);
    for s in &out {
        result.push('/');
        result.push_str(s);
    }
    if trailing || out.is_empty() {
        result.push('/');
    }
    result
}

/// Rounds of percent-decoding an origin may apply (nginx once, IIS twice, a framework once more).
const DECODE_ROUNDS: usize = 3;

/// One round of percent-decoding (malformed escapes kept), UTF-8 read lossily, `\` as `/`.
fn decode_once(path: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    decoded.replace('\\', "/")
}

/// `;params` cut from every segment (`/admin;x/y` → `/admin/y`, `/public/..;/admin` → `/public/../admin`).
fn strip_params(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(segment.split(';').next().unwrap_or_default());
    }
    out
}

/// Windows: an NTFS stream suffix (`admin::$DATA`, `admin:$i30:$INDEX_ALLOCATION`) and trailing dots and
/// spaces are not part of the name (`admin.` is `admin`); segments made of dots only are left to the
/// dot-segment resolution.
fn trim_windows(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let name = segment.split(':').next().unwrap_or_default();
        if name.bytes().all(|b| b == b'.') {
            out.push_str(name);
        } else {
            out.push_str(name.trim_end_matches(['.', ' ']));
        }
    }
    out
}

/// ASP.NET's cookieless tickets removed: every segment of the shape `(X(…))` — `(`, a letter, `(`, …, `))` —
/// which covers several tickets in one segment (`(X(1)S(abc))`) and whatever else aspnet_filter may take for one.
fn drop_cookieless(path: &str) -> String {
    let is_ticket = |segment: &str| {
        let b = segment.as_bytes();
        b.len() >= 5
            && b.first() == Some(&b'(')
            && b.get(1).is_some_and(u8::is_ascii_alphabetic)
            && b.get(2) == Some(&b'(')
            && segment.ends_with("))")
    };
    let kept: Vec<&str> = path.split('/').filter(|segment| !is_ticket(segment)).collect();
    resolve(&kept.join("/"))
}

/// One step of a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// One round of percent-decoding, `\` as `/`.
    Decode,
    /// One round of percent-decoding, `\` an ordinary character (nginx, Apache on Linux: `%5C` is part of a
    /// name, so `/public%5Cx%2F..%2Fadmin` is `/admin` there).
    DecodeLiteral,
    /// Merge `//`, resolve `.` and `..`.
    Resolve,
    /// Cut `;params` from every segment, then resolve.
    Params,
    /// Trim Windows' trailing dots and spaces from every segment, then resolve.
    Windows,
    /// Drop ASP.NET's cookieless-ticket segments (`(S(…))`, `(A(…)F(…))`): IIS's aspnet_filter removes them
    /// from the path after an application's root before anything else reads it, static files included, so
    /// `/(S(x))/admin` is `/admin` there.
    Cookieless,
}

use Step::{Cookieless as K, Decode as D, DecodeLiteral as L, Params as P, Resolve as R, Windows as W};

/// The readings of a path an origin may take, as steps applied in order (the first is C itself). Each is also
/// matched case-insensitively, without its trailing slash and as an asset key ([`Flags`]).
pub const READINGS: usize = 26;
// The policy keeps one bit per reading in a u32.
const _: () = assert!(READINGS <= 32);
const STEPS: [&[Step]; READINGS] = [
    &[],
    &[P],
    &[D, R],
    &[D, R, D, R, D, R],
    &[D, D, D, R],
    &[P, D, R],
    &[P, D, D, D, R],
    &[D, R, P],
    &[D, D, D, R, P],
    &[W],
    &[P, W],
    &[D, R, W],
    &[D, R, D, R, D, R, W],
    &[D, D, D, R, W],
    &[P, D, R, W],
    &[P, D, D, D, R, W],
    &[D, R, P, W],
    &[D, D, D, R, P, W],
    &[L, R],
    &[L, R, L, R, L, R],
    &[L, L, L, R],
    &[P, L, R],
    &[L, R, P],
    &[K, W],
    &[D, R, K, W],
    &[D, D, D, R, K, W],
];

/// Reading number `index` of `path` (C itself for 0; out of range: C).
pub fn reading(index: usize, path: &str) -> Cow<'_, str> {
    let Some(steps) = STEPS.get(index) else { return Cow::Borrowed(path) };
    let mut current = Cow::Borrowed(path);
    for step in *steps {
        let next = match step {
            Step::Decode => {
                if !current.contains(['%', '\\']) {
                    continue;
                }
                decode_once(&current)
            }
            Step::DecodeLiteral => {
                if !current.contains('%') {
                    continue;
                }
                percent_encoding::percent_decode_str(&current).decode_utf8_lossy().into_owned()
            }
            Step::Resolve => resolve(&current),
            Step::Params => {
                if !current.contains(';') {
                    continue;
                }
                resolve(&strip_params(&current))
            }
            Step::Windows => resolve(&trim_windows(&current)),
            Step::Cookieless => {
                if !current.contains('(') {
                    continue;
                }
                drop_cookieless(&current)
            }
        };
        current = Cow::Owned(next);
    }
    current
}

/// What some origins serve for a (read) path besides the path itself, each a slice of it: `f` is called with
/// the path, then with the part before a decoded `?` or `#` (a proxy that forwards the decoded path — nginx
/// `proxy_pass http://app$uri`, a mod_rewrite back-reference — makes the rest the next server's query or
/// fragment: `/admin%3Fx` is `/admin` there), then, for the path and that part, with the path info after each
/// segment that names a PHP script (`/index.php/admin` is `/admin` to Symfony, Laravel, CodeIgniter; Symfony
/// also reads `/public/index.php/admin` as `/admin`), and with the script itself, which serves every path below
/// it (`PATH_INFO`: `/admin.php/x` runs `/admin.php` under Apache, nginx with `fastcgi_split_path_info`, IIS;
/// also `.aspx`, `.asmx`, `.ashx`, `.cgi`, `.pl`); and with the page whose data Next.js serves at
/// `/_next/data/<build id>/<page>.json` (`/_next/data/b1/admin.json` is `/admin`'s server-side props,
/// `/_next/data/b1/index.json` the root page's). Nothing is allocated.
pub fn for_each_served<'a>(path: &'a str, mut f: impl FnMut(&'a str)) {
    f(path);
    // Nothing else without a `?`, `#` or `.` (script names, `.json`).
    if !path.bytes().any(|b| matches!(b, b'?' | b'#' | b'.')) {
        return;
    }
    let data = path.strip_prefix("/_next/data/").and_then(|rest| rest.get(rest.find('/')?..)?.strip_suffix(".json"));
    match data {
        Some("/index") => f("/"),
        Some(page) => f(page),
        None => {}
    }
    let cut = path.find(['?', '#']).and_then(|i| path.get(..i)).filter(|head| !head.is_empty());
    if let Some(head) = cut {
        f(head);
    }
    for subject in std::iter::once(path).chain(cut) {
        let mut start = 0;
        while let Some(offset) = subject.get(start + 1..).and_then(|rest| rest.find('/')) {
            let end = start + 1 + offset;
            let segment = subject.get(start + 1..end).unwrap_or_default();
            let script = |ext: &str| segment.len() > ext.len() && strip_suffix_fold(segment, ext, true).is_some();
            if !segment.contains('.') {
                start = end;
                continue;
            }
            if script(".php") {
                if let Some(info) = subject.get(end..) {
                    f(info);
                }
            }
            if [".php", ".aspx", ".asmx", ".ashx", ".cgi", ".pl"].into_iter().any(script) {
                if let Some(file) = subject.get(..end) {
                    f(file);
                }
            }
            start = end;
        }
    }
}

/// How a reading is compared, on top of its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    /// Letter case ignored (IIS, ASP.NET, Windows, macOS file systems).
    pub fold: bool,
    /// What is compared: the path, the path without its trailing slash, or its asset key.
    pub key: Key,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Path,
    NoTrailingSlash,
    /// The asset key ([`key`]): rules and paths compared as the file they name.
    Asset,
    /// The file the asset server serves for the path ([`served`]), compared with prefix rules as they are
    /// written (static mode only: `/public` serves `/public.html`, which a `/public/*` rule does not name);
    /// exact rules are compared by their asset key.
    Served,
    /// The path, or the path with a format extension: Rails routes every path with an
    /// optional `(.:format)` and Spring MVC's suffix pattern match (the default before 5.3) serves `/admin.json`
    /// and `/admin.x.y` from the `/admin` route, Apache's `MultiViews` `/admin.php` at `/admin`.
    Format,
}

/// Every combination of [`Flags`].
pub const FLAGS: [Flags; 10] = [
    Flags { fold: false, key: Key::Path },
    Flags { fold: false, key: Key::NoTrailingSlash },
    Flags { fold: false, key: Key::Asset },
    Flags { fold: false, key: Key::Served },
    Flags { fold: false, key: Key::Format },
    Flags { fold: true, key: Key::Path },
    Flags { fold: true, key: Key::NoTrailingSlash },
    Flags { fold: true, key: Key::Asset },
    Flags { fold: true, key: Key::Served },
    Flags { fold: true, key: Key::Format },
];

/// The file Workers Static Assets (`html_handling = "auto-trailing-slash"`) serve for a path, as (path, suffix
/// to append): `X/` serves `X/index.html`, `X` serves `X` or else `X.html` (the other spellings — `X.html`,
/// `X/index.html`, `X/index` — answer a redirect, itself a request the gate sees).
pub fn served(path: &str, fold: bool) -> (&str, &'static str) {
    if path.ends_with('/') {
        (path, "index.html")
    } else if strip_suffix_fold(path, ".html", fold).is_some() {
        (path, "")
    } else {
        (path, ".html")
    }
}

/// `base + suffix` is `prefix` or below it, without joining them.
pub fn under_joined(base: &str, suffix: &str, prefix: &str, fold: bool) -> bool {
    if prefix.is_empty() {
        return true;
    }
    let (n, b) = (prefix.len(), base.len());
    if n > b + suffix.len() {
        return false;
    }
    let head_matches = if n <= b {
        base.get(..n).is_some_and(|h| same(h, prefix, fold))
    } else {
        prefix.get(..b).is_some_and(|p| same(base, p, fold))
            && match (suffix.get(..n - b), prefix.get(b..)) {
                (Some(s), Some(p)) => same(s, p, fold),
                _ => false,
            }
    };
    let next = if n < b { base.as_bytes().get(n) } else { suffix.as_bytes().get(n - b) };
    head_matches && matches!(next, None | Some(b'/'))
}

/// Case folding for the case-insensitive readings: ASCII letters lower-cased, and the non-ASCII characters that
/// case-insensitive comparisons take for ASCII letters mapped onto them — `ſ` (.NET's `OrdinalIgnoreCase`
/// upper-cases it to `S`), the Kelvin sign (lower-cases to `k`), `ı` and `İ`, and the full case foldings
/// `ß`/`ẞ` → `ss` and the ligatures `ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ`. Other characters are kept: rule paths are ASCII (see
/// `policy::parse_pattern`), so no other character can meet a rule's letter. (No Unicode case tables: they
/// would add ~20 KiB to the Worker.)
pub fn fold(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Cow::Owned(text.to_ascii_lowercase());
        }
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{17F}' => out.push('s'),
            '\u{212A}' => out.push('k'),
            '\u{130}' | '\u{131}' => out.push('i'),
            '\u{DF}' | '\u{1E9E}' => out.push_str("ss"),
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => out.push_str("st"),
            c => out.push(c.to_ascii_lowercase()),
        }
    }
    Cow::Owned(out)
}

fn strip_suffix_fold<'a>(text: &'a str, suffix: &str, fold: bool) -> Option<&'a str> {
    let cut = text.len().checked_sub(suffix.len())?;
    let (head, tail) = (text.get(..cut)?, text.get(cut..)?);
    let same = if fold { tail.eq_ignore_ascii_case(suffix) } else { tail == suffix };
    same.then_some(head)
}

fn without_trailing_slash(path: &str) -> &str {
    match path.strip_suffix('/') {
        Some(head) if !head.is_empty() => head,
        _ => path,
    }
}

/// What is compared of a (read) path under `flags`: the path, without its trailing slash, or the key under
/// which Workers Static Assets (`html_handling = "auto-trailing-slash"`) serve a file: `/index.html`,
/// `/index` and `/` are `/`; `/dir/index.html`, `/dir/index`, `/dir/` and `/dir` are `/dir`; `/page.html`,
/// `/page/` and `/page` are `/page`. Slices only: no allocation.
pub fn key(path: &str, flags: Flags) -> &str {
    match flags.key {
        Key::Path | Key::Served | Key::Format => path,
        Key::NoTrailingSlash => without_trailing_slash(path),
        Key::Asset => {
            let path = without_trailing_slash(path);
            let stem = strip_suffix_fold(path, "/index.html", flags.fold)
                .or_else(|| strip_suffix_fold(path, "/index", flags.fold))
                .or_else(|| strip_suffix_fold(path, ".html", flags.fold))
                .map(without_trailing_slash);
            match stem {
                Some("") => "/",
                Some(stem) => stem,
                None => path,
            }
        }
    }
}

/// `a == b`, ignoring ASCII case when folding (callers fold non-ASCII text with [`fold`] first).
pub fn same(a: &str, b: &str, fold: bool) -> bool {
    if fold {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

/// `path` is `base` followed by a format extension: a `.`, then at least one character and no `/`
/// (`/admin.json` for `/admin`, see [`Key::Format`]); a trailing slash is ignored (Rails drops it).
pub fn with_format(path: &str, base: &str, fold: bool) -> bool {
    let path = without_trailing_slash(path);
    let (Some(head), Some(tail)) = (path.get(..base.len()), path.get(base.len()..)) else { return false };
    same(head, base, fold) && tail.len() > 1 && tail.starts_with('.') && !tail.contains('/')
}

/// `path` is `prefix` or below it (`prefix` without the trailing `/*`; empty: everything).
pub fn under(path: &str, prefix: &str, fold: bool) -> bool {
    if prefix.is_empty() {
        return true;
    }
    let Some(head) = path.get(..prefix.len()) else { return false };
    same(head, prefix, fold) && matches!(path.as_bytes().get(prefix.len()), None | Some(b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(path: &str) -> String {
        canonicalize(path).unwrap().into_owned()
    }

    #[test]
    fn canonical_paths() {
        for (raw, canonical) in [
            ("/", "/"),
            ("/admin", "/admin"),
            ("/admin/", "/admin/"),
            ("//admin", "/admin"),
            ("/admin//x", "/admin/x"),
            ("///", "/"),
            ("/%61dmin", "/admin"),
            ("/%41%44MIN", "/ADMIN"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/public/%2E%2e/admin", "/admin"),
            ("/public/.%2e/admin", "/admin"),
            ("/public/./admin/.", "/public/admin/"),
            ("/a/b/..", "/a/"),
            ("/../../admin", "/admin"),
            ("/admin;x", "/admin;x"),
            ("/public/..;/admin", "/public/..;/admin"),
            ("/admin%2fx", "/admin%2Fx"),
            ("/public%2F..%2Fadmin", "/public%2F..%2Fadmin"),
            ("/public%5c..%5cadmin", "/public%5C..%5Cadmin"),
            ("/a%252Fb", "/a%252Fb"),
            ("/a b", "/a%20b"),
            ("/a%20b", "/a%20b"),
            ("/\"<>`{}|^[]", "/%22%3C%3E%60%7B%7D%7C%5E%5B%5D"),
            ("/café", "/caf%C3%A9"),
            ("/%e0%a4%85", "/%E0%A4%85"),
            ("/q?x#y", "/q%3Fx%23y"),
            ("/a:b@c!$&'()*+,=", "/a:b@c!$&'()*+,="),
            ("/%7euser", "/~user"),
        ] {
            assert_eq!(c(raw), canonical, "{raw}");
            assert_eq!(c(canonical), canonical, "idempotent: {canonical}");
        }
        assert!(matches!(canonicalize("/admin/x"), Ok(Cow::Borrowed(_))), "plain paths are not copied");
        assert!(matches!(canonicalize("/a;b"), Ok(Cow::Borrowed(_))), "canonical paths are not copied");
    }

    #[test]
    fn refused_paths() {
        for (raw, why) in [
            ("/a%00", BadPath::ControlCharacter),
            ("/a%0a", BadPath::ControlCharacter),
            ("/a%1F", BadPath::ControlCharacter),
            ("/a%7f", BadPath::ControlCharacter),
            ("/a\u{1}", BadPath::ControlCharacter),
            ("/a\n", BadPath::ControlCharacter),
            ("/a\u{7f}", BadPath::ControlCharacter),
            ("/a%2500", BadPath::ControlCharacter),
            ("/a%25250a", BadPath::ControlCharacter),
            ("/a%zz", BadPath::MalformedEscape),
            ("/a%", BadPath::MalformedEscape),
            ("/a%4", BadPath::MalformedEscape),
            ("/a%%41", BadPath::MalformedEscape),
            ("/a\\admin", BadPath::Backslash),
            ("/public/%C0%AE%C0%AE/admin", BadPath::OverlongUtf8),
            ("/public%c0%afadmin", BadPath::OverlongUtf8),
            ("/a%E0%80%AF", BadPath::OverlongUtf8),
            ("/a%F0%80%80%AF", BadPath::OverlongUtf8),
            ("/public%25C0%25AE%25C0%25AE/admin", BadPath::OverlongUtf8),
            ("/public%252525c0%252525afadmin", BadPath::OverlongUtf8),
            ("/a%25E0%2580%25AF", BadPath::OverlongUtf8),
            ("admin", BadPath::NotAbsolute),
            ("", BadPath::NotAbsolute),
            ("*", BadPath::NotAbsolute),
        ] {
            assert_eq!(canonicalize(raw), Err(why), "{raw:?}");
        }
        let long = format!("/{}", "a".repeat(MAX_PATH_BYTES));
        assert_eq!(canonicalize(&long), Err(BadPath::TooLong));
        assert!(canonicalize(&long[..MAX_PATH_BYTES]).is_ok());
    }

    #[test]
    fn canonical_paths_survive_the_url_parsers() {
        // What the origin receives is C itself: neither url::Url::set_path nor a reparse re-encodes it.
        for raw in ["/a b/\"q\"", "/admin;x/%2F/%5C", "/a%252F", "/caf%C3%A9", "/x:y@z!$&'()*+,=~", "/d/"] {
            let canonical = c(raw);
            let mut url = url::Url::parse("https://origin.example/base").unwrap();
            url.set_path(&canonical);
            assert_eq!(url.path(), canonical, "{raw}");
            let reparsed = url::Url::parse(url.as_str()).unwrap();
            assert_eq!(reparsed.path(), canonical, "{raw}");
        }
    }

    #[test]
    fn readings_of_tricky_paths() {
        let all = |p: &str| -> Vec<String> { (0..READINGS).map(|i| reading(i, &c(p)).into_owned()).collect() };
        for (raw, expected) in [
            ("/admin;x/y", "/admin/y"),
            ("/public/..;/admin", "/admin"),
            ("/admin%2Fx", "/admin/x"),
            ("/public%2F..%2Fadmin", "/admin"),
            ("/public%5C..%5Cadmin", "/admin"),
            ("/public%252F..%252Fadmin", "/admin"),
            ("/public%25252F..%25252Fadmin", "/admin"),
            ("/admin./x", "/admin/x"),
            ("/admin%20./x", "/admin/x"),
            ("/public/..%3B/admin", "/admin"),
            ("/public%5Cx%2F..%2Fadmin", "/admin"),
            ("/admin::$DATA/x", "/admin/x"),
            ("/admin:$i30:$INDEX_ALLOCATION/x", "/admin/x"),
            ("/admin.%20::$DATA", "/admin"),
            ("/(S(x))/admin", "/admin"),
            ("/(X(1)S(cp53yq30))/admin/", "/admin/"),
            ("/%28S%28x%29%29/admin", "/admin"),
        ] {
            let readings = all(raw);
            assert!(readings.iter().any(|r| r == expected), "{raw}: {readings:?}");
        }
        assert_eq!(reading(0, "/a;b"), "/a;b");
        assert_eq!(reading(READINGS, "/a;b"), "/a;b");
        assert!(matches!(reading(5, "/plain/path"), Cow::Owned(_) | Cow::Borrowed(_)));
    }

    #[test]
    fn plain_paths_read_the_same_everywhere() {
        for p in ["/", "/admin", "/admin/", "/a/b.css", "/a-b_c~d/e.f"] {
            assert!(is_plain(p), "{p}");
            for i in 0..READINGS {
                assert_eq!(reading(i, p), p, "{p} reading {i}");
            }
        }
        for p in ["/a.", "/a./b", "//a", "/a;b", "/a%20", "/a/./b", "/A B"] {
            assert!(!is_plain(p), "{p}");
        }
    }

    #[test]
    fn keys() {
        let k = |p: &str, fold: bool, key: Key| super::key(p, Flags { fold, key }).to_string();
        for (p, asset) in [
            ("/", "/"),
            ("/index.html", "/"),
            ("/index", "/"),
            ("/dir/", "/dir"),
            ("/dir/index.html", "/dir"),
            ("/dir/index", "/dir"),
            ("/page.html", "/page"),
            ("/page/", "/page"),
            ("/page", "/page"),
            ("/.html", "/"),
            ("/x/.html", "/x"),
        ] {
            assert_eq!(k(p, false, Key::Asset), asset, "{p}");
        }
        assert_eq!(k("/PAGE.HTML", true, Key::Asset), "/PAGE");
        assert_eq!(k("/PAGE.HTML", false, Key::Asset), "/PAGE.HTML");
        assert_eq!(k("/report/", false, Key::NoTrailingSlash), "/report");
        assert_eq!(k("/", false, Key::NoTrailingSlash), "/");
        assert_eq!(k("/report/", false, Key::Path), "/report/");
    }

    #[test]
    fn served_files() {
        assert_eq!(served("/", false), ("/", "index.html"));
        assert_eq!(served("/dir/", false), ("/dir/", "index.html"));
        assert_eq!(served("/page", false), ("/page", ".html"));
        assert_eq!(served("/page.html", false), ("/page.html", ""));
        assert_eq!(served("/PAGE.HTML", true), ("/PAGE.HTML", ""));
        assert!(under_joined("/public/", "index.html", "/public", false));
        assert!(!under_joined("/public", ".html", "/public", false), "/public.html is not under /public/*");
        assert!(under_joined("/a/b", ".html", "/a", false) && under_joined("/a", ".html", "/a.html", false));
        assert!(under_joined("/a", ".html/x", "/a.html", false) && !under_joined("/a", ".htmlx", "/a.html", false));
        assert!(!under_joined("/a", ".html", "/a.html/x", false) && under_joined("/x", "", "", false));
        assert!(!under_joined("/é", "", "/e", true) && !under_joined("/", "é", "/e", true));
    }

    #[test]
    fn what_else_is_served() {
        let all = |p: &str| {
            let mut out = Vec::new();
            for_each_served(p, |s| out.push(s.to_string()));
            out
        };
        assert_eq!(all("/admin"), ["/admin"]);
        assert_eq!(all("/admin?x"), ["/admin?x", "/admin"]);
        assert_eq!(all("/admin#x?y"), ["/admin#x?y", "/admin"]);
        assert_eq!(all("/index.php/admin"), ["/index.php/admin", "/admin", "/index.php"]);
        assert_eq!(
            all("/p/INDEX.PHP/a/b.php/c"),
            ["/p/INDEX.PHP/a/b.php/c", "/a/b.php/c", "/p/INDEX.PHP", "/c", "/p/INDEX.PHP/a/b.php"]
        );
        assert_eq!(
            all("/a.php/b?c/d.php/e"),
            ["/a.php/b?c/d.php/e", "/a.php/b", "/b?c/d.php/e", "/a.php", "/e", "/a.php/b?c/d.php", "/b", "/a.php"]
        );
        assert_eq!(all("/admin.aspx/x/y"), ["/admin.aspx/x/y", "/admin.aspx"]);
        assert_eq!(all("/_next/data/b1/admin/users.json"), ["/_next/data/b1/admin/users.json", "/admin/users"]);
        assert_eq!(all("/_next/data/b1/index.json"), ["/_next/data/b1/index.json", "/"]);
        assert_eq!(all("/_next/data/b1/x.js"), ["/_next/data/b1/x.js"]);
        assert_eq!(all("/index.php"), ["/index.php"]);
        assert_eq!(all("/.php/x"), ["/.php/x"], "no script name");
    }

    #[test]
    fn folding_and_prefixes() {
        assert_eq!(fold("/ADMIN"), "/admin");
        assert_eq!(fold("/ſettings"), "/settings", ".NET upper-cases ſ to S");
        assert_eq!(fold("/\u{212A}ey"), "/key", "the Kelvin sign lower-cases to k");
        assert_eq!(fold("/STRA\u{DF}E/\u{FB01}le/\u{130}\u{131}"), "/strasse/file/ii");
        assert_eq!(fold("/CAFÉ"), "/cafÉ", "other characters are kept");
        assert!(matches!(fold("/admin"), Cow::Borrowed(_)));
        assert!(under("/admin", "/admin", false) && under("/admin/x", "/admin", false));
        assert!(under("/ADMIN/x", "/admin", true) && !under("/ADMIN/x", "/admin", false));
        assert!(!under("/administrator", "/admin", false) && !under("/adm", "/admin", false));
        assert!(under("/anything", "", false));
        assert!(!under("/é", "/e", true), "no panic on a char boundary");
        assert!(with_format("/admin.json", "/admin", false) && with_format("/ADMIN.x.y", "/admin", true));
        assert!(with_format("/admin.json/", "/admin", false) && !with_format("/admin./", "/admin", false));
        assert!(!with_format("/admin.", "/admin", false) && !with_format("/admin.x/y", "/admin", false));
        assert!(!with_format("/adminx", "/admin", false) && !with_format("/ADMIN.json", "/admin", false));
        assert!(!with_format("/é.x", "/e", true) && !with_format("/a", "/admin", false));
    }
}
