//! Exclusive XML Canonicalization 1.0 without comments (<https://www.w3.org/TR/xml-exc-c14n/>,
//! `http://www.w3.org/2001/10/xml-exc-c14n#`) of one element subtree, optionally without one descendant
//! element (the enveloped-signature transform removes the `ds:Signature` being verified).
//!
//! The node-set is "the element, all its descendants, their attributes and namespace nodes, minus comments"
//! (a same-document `URI="#id"` reference), less the excluded element's subtree. Over such a node-set the
//! rules are:
//! - elements are written `<qname` + namespace declarations + attributes + `>` … `</qname>` with the source
//!   prefixes; empty elements as a start and an end tag;
//! - a namespace declaration is written on an element when its prefix is *visibly utilized* there (the
//!   element's own prefix, or `xmlns` for an unprefixed element; the prefix of a prefixed attribute) or
//!   is in the InclusiveNamespaces PrefixList (`#default` for the default namespace) and in scope, and the
//!   nearest output ancestor that wrote that prefix wrote a different URI (or none wrote it). The default
//!   namespace counts as `""` when nothing wrote it, so `xmlns=""` appears only to undo a written default;
//!   the `xml` prefix is never declared;
//! - declarations sorted by prefix (the default first), then attributes sorted by (namespace URI, local
//!   name) with unqualified attributes first; `xml:*` attributes are ordinary attributes of the element
//!   they are on (exclusive c14n does not import them from ancestors);
//! - attribute values escape `&` `<` `"` and `#x9` `#xA` `#xD`; text escapes `&` `<` `>` and `#xD`;
//!   comments and processing instructions are dropped (parse refuses the latter anyway).
//!
//! The parser has already resolved references, normalised line ends and attribute values and merged CDATA
//! into text (see the parent module), which is the data model these rules are written for.

use crate::core::keyed_hash::KeyedHashMap;

use super::{Element, XmlError, XML_NAMESPACE};

/// What to canonicalise beyond the element itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'p, 'a, 'input> {
    /// The InclusiveNamespaces PrefixList: prefixes treated as in inclusive C14N; `#default` is the default
    /// namespace.
    pub inclusive_prefixes: &'p [&'p str],
    /// A descendant element left out with its whole subtree (enveloped signature).
    pub exclude: Option<Element<'a, 'input>>,
}

/// The exclusive canonical form of `element`'s subtree, as bytes (UTF-8).
///
/// Recursion depth is bounded by the parser's depth limit (every [`Element`] comes from a parsed document).
pub fn canonicalize<'a, 'input>(
    element: Element<'a, 'input>,
    options: &Options<'_, 'a, 'input>,
) -> Result<Vec<u8>, XmlError> {
    if let Some(excluded) = options.exclude {
        if excluded == element || !excluded.is_inside(&element) {
            return Err(XmlError::ExcludedElementNotInSubtree);
        }
    }
    let inclusive: Vec<&str> =
        options.inclusive_prefixes.iter().map(|p| if *p == "#default" { "" } else { *p }).collect();
    let mut writer = Writer {
        out: String::new(),
        rendered: KeyedHashMap::default(),
        inclusive: &inclusive,
        exclude: options.exclude,
    };
    writer.element(element);
    Ok(writer.out.into_bytes())
}

struct Writer<'w, 'a, 'input> {
    out: String,
    /// Namespace declarations in effect in the output: for each prefix ("" is the default), the URIs the
    /// output ancestors utilized, innermost last. A map so that a look-up costs the same at any depth.
    rendered: KeyedHashMap<&'a str, Vec<&'a str>>,
    inclusive: &'w [&'w str],
    exclude: Option<Element<'a, 'input>>,
}

/// A namespace binding an element needs: prefix ("" for the default namespace) and URI.
type Binding<'a> = (&'a str, &'a str);

