//! The one XML parser of the SAML 2.0 and WS-Federation code (feature `xml`), and its canonicaliser ([`c14n`]).
//!
//! SAML's bypasses of 2024–2026 were mostly parser differentials (two parsers reading one document two ways)
//! and look-ups that matched the wrong node. So: every XML byte the worker trusts is read once, here, into one
//! [`roxmltree`] tree; the signature code canonicalises and the protocol code reads *the same* tree, and
//! names are only ever matched by (namespace URI, local name).
//!
//! What [`parse`] refuses, with a typed [`XmlError`]:
//! - documents larger than [`MAX_DOCUMENT_BYTES`] (checked first, before any work);
//! - elements nested deeper than [`MAX_DEPTH`], elements with more than [`MAX_ATTRIBUTES_PER_ELEMENT`]
//!   attributes (namespace declarations included), and more than [`MAX_NAMESPACE_DECLARATIONS`] namespace
//!   declarations in the whole document. These are checked by a cheap scan *before* roxmltree builds its
//!   tree, because roxmltree copies the in-scope namespace list onto every element that declares one (a
//!   deep or declaration-heavy document costs memory quadratic in its size), and again on the tree. Metadata
//!   documents, fetched from the URL the operator configured, are read by [`parse_metadata`] with a higher
//!   declaration limit ([`MAX_METADATA_NAMESPACE_DECLARATIONS`]: AD FS declares a namespace on every claim
//!   type) and a limit on the namespaces in scope at any element instead ([`MAX_METADATA_NAMESPACES_IN_SCOPE`]);
//! - more than [`MAX_NODES`] nodes (roxmltree's `nodes_limit`: elements, text runs, comments);
//! - a namespace name that is not an absolute URI of printable ASCII without `&` (`scheme:…`, or empty in
//!   `xmlns=""`; roxmltree would accept `xmlns:p=""`, which Namespaces 1.0 forbids): canonical forms escape `&` in namespace URIs and libxml2 versions disagree on how
//!   (raw, `&#38;`; the specification says `&amp;`), and libxml2 refuses relative namespace URIs outright.
//!   SAML and WS-Federation use none of these. Checked by the same scan, on the raw value (with `&` refused,
//!   the raw value is the value);
//! - a DTD (`<!DOCTYPE`, so no entities: roxmltree's default `allow_dtd: false`);
//! - processing instructions anywhere (SAML never needs them; they are a place to hide bytes);
//! - an XML declaration naming a version other than 1.0 (1.1 has other line ends and characters), or an
//!   encoding other than UTF-8 (the text is UTF-8 already; a document that says otherwise would be read
//!   differently by another parser);
//! - everything roxmltree refuses: not well-formed, unknown prefixes, duplicate attributes after namespace
//!   resolution, `xmlns`/`xml` prefix misuse, non-XML characters.
//!
//! Line ends are normalised *before* parsing, by [`normalize_line_ends`] (XML 1.0 §2.11: `\r\n` and a lone
//! `\r` become `\n`), and [`parse`] refuses text that still has a carriage return: roxmltree 0.21.2 leaves a
//! literal `\r` in a text node when it ends the text run or precedes a reference (`a\r&lt;` gives `a\r<`),
//! which canonicalises to `&#xD;` where every other XML processor writes a newline — a parser differential.
//! Callers write `parse(&normalize_line_ends(text))`; forgetting it refuses documents with CR, it never reads
//! them differently.
//!
//! roxmltree resolves character references and the five predefined entities, normalises line ends (`\r\n`
//! and lone `\r` become `\n`, except a `&#xD;` reference) and normalises attribute values as CDATA
//! attributes (a literal tab, newline or carriage return becomes a space; `&#x9;`, `&#xA;`, `&#xD;` stay),
//! merges CDATA sections into the surrounding text, and drops the XML declaration: exactly the data model
//! Canonical XML is defined on.

pub mod c14n;
pub mod dsig;
pub mod xenc;

use core::fmt;
use std::borrow::Cow;

/// Largest accepted document, in bytes of UTF-8. A signed SAML Response with a certificate and fifty
/// attributes is 10–20 KiB; Entra's largest (group overage cut at 150 groups) stays under 64 KiB.
/// Cost at the limits (host, release profile `opt-level = "z"`, 2026-12-02): a 240 KiB document built to be
/// expensive (16 000 elements under 62 levels utilizing 100 prefixes) parses in ~40 ms (roxmltree alone
/// ~31 ms) and its root canonicalises in ~70 ms; a realistic 15 KiB response takes about 1 ms for each.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Deepest element nesting (the root element is depth 1). A SAML Response is about 8 deep
/// (Response/Assertion/AttributeStatement/Attribute/AttributeValue; Signature/KeyInfo/X509Data/X509Certificate);
/// a WS-Fed RequestSecurityTokenResponse about 12.
pub const MAX_DEPTH: usize = 64;
/// Most nodes in the tree (roxmltree's `nodes_limit`: the document node, elements, text runs, comments).
pub const MAX_NODES: u32 = 20_000;
/// Most attributes on one element, namespace declarations included.
pub const MAX_ATTRIBUTES_PER_ELEMENT: usize = 32;
/// Most namespace declarations (`xmlns`, `xmlns:p`) in the whole document.
pub const MAX_NAMESPACE_DECLARATIONS: usize = 128;
/// The same for an IdP's metadata document ([`parse_metadata`]). AD FS's `FederationMetadata.xml` (2012 R2,
/// 2016) has about 220: `xmlns:auth` on each of its 63 claim types, offered and requested, and `xmlns` on each
/// SAML `Attribute` and WS-Addressing `EndpointReference`; every claim description an administrator publishes
/// adds three. They are siblings: at most 10 are in scope at any element.
pub const MAX_METADATA_NAMESPACE_DECLARATIONS: usize = 512;
/// Most namespace declarations in scope at one element of a metadata document (the element's own and its
/// ancestors', a redeclared prefix counted again). roxmltree's work for an element that declares one grows with
/// the square of this number, so it bounds what [`MAX_METADATA_NAMESPACE_DECLARATIONS`] sibling declarations
/// cost: without it, 512 declarations nested 11 deep and then repeated on 171 siblings took 370 ms to parse
/// (debug build, 2026-12-02); with it the worst case, 31 in scope on each of 481 siblings, took 7 ms, as long as
/// a posted message's worst case under [`MAX_NAMESPACE_DECLARATIONS`].
pub const MAX_METADATA_NAMESPACES_IN_SCOPE: usize = 32;

