//! Arbitrary bytes -> `xml::normalize_line_ends` + `xml::parse` (the one XML parser of SAML and WS-Fed), then
//! exclusive c14n (`xml::c14n::canonicalize`) of every element: plain, with a PrefixList (`#default`, the
//! usual `xs`/`xsi`, an absent prefix) and without its first child element (the enveloped-signature shape).
//! Never panics; every canonicalisation of a parsed element succeeds; the canonical form of the root is
//! well-formed XML that canonicalises to itself (c14n is a fixed point on its own output) unless re-parsing
//! it hits a size limit (exclusive c14n repeats namespace declarations on each element that uses them, and
//! escaping grows the text).
#![no_main]

use edge_auth::core::xml::c14n::{canonicalize, Options};
use edge_auth::core::xml::{normalize_line_ends, parse, XmlError};
use libfuzzer_sys::fuzz_target;

const PREFIX_LIST: &[&str] = &["#default", "xs", "xsi", "saml2", "absent"];

fuzz_target!(init: edge_auth_fuzz::known::install(), |data: &[u8]| {
    edge_auth_fuzz::known::guard(|| {
        let Ok(text) = std::str::from_utf8(data) else { return };
        let text = normalize_line_ends(text);
        let Ok(doc) = parse(&text) else { return };
        for element in doc.elements() {
            canonicalize(element, &Options::default()).expect("c14n of a parsed element");
            let exclude = element.descendant_elements().nth(1);
            let options = Options { inclusive_prefixes: PREFIX_LIST, exclude };
            canonicalize(element, &options).expect("c14n with a PrefixList and an excluded descendant");
            // Exclusion of the element itself or of a non-descendant is refused, never ignored.
            let refused = Options { inclusive_prefixes: &[], exclude: Some(element) };
            assert_eq!(canonicalize(element, &refused), Err(XmlError::ExcludedElementNotInSubtree));
        }
        let once = canonicalize(doc.root_element(), &Options::default()).expect("c14n of the root");
        let once = String::from_utf8(once).expect("canonical form is UTF-8");
        assert!(!once.contains('\r'), "a literal CR in the canonical form");
        match parse(&once) {
            Ok(again) => {
                let twice = canonicalize(again.root_element(), &Options::default()).expect("c14n of the re-parsed root");
                assert_eq!(once.as_bytes(), twice.as_slice(), "c14n is not a fixed point");
            }
            Err(
                XmlError::TooLarge { .. }
                | XmlError::TooManyNamespaceDeclarations { .. }
                | XmlError::TooManyAttributes { .. },
            ) => {}
            Err(error) => panic!("the canonical form does not parse: {error}\n{once}"),
        }
    });
});
