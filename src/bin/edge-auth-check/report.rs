//! What is printed: lines, errors and warnings (each naming the connector, the field and the reason), the
//! summary and the exit status.

use std::io::Write as _;

pub const EXIT_OK: u8 = 0;
pub const EXIT_CONFIG: u8 = 1;
pub const EXIT_PROVIDER: u8 = 2;

/// Errors and warnings, each naming the connector (if any), the field and the reason.
#[derive(Default)]
pub struct Report {
    pub config_errors: Vec<String>,
    pub provider_errors: Vec<String>,
    pub warnings: usize,
    /// Inside a connector's block, errors and warnings are gathered and printed at its end, before its status.
    deferred: Option<Vec<String>>,
}

pub fn locate(connector: Option<&str>, field: &str) -> String {
    match connector {
        Some(c) => format!("connector {c:?}, field `{field}`"),
        None => format!("field `{field}`"),
    }
}

impl Report {
    pub fn line(&mut self, indent: usize, text: impl AsRef<str>) {
        // Not println!: a closed pipe (`| head`) must not panic.
        let _ = writeln!(std::io::stdout(), "{:indent$}{}", "", text.as_ref());
    }

    pub fn item(&mut self, label: &str, value: impl AsRef<str>) {
        self.line(2, format!("{:<22}{}", format!("{label}:"), value.as_ref()));
    }

    /// An error or warning line: now, or at the end of the connector's block.
    fn note(&mut self, indent: usize, text: String) {
        match &mut self.deferred {
            Some(lines) => lines.push(text),
            None => self.line(indent, text),
        }
    }

    pub fn begin_connector(&mut self) {
        self.deferred = Some(Vec::new());
    }

    pub fn end_connector(&mut self) {
        for text in self.deferred.take().unwrap_or_default() {
            self.line(2, text);
        }
    }

    pub fn config_error(&mut self, indent: usize, message: String) {
        self.note(indent, format!("error: {message}"));
        self.config_errors.push(message);
    }

    /// An error already printed by the caller (numbered, in a list of its own): counted, and listed at the end.
    pub fn record_config_error(&mut self, message: String) {
        self.config_errors.push(message);
    }

    pub fn provider_error(&mut self, connector: &str, field: &str, reason: impl AsRef<str>) {
        let message = format!("{}: {}", locate(Some(connector), field), reason.as_ref());
        self.note(2, format!("error: {message}"));
        self.provider_errors.push(message);
    }

    pub fn warning(&mut self, indent: usize, connector: Option<&str>, field: &str, reason: impl AsRef<str>) {
        self.note(indent, format!("warning: {}: {}", locate(connector, field), reason.as_ref()));
        self.warnings += 1;
    }
}

pub fn finish(mut report: Report, usable: usize) -> u8 {
    report.line(0, "");
    let errors = report.config_errors.len() + report.provider_errors.len();
    if errors > 0 {
        report.line(0, format!("{errors} error{}:", plural(errors)));
        let all: Vec<String> = report.config_errors.iter().chain(&report.provider_errors).cloned().collect();
        for (i, e) in all.into_iter().enumerate() {
            report.line(2, format!("{}. {e}", i + 1));
        }
    }
    let code = if !report.config_errors.is_empty() {
        EXIT_CONFIG
    } else if !report.provider_errors.is_empty() {
        EXIT_PROVIDER
    } else {
        EXIT_OK
    };
    let verdict = match code {
        EXIT_OK => format!("ok: {usable} connector{} usable", plural(usable)),
        EXIT_CONFIG => "configuration errors: fix them before deploying".to_string(),
        _ => "a provider is unreachable or unusable: logins through it would fail".to_string(),
    };
    report.line(0, format!("result: {verdict}; {} warning{} (exit {code})", report.warnings, plural(report.warnings)));
    code
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