/// The XML namespace (`xml:lang`, `xml:space`, …), bound to the prefix `xml` by definition.
pub const XML_NAMESPACE: &str = "http://www.w3.org/XML/1998/namespace";

/// Why a document was refused, or why an operation on it failed. Never carries document content beyond a
/// name or a short parser message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlError {
    /// The document is larger than [`MAX_DOCUMENT_BYTES`].
    TooLarge { bytes: usize, limit: usize },
    /// Elements nest deeper than [`MAX_DEPTH`].
    TooDeep { limit: usize },
    /// More than [`MAX_NODES`] nodes.
    TooManyNodes { limit: u32 },
    /// An element has more than [`MAX_ATTRIBUTES_PER_ELEMENT`] attributes.
    TooManyAttributes { limit: usize },
    /// More than [`MAX_NAMESPACE_DECLARATIONS`] namespace declarations.
    TooManyNamespaceDeclarations { limit: usize },
    /// More than [`MAX_METADATA_NAMESPACES_IN_SCOPE`] namespace declarations in scope at one element of a
    /// metadata document.
    TooManyNamespacesInScope { limit: usize },
    /// A namespace declaration's URI is not an absolute URI of printable ASCII without `&`.
    UnsupportedNamespaceUri,
    /// The text still has a carriage return: pass it through [`normalize_line_ends`] first.
    UnnormalizedLineEnds,
    /// The document has a DTD (`<!DOCTYPE …>`) or another markup declaration.
    Dtd,
    /// The document has a processing instruction.
    ProcessingInstruction,
    /// The XML declaration names an encoding other than UTF-8.
    UnsupportedEncoding,
    /// The XML declaration names a version other than 1.0.
    UnsupportedVersion,
    /// Not well-formed XML, or not namespace-well-formed (roxmltree's message).
    Malformed(String),
    /// Canonicalisation was asked to exclude an element that is not a descendant of the canonicalised one.
    ExcludedElementNotInSubtree,
    /// An element's text was asked for, but it has child elements.
    UnexpectedChildElement,
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XmlError::TooLarge { bytes, limit } => {
                write!(f, "XML document of {bytes} bytes is larger than the limit of {limit}")
            }
            XmlError::TooDeep { limit } => write!(f, "XML elements nest deeper than {limit}"),
            XmlError::TooManyNodes { limit } => write!(f, "XML document has more than {limit} nodes"),
            XmlError::TooManyAttributes { limit } => write!(f, "an XML element has more than {limit} attributes"),
            XmlError::TooManyNamespaceDeclarations { limit } => {
                write!(f, "XML document has more than {limit} namespace declarations")
            }
            XmlError::TooManyNamespacesInScope { limit } => {
                write!(f, "an XML element has more than {limit} namespace declarations in scope")
            }
            XmlError::UnsupportedNamespaceUri => {
                f.write_str("a namespace URI is not an absolute URI of printable ASCII without '&'")
            }
            XmlError::UnnormalizedLineEnds => {
                f.write_str("XML text has carriage returns: normalise line ends before parsing")
            }
            XmlError::Dtd => f.write_str("XML document has a DTD (refused)"),
            XmlError::ProcessingInstruction => f.write_str("XML document has a processing instruction (refused)"),
            XmlError::UnsupportedEncoding => f.write_str("XML declaration names an encoding other than UTF-8"),
            XmlError::UnsupportedVersion => f.write_str("XML declaration names a version other than 1.0"),
            XmlError::Malformed(message) => write!(f, "malformed XML: {message}"),
            XmlError::ExcludedElementNotInSubtree => {
                f.write_str("the element to exclude is not inside the element canonicalised")
            }
            XmlError::UnexpectedChildElement => f.write_str("an element expected to hold only text has child elements"),
        }
    }
}

impl std::error::Error for XmlError {}

/// A parsed document within the limits above. Borrow its [`Element`]s; they cannot outlive it.
pub struct Document<'input> {
    tree: roxmltree::Document<'input>,
}

impl fmt::Debug for Document<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document").field("bytes", &self.tree.input_text().len()).finish()
    }
}

/// XML 1.0 §2.11 end-of-line handling: every `\r\n` and every `\r` not followed by `\n` becomes `\n`. A
/// `&#xD;` reference is not a line end and is kept by the parser. Borrows when there is nothing to change.
pub fn normalize_line_ends(text: &str) -> Cow<'_, str> {
    if !text.contains('\r') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
}