impl<'a, 'input: 'a> Writer<'_, 'a, 'input> {
    fn element(&mut self, element: Element<'a, 'input>) {
        let node = element.node();
        let source = node.document().input_text();
        let qname = element_qname(source, node.range().start);

        // The namespace nodes this element needs: PrefixList ones in scope, then the visibly utilized ones.
        let mut needed: Vec<Binding<'a>> = Vec::new();
        for prefix in self.inclusive {
            if let Some(binding) = in_scope(node, prefix) {
                push_unique(&mut needed, binding);
            }
        }
        let element_prefix = prefix_of(qname);
        if element_prefix != "xml" {
            // An unprefixed element without a default namespace in scope utilizes the empty default.
            let binding = in_scope(node, element_prefix).unwrap_or(("", ""));
            push_unique(&mut needed, binding);
        }
        for attribute in node.attributes() {
            let attribute_prefix = prefix_of(source.get(attribute.range_qname()).unwrap_or_default());
            if !attribute_prefix.is_empty() && attribute_prefix != "xml" {
                if let Some(binding) = in_scope(node, attribute_prefix) {
                    push_unique(&mut needed, binding);
                }
            }
        }
        let mut declarations: Vec<Binding<'a>> =
            needed.iter().copied().filter(|(prefix, uri)| self.in_effect(prefix) != Some(*uri)).collect();
        declarations.sort_by(|a, b| a.0.cmp(b.0));
        for (prefix, uri) in &needed {
            self.rendered.entry(*prefix).or_default().push(*uri);
        }

        self.out.push('<');
        self.out.push_str(qname);
        for (prefix, uri) in declarations {
            if prefix.is_empty() {
                self.out.push_str(" xmlns=\"");
            } else {
                self.out.push_str(" xmlns:");
                self.out.push_str(prefix);
                self.out.push_str("=\"");
            }
            escape_attribute(&mut self.out, uri);
            self.out.push('"');
        }
        let mut attributes: Vec<_> = node.attributes().collect();
        attributes.sort_by(|a, b| {
            (a.namespace().unwrap_or_default(), a.name()).cmp(&(b.namespace().unwrap_or_default(), b.name()))
        });
        for attribute in attributes {
            self.out.push(' ');
            self.out.push_str(source.get(attribute.range_qname()).unwrap_or_default());
            self.out.push_str("=\"");
            escape_attribute(&mut self.out, attribute.value());
            self.out.push('"');
        }
        self.out.push('>');

        for child in node.children() {
            if child.is_element() {
                let child = Element { node: child };
                if self.exclude != Some(child) {
                    self.element(child);
                }
            } else if child.is_text() {
                escape_text(&mut self.out, child.text().unwrap_or_default());
            }
            // Comments and processing instructions are not in the node-set.
        }

        self.out.push_str("</");
        self.out.push_str(qname);
        self.out.push('>');
        for (prefix, _) in &needed {
            if let Some(uris) = self.rendered.get_mut(*prefix) {
                uris.pop();
            }
        }
    }

    /// The URI the nearest output ancestor declared for `prefix`; the default namespace is "" when none did.
    fn in_effect(&self, prefix: &str) -> Option<&'a str> {
        match self.rendered.get(prefix).and_then(|uris| uris.last()) {
            Some(uri) => Some(uri),
            None if prefix.is_empty() => Some(""),
            None => None,
        }
    }
}

/// The binding of `prefix` in scope at `node` ("" for the default namespace, whose URI is "" after
/// `xmlns=""`); `None` when the prefix is not bound (or is `xml`, which is never declared).
fn in_scope<'a>(node: roxmltree::Node<'a, '_>, prefix: &str) -> Option<Binding<'a>> {
    if prefix == "xml" {
        return None;
    }
    node.namespaces()
        .find(|ns| ns.name().unwrap_or_default() == prefix && ns.uri() != XML_NAMESPACE)
        .map(|ns| (ns.name().unwrap_or_default(), ns.uri()))
}

fn push_unique<'a>(bindings: &mut Vec<Binding<'a>>, binding: Binding<'a>) {
    if !bindings.iter().any(|(prefix, _)| *prefix == binding.0) {
        bindings.push(binding);
    }
}

/// The qualified name of the element whose start tag begins (`<`) at `start` in the source.
fn element_qname(source: &str, start: usize) -> &str {
    let name = source.get(start + 1..).unwrap_or_default();
    let end = name.find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>').unwrap_or(name.len());
    name.get(..end).unwrap_or_default()
}

/// The prefix of a qualified name; "" when it has none.
fn prefix_of(qname: &str) -> &str {
    qname.split_once(':').map_or("", |(prefix, _)| prefix)
}

