//! HTML for the pages the worker renders itself (refusals and errors). Every dynamic value is escaped.

/// Escape text for HTML element content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page for a failed or refused request: what happened, what to do, a machine-readable code.
pub struct ErrorPage<'a> {
    /// Machine-readable code (meta tag).
    pub code: &'a str,
    /// The code as shown to the visitor.
    pub shown_code: &'a str,
    pub title: &'a str,
    pub message: &'a str,
    pub action_label: &'a str,
    pub action_href: &'a str,
}

impl ErrorPage<'_> {
    pub fn render(&self) -> String {
        format!(
            r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="edge-auth-error" content="{code}">
<meta name="robots" content="noindex">
<title>{title}</title>
<link rel="stylesheet" href="/auth/static/style.css">
<link rel="icon" href="/auth/static/favicon.svg" type="image/svg+xml">
</head>
<body>
<main class="card">
<h1>{title}</h1>
<p>{message}</p>
<p class="action"><a class="button" href="{href}">{label}</a></p>
<p class="detail">Error code: <code>{shown_code}</code></p>
</main>
</body>
</html>
"#,
            code = escape(self.code),
            shown_code = escape(self.shown_code),
            title = escape(self.title),
            message = escape(self.message),
            href = escape(self.action_href),
            label = escape(self.action_label),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_dynamic() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        let page = ErrorPage {
            code: "c",
            shown_code: "c",
            title: "<script>",
            message: "\"><img src=x onerror=alert(1)>",
            action_label: "go",
            action_href: "/auth/login",
        }
        .render();
        assert!(!page.contains("<script>"));
        assert!(!page.contains("<img"));
        assert!(page.contains(r#"<meta name="edge-auth-error" content="c">"#));
    }
}