/// Parses `text` (line ends already normalised by [`normalize_line_ends`]) with the limits and refusals
/// described in the module documentation.
pub fn parse(text: &str) -> Result<Document<'_>, XmlError> {
    // In scope: never more than the document declares.
    parse_with_limits(text, MAX_NAMESPACE_DECLARATIONS, MAX_NAMESPACE_DECLARATIONS)
}

/// [`parse`] for an IdP's metadata document, with every rule and limit of [`parse`] except that it may declare
/// up to [`MAX_METADATA_NAMESPACE_DECLARATIONS`] namespaces, at most [`MAX_METADATA_NAMESPACES_IN_SCOPE`] of them
/// in scope at any element. Never for a message a browser posts.
pub fn parse_metadata(text: &str) -> Result<Document<'_>, XmlError> {
    parse_with_limits(text, MAX_METADATA_NAMESPACE_DECLARATIONS, MAX_METADATA_NAMESPACES_IN_SCOPE)
}

fn parse_with_limits(text: &str, declarations: usize, in_scope: usize) -> Result<Document<'_>, XmlError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(XmlError::TooLarge { bytes: text.len(), limit: MAX_DOCUMENT_BYTES });
    }
    if text.contains('\r') {
        return Err(XmlError::UnnormalizedLineEnds);
    }
    prescan(text.as_bytes(), declarations, in_scope)?;
    check_declaration(text)?;
    let options = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: MAX_NODES, ..Default::default() };
    let tree = roxmltree::Document::parse_with_options(text, options).map_err(|error| match error {
        roxmltree::Error::DtdDetected => XmlError::Dtd,
        roxmltree::Error::NodesLimitReached => XmlError::TooManyNodes { limit: MAX_NODES },
        other => XmlError::Malformed(other.to_string()),
    })?;
    check_tree(&tree)?;
    Ok(Document { tree })
}

impl<'input> Document<'input> {
    /// The document element.
    pub fn root_element<'a>(&'a self) -> Element<'a, 'input> {
        Element { node: self.tree.root_element() }
    }

    /// The text the document was parsed from.
    pub fn input_text(&self) -> &'input str {
        self.tree.input_text()
    }

    /// Every element of the document in document order.
    pub fn elements<'a>(&'a self) -> impl Iterator<Item = Element<'a, 'input>> + 'a {
        self.tree.descendants().filter(|n| n.is_element()).map(|node| Element { node })
    }
}

/// A rule of a protocol's schema or profile that a document breaks, named: what [`exactly_one`] and
/// [`at_most_one`] refuse with, and what each protocol's error type turns into its own "invalid" variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokenRule(pub &'static str);

/// The one element of `elements`, or `rule` broken when there is none or more than one.
pub fn exactly_one<'a, 'input>(
    mut elements: impl Iterator<Item = Element<'a, 'input>>,
    rule: &'static str,
) -> Result<Element<'a, 'input>, BrokenRule> {
    let first = elements.next().ok_or(BrokenRule(rule))?;
    if elements.next().is_some() {
        return Err(BrokenRule(rule));
    }
    Ok(first)
}

/// The element of `elements`, if there is one; `rule` broken when there are several.
pub fn at_most_one<'a, 'input>(
    mut elements: impl Iterator<Item = Element<'a, 'input>>,
    rule: &'static str,
) -> Result<Option<Element<'a, 'input>>, BrokenRule> {
    let first = elements.next();
    if elements.next().is_some() {
        return Err(BrokenRule(rule));
    }
    Ok(first)
}

/// One element of a parsed [`Document`]. Names are matched by (namespace URI, local name) only: there is no
/// look-up by a bare or prefixed name.
#[derive(Clone, Copy)]
pub struct Element<'a, 'input> {
    node: roxmltree::Node<'a, 'input>,
}

impl fmt::Debug for Element<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Element").field("namespace", &self.namespace()).field("local_name", &self.local_name()).finish()
    }
}

impl PartialEq for Element<'_, '_> {
    /// Node identity: the same element of the same document, not equal content.
    fn eq(&self, other: &Self) -> bool {
        self.node == other.node
    }
}

impl Eq for Element<'_, '_> {}

/// An attribute as the canonicaliser and callers see it: expanded name and normalised value. Namespace
/// declarations are not attributes here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeRef<'a> {
    /// Namespace URI; `None` for an unprefixed attribute (default namespaces do not apply to attributes).
    pub namespace: Option<&'a str>,
    pub local_name: &'a str,
    pub value: &'a str,
}