fn escape_attribute(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn escape_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Hand-checked cases for each rule (the oracle corpus in tests/xml_c14n.rs checks them against lxml).
    use super::super::{normalize_line_ends, parse};
    use super::*;

    fn c14n(text: &str, inclusive: &[&str]) -> String {
        let text = normalize_line_ends(text);
        let doc = parse(&text).unwrap();
        let bytes =
            canonicalize(doc.root_element(), &Options { inclusive_prefixes: inclusive, exclude: None }).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    fn c14n_child(text: &str, inclusive: &[&str]) -> String {
        let doc = parse(text).unwrap();
        let child = doc.root_element().child_elements().next().unwrap();
        let bytes = canonicalize(child, &Options { inclusive_prefixes: inclusive, exclude: None }).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn only_visibly_utilized_namespaces_are_declared() {
        let text = r#"<p:a xmlns:p="urn:p" xmlns:q="urn:q" xmlns:unused="urn:u"><q:b p:at="1"/></p:a>"#;
        assert_eq!(c14n_child(text, &[]), r#"<q:b xmlns:p="urn:p" xmlns:q="urn:q" p:at="1"></q:b>"#);
        assert_eq!(
            c14n(text, &[]),
            r#"<p:a xmlns:p="urn:p"><q:b xmlns:q="urn:q" p:at="1"></q:b></p:a>"#,
            "p is already in effect on b, q is declared where first used, unused never"
        );
    }

    #[test]
    fn prefix_list_namespaces_are_declared_when_in_scope() {
        let text = r#"<a xmlns:xs="urn:xs" xmlns:xsi="urn:xsi"><b xsi:type="xs:string">v</b></a>"#;
        assert_eq!(c14n_child(text, &[]), r#"<b xmlns:xsi="urn:xsi" xsi:type="xs:string">v</b>"#);
        assert_eq!(c14n_child(text, &["xs"]), r#"<b xmlns:xs="urn:xs" xmlns:xsi="urn:xsi" xsi:type="xs:string">v</b>"#);
        assert_eq!(c14n_child(text, &["absent"]), r#"<b xmlns:xsi="urn:xsi" xsi:type="xs:string">v</b>"#);
    }

    #[test]
    fn default_namespace_and_its_undeclaration() {
        assert_eq!(c14n_child(r#"<a xmlns="urn:a"><b/></a>"#, &[]), r#"<b xmlns="urn:a"></b>"#);
        assert_eq!(c14n(r#"<a xmlns="urn:a"><b xmlns=""/></a>"#, &[]), r#"<a xmlns="urn:a"><b xmlns=""></b></a>"#);
        // No default namespace was written above b: no xmlns="" on it.
        assert_eq!(
            c14n(r#"<p:a xmlns:p="urn:p" xmlns="urn:d"><b xmlns=""/></p:a>"#, &[]),
            r#"<p:a xmlns:p="urn:p"><b></b></p:a>"#
        );
        assert_eq!(
            c14n(r#"<p:a xmlns:p="urn:p" xmlns="urn:d"/>"#, &["#default"]),
            r#"<p:a xmlns="urn:d" xmlns:p="urn:p"></p:a>"#
        );
    }

    #[test]
    fn redeclared_prefix_is_written_again() {
        let text = r#"<p:a xmlns:p="urn:1"><p:b xmlns:p="urn:2"><p:c xmlns:p="urn:1"/></p:b></p:a>"#;
        assert_eq!(
            c14n(text, &[]),
            r#"<p:a xmlns:p="urn:1"><p:b xmlns:p="urn:2"><p:c xmlns:p="urn:1"></p:c></p:b></p:a>"#
        );
    }

    #[test]
    fn attributes_sorted_by_namespace_uri_then_local_name() {
        let text = r#"<e xmlns:z="urn:a" xmlns:a="urn:z" b="1" a:x="2" z:y="3" a="4" xml:lang="en"/>"#;
        assert_eq!(
            c14n(text, &[]),
            r#"<e xmlns:a="urn:z" xmlns:z="urn:a" a="4" b="1" xml:lang="en" z:y="3" a:x="2"></e>"#
        );
    }

    #[test]
    fn escaping_of_attributes_and_text() {
        let text = "<e a=\"&amp;&lt;&gt;&quot;'&#9;&#10;&#13;\ttab\">&amp;&lt;&gt;\"'&#13;\r\n<![CDATA[]]>]]&gt;</e>";
        assert_eq!(c14n(text, &[]), "<e a=\"&amp;&lt;>&quot;'&#x9;&#xA;&#xD; tab\">&amp;&lt;&gt;\"'&#xD;\n]]&gt;</e>");
    }

    #[test]
    fn comments_dropped_and_excluded_element_removed() {
        let text = r#"<r ID="x"><!-- c --><ds:Signature xmlns:ds="urn:ds"><ds:V/></ds:Signature><n>a<!---->b</n></r>"#;
        let doc = parse(text).unwrap();
        let root = doc.root_element();
        let signature = root.child_elements().next().unwrap();
        let bytes = canonicalize(root, &Options { inclusive_prefixes: &[], exclude: Some(signature) }).unwrap();
        assert_eq!(String::from_utf8(bytes).unwrap(), r#"<r ID="x"><n>ab</n></r>"#);
        assert_eq!(
            canonicalize(signature, &Options { inclusive_prefixes: &[], exclude: Some(root) }).unwrap_err(),
            XmlError::ExcludedElementNotInSubtree
        );
    }

    #[test]
    fn byte_order_mark_and_declaration_are_not_output() {
        // The element's prefix is read from the source at its byte offset: a BOM before it must not shift it.
        let text = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<p:a xmlns:p=\"urn:p\"><p:b/></p:a>";
        assert_eq!(c14n(text, &[]), r#"<p:a xmlns:p="urn:p"><p:b></p:b></p:a>"#);
    }

    #[test]
    fn xml_attributes_are_not_inherited() {
        let text = r#"<a xml:lang="en"><b/></a>"#;
        assert_eq!(c14n_child(text, &[]), "<b></b>");
    }
}