impl<'a, 'input: 'a> Element<'a, 'input> {
    /// The element's namespace URI; `None` when it is in no namespace (also under `xmlns=""`).
    pub fn namespace(&self) -> Option<&'a str> {
        self.node.tag_name().namespace().filter(|uri| !uri.is_empty())
    }

    pub fn local_name(&self) -> &'input str {
        self.node.tag_name().name()
    }

    /// Whether this element is `{namespace}local_name`.
    pub fn is(&self, namespace: &str, local_name: &str) -> bool {
        self.namespace() == Some(namespace) && self.local_name() == local_name
    }

    /// The value of the attribute `{namespace}local_name`; `namespace: None` is an unprefixed attribute.
    /// `attribute(None, "ID")` never matches `x:ID`.
    pub fn attribute(&self, namespace: Option<&str>, local_name: &str) -> Option<&'a str> {
        self.attributes().find(|a| a.namespace == namespace && a.local_name == local_name).map(|a| a.value)
    }

    /// The expanded name a `QName` *value* stands for in this element's scope (an attribute whose value names a
    /// type, such as `xsi:type="fed:SecurityTokenServiceType"`): (namespace URI, local name), its prefix resolved
    /// by the namespace declarations in scope here — never compared as text — and an unprefixed name in the
    /// default namespace (XML Schema's rule for QName values). `None` when the value is not a QName or its
    /// prefix is not declared.
    pub fn resolve_qname<'v>(&self, value: &'v str) -> Option<(Option<&'a str>, &'v str)> {
        let value = value.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
        let (prefix, local) = match value.split_once(':') {
            Some((prefix, local)) => (Some(prefix), local),
            None => (None, value),
        };
        let name_part = |part: &str| !part.is_empty() && !part.contains(|c: char| c == ':' || c.is_whitespace());
        if !name_part(local) || prefix.is_some_and(|p| !name_part(p)) {
            return None;
        }
        let namespace = match prefix {
            Some("xml") => Some(XML_NAMESPACE),
            Some(prefix) => Some(self.node.lookup_namespace_uri(Some(prefix)).filter(|uri| !uri.is_empty())?),
            None => self.node.lookup_namespace_uri(None).filter(|uri| !uri.is_empty()),
        };
        Some((namespace, local))
    }

    /// The element's attributes in document order (namespace declarations excluded).
    pub fn attributes(&self) -> impl Iterator<Item = AttributeRef<'a>> + 'a {
        self.node.attributes().map(|a| AttributeRef {
            namespace: a.namespace().filter(|uri| !uri.is_empty()),
            local_name: a.name(),
            value: a.value(),
        })
    }

    /// Child elements in document order.
    pub fn child_elements(&self) -> impl Iterator<Item = Element<'a, 'input>> + 'a {
        self.node.children().filter(|n| n.is_element()).map(|node| Element { node })
    }

    /// Child elements named `{namespace}local_name`, in document order.
    pub fn children_named<'n>(
        &self,
        namespace: &'n str,
        local_name: &'n str,
    ) -> impl Iterator<Item = Element<'a, 'input>> + 'n
    where
        'a: 'n,
    {
        self.child_elements().filter(move |e| e.is(namespace, local_name))
    }

    /// The parent element; `None` for the document element.
    pub fn parent_element(&self) -> Option<Element<'a, 'input>> {
        self.node.parent_element().map(|node| Element { node })
    }

    /// This element and every element below it, in document order.
    pub fn descendant_elements(&self) -> impl Iterator<Item = Element<'a, 'input>> + 'a {
        self.node.descendants().filter(|n| n.is_element()).map(|node| Element { node })
    }

    /// Whether `self` is `other` or lies inside it.
    pub fn is_inside(&self, other: &Element<'_, '_>) -> bool {
        self.node.ancestors().any(|n| n == other.node)
    }

    /// The element's character data: all its text children joined, comments skipped — the same value its
    /// canonical form carries, so a comment cannot cut a value short (`a<!---->b` is `ab`). Refused when the
    /// element has child elements (a simple-content value never does).
    pub fn text(&self) -> Result<String, XmlError> {
        let mut text = String::new();
        for child in self.node.children() {
            if child.is_element() {
                return Err(XmlError::UnexpectedChildElement);
            }
            if child.is_text() {
                text.push_str(child.text().unwrap_or_default());
            }
        }
        Ok(text)
    }

    /// The element's byte range in the input text.
    pub fn range(&self) -> core::ops::Range<usize> {
        self.node.range()
    }

    pub(crate) fn node(&self) -> roxmltree::Node<'a, 'input> {
        self.node
    }
}

/// The XML declaration, if any, must say version 1.0 (XML 1.1 has other line ends, NEL and U+2028, and other
/// characters; roxmltree reads any version as 1.0) and name no encoding but UTF-8 (ASCII case-insensitive).
fn check_declaration(text: &str) -> Result<(), XmlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(declaration) = text.strip_prefix("<?xml") else { return Ok(()) };
    if !declaration.starts_with(|c: char| c.is_ascii_whitespace()) {
        return Ok(()); // a processing instruction such as `<?xml-stylesheet`: refused by check_tree
    }
    let Some(end) = declaration.find("?>") else { return Ok(()) }; // malformed: roxmltree refuses it
    let declaration = declaration.get(..end).unwrap_or_default();
    if pseudo_attribute(declaration, "version").is_some_and(|version| version != "1.0") {
        return Err(XmlError::UnsupportedVersion);
    }
    match pseudo_attribute(declaration, "encoding") {
        Some(name) if !name.eq_ignore_ascii_case("utf-8") => Err(XmlError::UnsupportedEncoding),
        _ => Ok(()),
    }
}

/// The value of `name="…"` (or `'…'`) in an XML declaration's text.
fn pseudo_attribute(declaration: &str, name: &str) -> Option<String> {
    let at = declaration.find(name)?;
    let rest = declaration.get(at + name.len()..)?.trim_start().strip_prefix('=')?.trim_start();
    Some(rest.chars().skip(1).take_while(|c| *c != '"' && *c != '\'').collect())
}

/// What must hold before roxmltree builds the tree: nesting depth, attributes per element, namespace
/// declarations in the document and their URIs; also refuses early what roxmltree would accept and libxml2
/// (every IdP's and most SPs' parser) refuses: `<!DOCTYPE` (and any other `<!` declaration), a second
/// `xmlns` on one element, a declaration of the `xmlns` prefix, names with an empty prefix or local part
/// (`:a`, `a:`), and character references to surrogates or beyond U+10FFFF (roxmltree keeps them as U+FFFD).
///
/// Not a parser: it only finds tag boundaries (skipping comments, CDATA sections, processing instructions and
/// quoted attribute values) and counts. On well-formed XML its depth and counts are exact; on anything else
/// roxmltree refuses the document after it, so a wrong count there refuses nothing that would be accepted.
fn prescan(bytes: &[u8], declaration_limit: usize, in_scope_limit: usize) -> Result<(), XmlError> {
    let mut at = 0;
    let mut depth = 0usize;
    let mut namespace_declarations = 0usize;
    // The declarations of each open element (at most MAX_DEPTH of them), and their sum: those in scope.
    let mut open_declarations: Vec<usize> = Vec::new();
    let mut in_scope = 0usize;
    while let Some(offset) = bytes.get(at..).and_then(|rest| rest.iter().position(|b| *b == b'<')) {
        check_character_references(bytes.get(at..at + offset).unwrap_or_default())?;
        at += offset;
        let rest = bytes.get(at..).unwrap_or_default();
        if rest.starts_with(b"<!--") {
            at = skip_past(bytes, at + 4, b"-->");
        } else if rest.starts_with(b"<![CDATA[") {
            at = skip_past(bytes, at + 9, b"]]>");
        } else if rest.starts_with(b"<!") {
            return Err(XmlError::Dtd);
        } else if rest.starts_with(b"<?") {
            at = skip_past(bytes, at + 2, b"?>");
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            in_scope = in_scope.saturating_sub(open_declarations.pop().unwrap_or_default());
            at = skip_past(bytes, at + 2, b">");
        } else {
            let tag = scan_start_tag(bytes, at + 1)?;
            if tag.attributes > MAX_ATTRIBUTES_PER_ELEMENT {
                return Err(XmlError::TooManyAttributes { limit: MAX_ATTRIBUTES_PER_ELEMENT });
            }
            namespace_declarations += tag.namespace_declarations;
            if namespace_declarations > declaration_limit {
                return Err(XmlError::TooManyNamespaceDeclarations { limit: declaration_limit });
            }
            if in_scope + tag.namespace_declarations > in_scope_limit {
                return Err(XmlError::TooManyNamespacesInScope { limit: in_scope_limit });
            }
            if depth + 1 > MAX_DEPTH {
                return Err(XmlError::TooDeep { limit: MAX_DEPTH });
            }
            if !tag.empty {
                depth += 1;
                open_declarations.push(tag.namespace_declarations);
                in_scope += tag.namespace_declarations;
            }
            at = tag.end;
        }
    }
    check_character_references(bytes.get(at..).unwrap_or_default())
}

/// The index just past the first `needle` at or after `from`, or the end of `bytes`.
fn skip_past(bytes: &[u8], from: usize, needle: &[u8]) -> usize {
    bytes
        .get(from..)
        .and_then(|rest| rest.windows(needle.len()).position(|w| w == needle))
        .map_or(bytes.len(), |i| from + i + needle.len())
}

/// Every `&#…;` in `raw` (text or an attribute value, as written) names an XML character. Malformed
/// references are left to roxmltree.
fn check_character_references(raw: &[u8]) -> Result<(), XmlError> {
    let mut rest = raw;
    while let Some(i) = rest.windows(2).position(|w| w == b"&#") {
        rest = rest.get(i + 2..).unwrap_or_default();
        let end = rest.iter().position(|b| *b == b';').unwrap_or(rest.len());
        let digits = core::str::from_utf8(rest.get(..end).unwrap_or_default()).unwrap_or_default();
        let value = match digits.strip_prefix('x') {
            Some(hex) => u32::from_str_radix(hex, 16),
            None => digits.parse::<u32>(),
        };
        if let Ok(value) = value {
            let is_xml_char = matches!(value, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x1_0000..=0x10_FFFF);
            if !is_xml_char {
                return Err(XmlError::Malformed(format!("character reference to U+{value:X}, not an XML character")));
            }
        } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit() || b == b'x') {
            return Err(XmlError::Malformed("character reference out of range".into()));
        }
    }
    Ok(())
}

struct StartTag {
    end: usize,
    empty: bool,
    attributes: usize,
    namespace_declarations: usize,
}

/// Whether a namespace declaration's raw value is one we accept: empty (for `xmlns=""` only, checked by the
/// caller), or `scheme:` followed by URI characters other than `&` (RFC 3986 unreserved, reserved and `%`).
fn acceptable_namespace_uri(value: &[u8]) -> bool {
    if value.is_empty() {
        return true;
    }
    let Some(colon) = value.iter().position(|b| *b == b':') else { return false };
    let (scheme, rest) = value.split_at(colon);
    let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    scheme_ok && rest.iter().all(|b| b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$'()*+,;=%".contains(b))
}

/// A qualified name with an empty prefix or local part (`:a`, `a:`), which Namespaces 1.0 forbids and
/// roxmltree accepts.
fn empty_name_part(name: &[u8]) -> bool {
    name.first() == Some(&b':') || name.last() == Some(&b':')
}

/// Scans a start tag from just after its `<` to just past its `>` (quoted values may hold `>`).
fn scan_start_tag(bytes: &[u8], from: usize) -> Result<StartTag, XmlError> {
    let mut tag = StartTag { end: bytes.len(), empty: false, attributes: 0, namespace_declarations: 0 };
    let mut quote: Option<u8> = None;
    let mut value_start = from;
    // The attribute whose value is being read: (is a namespace declaration, declares a prefix).
    let mut declaration = (false, false);
    let mut default_declarations = 0;
    let mut token_start = from;
    let mut token_end = from;
    let mut in_token = true; // the element name
    let mut last_significant = 0u8;
    let mut i = from;
    let name = bytes.get(from..).unwrap_or_default();
    let name_end = name.iter().position(|b| b.is_ascii_whitespace() || *b == b'/' || *b == b'>').unwrap_or(name.len());
    if empty_name_part(name.get(..name_end).unwrap_or_default()) {
        return Err(XmlError::Malformed("an element name with an empty prefix or local part".into()));
    }
    while let Some(&b) = bytes.get(i) {
        if let Some(q) = quote {
            if b == q {
                quote = None;
                let value = bytes.get(value_start..i).unwrap_or_default();
                check_character_references(value)?;
                // An empty URI undeclares: allowed for the default namespace only (Namespaces 1.0; roxmltree
                // accepts `xmlns:p=""`, libxml2 refuses it).
                let (is_declaration, declares_prefix) = declaration;
                if is_declaration && (!acceptable_namespace_uri(value) || declares_prefix && value.is_empty()) {
                    return Err(XmlError::UnsupportedNamespaceUri);
                }
                declaration = (false, false);
            }
        } else {
            match b {
                b'"' | b'\'' => {
                    quote = Some(b);
                    value_start = i + 1;
                }
                b'>' => {
                    tag.end = i + 1;
                    tag.empty = last_significant == b'/';
                    return Ok(tag);
                }
                b'=' => {
                    if in_token {
                        token_end = i;
                        in_token = false;
                    }
                    tag.attributes += 1;
                    let name = bytes.get(token_start..token_end).unwrap_or_default();
                    if empty_name_part(name) {
                        return Err(XmlError::Malformed("an attribute name with an empty prefix or local part".into()));
                    }
                    if name == b"xmlns:xmlns" {
                        return Err(XmlError::Malformed("the xmlns prefix cannot be declared".into()));
                    }
                    declaration = (name == b"xmlns" || name.starts_with(b"xmlns:"), name.starts_with(b"xmlns:"));
                    if declaration.0 {
                        tag.namespace_declarations += 1;
                    }
                    if name == b"xmlns" {
                        default_declarations += 1;
                        if default_declarations > 1 {
                            return Err(XmlError::Malformed("the default namespace is declared twice".into()));
                        }
                    }
                }
                b' ' | b'\t' | b'\n' | b'\r' => {
                    if in_token {
                        token_end = i;
                        in_token = false;
                    }
                }
                _ => {
                    if !in_token {
                        token_start = i;
                        in_token = true;
                    }
                }
            }
            if !b.is_ascii_whitespace() {
                last_significant = b;
            }
        }
        i += 1;
    }
    Ok(tag)
}

/// The checks on the built tree: processing instructions, and depth and attribute counts again (the
/// authoritative check; the prescan bounds the work before it).
fn check_tree(tree: &roxmltree::Document<'_>) -> Result<(), XmlError> {
    for node in tree.descendants() {
        if node.is_pi() {
            return Err(XmlError::ProcessingInstruction);
        }
        if node.is_element() {
            // ancestors() counts the node itself and the document node.
            if node.ancestors().count().saturating_sub(1) > MAX_DEPTH {
                return Err(XmlError::TooDeep { limit: MAX_DEPTH });
            }
            if node.attributes().len() > MAX_ATTRIBUTES_PER_ELEMENT {
                return Err(XmlError::TooManyAttributes { limit: MAX_ATTRIBUTES_PER_ELEMENT });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Each test proves one refusal or one look-up rule; removing the rule makes it fail.
    use super::*;

    const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";

    #[test]
    fn parses_a_namespaced_document_and_matches_by_expanded_name() {
        let doc =
            parse(r#"<p:R xmlns:p="urn:oasis:names:tc:SAML:2.0:protocol" ID="a" x:ID="b" xmlns:x="urn:x"/>"#).unwrap();
        let root = doc.root_element();
        assert!(root.is(SAMLP, "R"));
        assert!(!root.is("urn:x", "R"));
        assert_eq!(root.attribute(None, "ID"), Some("a"));
        assert_eq!(root.attribute(Some("urn:x"), "ID"), Some("b"));
        assert_eq!(root.attribute(Some(SAMLP), "ID"), None);
    }

    #[test]
    fn unprefixed_lookup_never_matches_a_namespaced_attribute() {
        // roxmltree's own `attribute("ID")` would return "evil" here.
        let doc = parse(r#"<R xmlns:x="urn:x" x:ID="evil"/>"#).unwrap();
        assert_eq!(doc.root_element().attribute(None, "ID"), None);
    }

    #[test]
    fn under_an_undeclared_default_an_element_has_no_namespace() {
        let doc = parse(r#"<a xmlns="urn:a"><b xmlns=""/></a>"#).unwrap();
        let b = doc.root_element().child_elements().next().unwrap();
        assert_eq!(b.namespace(), None);
        assert_eq!(doc.root_element().namespace(), Some("urn:a"));
    }

    #[test]
    fn refuses_a_dtd_and_entities() {
        assert_eq!(parse("<!DOCTYPE r [<!ENTITY e 'x'>]><r>&e;</r>").unwrap_err(), XmlError::Dtd);
        assert_eq!(parse("<!DOCTYPE r><r/>").unwrap_err(), XmlError::Dtd);
        assert!(matches!(parse("<r>&e;</r>").unwrap_err(), XmlError::Malformed(_)));
    }

    #[test]
    fn refuses_processing_instructions_anywhere() {
        for text in ["<?pi x?><r/>", "<r><?pi x?></r>", "<r/><?pi?>", "<?xml-stylesheet href='a'?><r/>"] {
            assert_eq!(parse(text).unwrap_err(), XmlError::ProcessingInstruction, "{text}");
        }
        assert!(parse("<?xml version='1.0' encoding='UTF-8'?><r/>").is_ok());
    }

    #[test]
    fn refuses_a_declared_encoding_other_than_utf8() {
        assert_eq!(
            parse("<?xml version='1.0' encoding='ISO-8859-1'?><r/>").unwrap_err(),
            XmlError::UnsupportedEncoding
        );
        assert!(parse("<?xml version=\"1.0\" encoding=\"utf-8\"?><r/>").is_ok());
        assert!(parse("<?xml version=\"1.0\"?><r/>").is_ok());
        assert_eq!(parse("<?xml version='1.1'?><r/>").unwrap_err(), XmlError::UnsupportedVersion);
        assert_eq!(parse("<?xml version=\"2.0\" encoding=\"UTF-8\"?><r/>").unwrap_err(), XmlError::UnsupportedVersion);
    }

    #[test]
    fn refuses_a_document_over_the_size_limit_before_parsing() {
        let text = format!("<r>{}</r>", "a".repeat(MAX_DOCUMENT_BYTES));
        assert!(matches!(parse(&text).unwrap_err(), XmlError::TooLarge { .. }));
    }

    #[test]
    fn depth_limit_is_exact() {
        let nested = |depth: usize| format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
        assert!(parse(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(parse(&nested(MAX_DEPTH + 1)).unwrap_err(), XmlError::TooDeep { limit: MAX_DEPTH });
        // An empty element at the limit counts too; comments, CDATA and quoted '>' do not confuse the scan.
        let tricky = format!(
            "{}<b x='>'/><!-- <a> --><![CDATA[<a>]]>{}",
            "<a>".repeat(MAX_DEPTH - 1),
            "</a>".repeat(MAX_DEPTH - 1)
        );
        assert!(parse(&tricky).is_ok());
        let too_deep = format!("{}<b/>{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert_eq!(parse(&too_deep).unwrap_err(), XmlError::TooDeep { limit: MAX_DEPTH });
    }

    #[test]
    fn qname_values_resolve_by_the_declarations_in_scope() {
        let doc = parse(
            "<r xmlns='urn:default' xmlns:f='urn:outer'><e t=' f:T ' u='T' v='g:T' w='f:' x='a:b:c'>\
             <e2 xmlns:f='urn:inner' t='f:T'/><e3 xmlns='' u='T'/></e></r>",
        )
        .unwrap();
        let e = doc.root_element().child_elements().next().unwrap();
        let value = |el: Element<'_, '_>, name: &str| el.attribute(None, name).unwrap_or_default().to_string();
        assert_eq!(e.resolve_qname(&value(e, "t")), Some((Some("urn:outer"), "T")), "whitespace collapsed");
        assert_eq!(e.resolve_qname(&value(e, "u")), Some((Some("urn:default"), "T")), "the default namespace");
        assert_eq!(e.resolve_qname(&value(e, "v")), None, "an undeclared prefix");
        assert_eq!(e.resolve_qname(&value(e, "w")), None);
        assert_eq!(e.resolve_qname(&value(e, "x")), None);
        assert_eq!(e.resolve_qname("xml:lang"), Some((Some(XML_NAMESPACE), "lang")));
        let mut inner = e.child_elements();
        let (e2, e3) = (inner.next().unwrap(), inner.next().unwrap());
        assert_eq!(e2.resolve_qname(&value(e2, "t")), Some((Some("urn:inner"), "T")), "the nearest declaration");
        assert_eq!(e3.resolve_qname(&value(e3, "u")), Some((None, "T")), "under xmlns=\"\": no namespace");
    }

    #[test]
    fn attribute_and_namespace_limits() {
        let attrs = |n: usize| (0..n).map(|i| format!(" a{i} = 'v'")).collect::<String>();
        assert!(parse(&format!("<r{}/>", attrs(MAX_ATTRIBUTES_PER_ELEMENT))).is_ok());
        assert_eq!(
            parse(&format!("<r{}/>", attrs(MAX_ATTRIBUTES_PER_ELEMENT + 1))).unwrap_err(),
            XmlError::TooManyAttributes { limit: MAX_ATTRIBUTES_PER_ELEMENT }
        );
        let declaring =
            |n: usize| format!("<r>{}</r>", (0..n).map(|i| format!("<e xmlns:p{i}='urn:{i}'/>")).collect::<String>());
        assert!(parse(&declaring(MAX_NAMESPACE_DECLARATIONS)).is_ok());
        assert_eq!(
            parse(&declaring(MAX_NAMESPACE_DECLARATIONS + 1)).unwrap_err(),
            XmlError::TooManyNamespaceDeclarations { limit: MAX_NAMESPACE_DECLARATIONS }
        );
        // Metadata documents: their own, higher limit, and every other rule of `parse`.
        assert!(parse_metadata(&declaring(MAX_METADATA_NAMESPACE_DECLARATIONS)).is_ok());
        assert_eq!(
            parse_metadata(&declaring(MAX_METADATA_NAMESPACE_DECLARATIONS + 1)).unwrap_err(),
            XmlError::TooManyNamespaceDeclarations { limit: MAX_METADATA_NAMESPACE_DECLARATIONS }
        );
        // … nested, at most MAX_METADATA_NAMESPACES_IN_SCOPE in scope (a closed element's are out of scope).
        let nested = |n: usize| {
            let open = (0..n).map(|i| format!("<e xmlns:p{i}='urn:{i}'>")).collect::<String>();
            format!("<r>{open}{}<e xmlns:x='urn:x'/></r>", "</e>".repeat(n))
        };
        assert!(parse_metadata(&nested(MAX_METADATA_NAMESPACES_IN_SCOPE)).is_ok());
        assert_eq!(
            parse_metadata(&nested(MAX_METADATA_NAMESPACES_IN_SCOPE + 1)).unwrap_err(),
            XmlError::TooManyNamespacesInScope { limit: MAX_METADATA_NAMESPACES_IN_SCOPE }
        );
        assert_eq!(parse_metadata("<!DOCTYPE r><r/>").unwrap_err(), XmlError::Dtd);
        assert_eq!(
            parse_metadata(&format!("<r{}/>", attrs(33))).unwrap_err(),
            XmlError::TooManyAttributes { limit: 32 }
        );
    }

    #[test]
    fn refuses_namespace_uris_canonical_forms_disagree_on() {
        for uri in ["relative", "urn:a b", "urn:a&amp;b", "urn:&#97;", "urn:é", "1urn:a", "urn:a\"b", ":x"] {
            let text = format!("<r xmlns:p='{uri}'/>");
            assert_eq!(parse(&text).unwrap_err(), XmlError::UnsupportedNamespaceUri, "{uri}");
            if !uri.contains('"') {
                let text = format!("<r><e xmlns = \"{uri}\"/></r>");
                assert_eq!(parse(&text).unwrap_err(), XmlError::UnsupportedNamespaceUri, "{uri}");
            }
        }
        for uri in ["urn:oasis:names:tc:SAML:2.0:assertion", "http://www.w3.org/2000/09/xmldsig#", "urn:x?a=1;b=%20"] {
            assert!(parse(&format!("<r xmlns:p='{uri}' xmlns='{uri}'/>")).is_ok(), "{uri}");
        }
        assert!(parse("<r xmlns=''/>").is_ok());
        assert_eq!(parse("<r xmlns:p=''/>").unwrap_err(), XmlError::UnsupportedNamespaceUri);
        // A non-namespace attribute may hold anything.
        assert!(parse("<r a='x &amp; y'/>").is_ok());
    }

    #[test]
    fn refuses_what_roxmltree_accepts_and_libxml2_refuses() {
        for text in [
            "<r xmlns='urn:a' xmlns='urn:a'/>",
            "<r xmlns:xmlns='urn:x'/>",
            "<:r/>",
            "<:r></:r>",
            "<r :a=''/>",
            "<r>&#xD800;</r>",
            "<r a='&#55296;'/>",
            "<r>&#x110000;</r>",
            "<r>&#99999999999;</r>",
        ] {
            assert!(
                matches!(parse(text).unwrap_err(), XmlError::Malformed(_) | XmlError::UnsupportedNamespaceUri),
                "{text}"
            );
        }
        // References in comments and CDATA are not references; valid ones are fine.
        assert!(parse("<r a='&#x10FFFF;&#9;'><!-- &#xD800; --><![CDATA[&#xD800;]]>&#xE000;&#65533;</r>").is_ok());
    }

    #[test]
    fn node_limit() {
        let many = format!("<r>{}</r>", "<e/>".repeat(MAX_NODES as usize));
        assert_eq!(parse(&many).unwrap_err(), XmlError::TooManyNodes { limit: MAX_NODES });
    }

    #[test]
    fn refuses_duplicate_attributes_after_namespace_resolution() {
        let text = r#"<r xmlns:a="urn:same" xmlns:b="urn:same" a:x="1" b:x="2"/>"#;
        assert!(matches!(parse(text).unwrap_err(), XmlError::Malformed(_)));
    }

    #[test]
    fn text_skips_comments_and_refuses_child_elements() {
        let doc = parse("<r><n>user@example.com<!---->.evil.test</n><m><x/></m></r>").unwrap();
        let mut children = doc.root_element().child_elements();
        assert_eq!(children.next().unwrap().text().unwrap(), "user@example.com.evil.test");
        assert_eq!(children.next().unwrap().text().unwrap_err(), XmlError::UnexpectedChildElement);
    }

    #[test]
    fn data_model_matches_canonical_xml() {
        // Line ends normalised in text, character references kept; attribute whitespace normalised.
        let text = normalize_line_ends("<r a=\"x\ty\r\nz&#9;&#10;&#13;\">1\r\n2\r3&#13;\r&lt;<![CDATA[<&>]]>\r</r>");
        let doc = parse(&text).unwrap();
        let r = doc.root_element();
        assert_eq!(r.attribute(None, "a"), Some("x y z\t\n\r"));
        assert_eq!(r.text().unwrap(), "1\n2\n3\r\n<<&>\n");
    }

    #[test]
    fn refuses_carriage_returns_left_in_the_text() {
        // roxmltree alone would keep this \r (it precedes a reference); normalised first, it is a newline.
        assert_eq!(parse("<r>a\r&lt;</r>").unwrap_err(), XmlError::UnnormalizedLineEnds);
        let text = normalize_line_ends("<r>a\r&lt;</r>");
        assert_eq!(parse(&text).unwrap().root_element().text().unwrap(), "a\n<");
        assert!(matches!(normalize_line_ends("<r/>"), Cow::Borrowed(_)));
    }
}
