#!/usr/bin/env python3
"""Independent oracle for edge-auth's exclusive XML canonicalisation (src/core/xml/c14n.rs): libxml2's.

    python3 scripts/xml-oracle.py generate   # (re)write tests/fixtures/xml/expected/*.json from the fixtures
    python3 scripts/xml-oracle.py batch      # JSON cases on stdin -> JSON results on stdout (tests/xml_c14n.rs)

Needs lxml (`pip install --user lxml`; scripts/setup.sh installs it). A case is: a document, the index of the
element to canonicalise (document order, elements only: the same order as `Document::elements`), an optional
InclusiveNamespaces PrefixList, and the index of an optional descendant to leave out (the enveloped-signature
transform). Exclusive C14N 1.0 without comments.

Two libxml2 paths compute the same thing:
- lxml's `etree.tostring(el, method="c14n", exclusive=True, with_comments=False, inclusive_ns_prefixes=...)`,
  after removing the excluded element (its tail text kept), for every case it can express;
- libxml2's `xmlC14NExecute` through ctypes with a visibility callback, for PrefixLists naming `#default`: lxml
  silently drops every prefix that is not a name in the document's dictionary, and `#default` never is, so
  lxml cannot canonicalise with it. Needs the system libxml2 (`libxml2.so.2`, Debian package libxml2).
"""
import ctypes
import ctypes.util
import json
import os
import sys

from lxml import etree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "xml")
EXPECTED = os.path.join(FIXTURES, "expected")

DSIG = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
# PrefixLists tried on the signed elements besides the document's own (when it has one).
EXTRA_PREFIX_LISTS = [["xs"], ["xsi", "xs"], ["saml", "saml2", "samlp", "saml2p"], ["ds"], ["xsd", "absent"]]


def parser():
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=False,
                           strip_cdata=True, remove_comments=False, remove_pis=False)


def elements(root):
    return [e for e in root.iter() if isinstance(e.tag, str)]


def clark(el):
    return el.tag if el.tag.startswith("{") else "{}" + el.tag


def remove_keeping_tail(el):
    parent = el.getparent()
    previous = el.getprevious()
    if el.tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)


def c14n_lxml(data, element, prefixes, exclude):
    root = etree.fromstring(data, parser())
    all_elements = elements(root)
    target = all_elements[element]
    if exclude is not None:
        remove_keeping_tail(all_elements[exclude])
    return etree.tostring(target, method="c14n", exclusive=True, with_comments=False,
                          inclusive_ns_prefixes=prefixes or None)


# ---- libxml2 through ctypes (only for #default) -------------------------------------------------------------
class XmlNode(ctypes.Structure):
    pass


XmlNode._fields_ = [("_private", ctypes.c_void_p), ("type", ctypes.c_int), ("name", ctypes.c_char_p),
                    ("children", ctypes.POINTER(XmlNode)), ("last", ctypes.POINTER(XmlNode)),
                    ("parent", ctypes.POINTER(XmlNode)), ("next", ctypes.POINTER(XmlNode))]
XML_ELEMENT_NODE, XML_ATTRIBUTE_NODE, XML_COMMENT_NODE, XML_NAMESPACE_DECL = 1, 2, 8, 18
VISIBLE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
_libxml2 = None


def libxml2():
    global _libxml2
    if _libxml2 is None:
        lib = ctypes.CDLL(ctypes.util.find_library("xml2") or "libxml2.so.2")
        lib.xmlReadMemory.restype = ctypes.c_void_p
        lib.xmlReadMemory.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
        lib.xmlDocGetRootElement.restype = ctypes.POINTER(XmlNode)
        lib.xmlDocGetRootElement.argtypes = [ctypes.c_void_p]
        lib.xmlAllocOutputBuffer.restype = ctypes.c_void_p
        lib.xmlAllocOutputBuffer.argtypes = [ctypes.c_void_p]
        lib.xmlC14NExecute.argtypes = [ctypes.c_void_p, VISIBLE, ctypes.c_void_p, ctypes.c_int,
                                       ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_void_p]
        lib.xmlOutputBufferGetContent.restype = ctypes.c_void_p
        lib.xmlOutputBufferGetContent.argtypes = [ctypes.c_void_p]
        lib.xmlOutputBufferGetSize.restype = ctypes.c_size_t
        lib.xmlOutputBufferGetSize.argtypes = [ctypes.c_void_p]
        lib.xmlOutputBufferClose.argtypes = [ctypes.c_void_p]
        lib.xmlFreeDoc.argtypes = [ctypes.c_void_p]
        _libxml2 = lib
    return _libxml2


def c14n_libxml2(data, element, prefixes, exclude):
    lib = libxml2()
    doc = lib.xmlReadMemory(data, len(data), b"noname.xml", None, 0)
    if not doc:
        raise ValueError("libxml2 could not parse the document")
    try:
        order = []

        def walk(node):
            while node:
                if node.contents.type == XML_ELEMENT_NODE:
                    order.append(ctypes.addressof(node.contents))
                    walk(node.contents.children)
                node = node.contents.next

        walk(lib.xmlDocGetRootElement(doc))
        target = order[element]
        excluded = order[exclude] if exclude is not None else None

        def in_subset(address):
            inside = False
            while address:
                if address == excluded:
                    return False
                if address == target:
                    inside = True
                address = ctypes.cast(address, ctypes.POINTER(XmlNode)).contents.parent
                address = ctypes.addressof(address.contents) if address else None
            return inside

        @VISIBLE
        def visible(_user, node, parent):
            kind = ctypes.cast(node, ctypes.POINTER(XmlNode)).contents.type
            if kind == XML_COMMENT_NODE:
                return 0
            if kind in (XML_NAMESPACE_DECL, XML_ATTRIBUTE_NODE):
                return 1 if parent and in_subset(parent) else 0
            return 1 if in_subset(node) else 0

        prefix_array = (ctypes.c_char_p * (len(prefixes) + 1))(*[p.encode() for p in prefixes], None)
        buf = lib.xmlAllocOutputBuffer(None)
        exclusive_1_0 = 1
        if lib.xmlC14NExecute(doc, visible, None, exclusive_1_0, prefix_array, 0, buf) < 0:
            lib.xmlOutputBufferClose(buf)
            raise ValueError("xmlC14NExecute failed")
        out = ctypes.string_at(lib.xmlOutputBufferGetContent(buf), lib.xmlOutputBufferGetSize(buf))
        lib.xmlOutputBufferClose(buf)
        return out
    finally:
        lib.xmlFreeDoc(doc)


def canonicalize(data, element, prefixes, exclude):
    if "#default" in prefixes:
        return c14n_libxml2(data, element, prefixes, exclude), "libxml2-ctypes"
    return c14n_lxml(data, element, prefixes, exclude), "lxml"


# ---- the committed corpus -----------------------------------------------------------------------------------
def prefix_list(transform_or_method):
    for child in transform_or_method:
        if isinstance(child.tag, str) and child.tag == "{%s}InclusiveNamespaces" % EXC_C14N:
            return child.get("PrefixList", "").split()
    return None


def cases_for(data):
    root = etree.fromstring(data, parser())
    all_elements = elements(root)
    index = {el: i for i, el in enumerate(all_elements)}
    cases = []

    def add(element, prefixes, exclude, why):
        key = (element, tuple(prefixes), exclude)
        if key not in seen:
            seen.add(key)
            cases.append({"element": element, "name": clark(all_elements[element]), "prefixes": prefixes,
                          "exclude": exclude, "why": why})

    seen = set()
    for i in range(len(all_elements)):
        add(i, [], None, "every element, no PrefixList")
    for el in all_elements:
        if el.tag == "{%s}Signature" % DSIG and el.getparent() is not None:
            signed = index[el.getparent()]
            transform = el.find(".//{%s}Reference/{%s}Transforms/{%s}Transform[@Algorithm='%s']"
                                % (DSIG, DSIG, DSIG, EXC_C14N))
            own = prefix_list(transform) if transform is not None else None
            add(signed, [], index[el], "signed element, enveloped signature removed")
            if own is not None:
                add(signed, own, index[el], "signed element with the Reference's own PrefixList")
            for extra in EXTRA_PREFIX_LISTS + [["#default"], ["#default", "xsi"]]:
                add(signed, extra, index[el], "signed element, other PrefixList")
            signed_info = el.find("{%s}SignedInfo" % DSIG)
            if signed_info is not None:
                method = signed_info.find("{%s}CanonicalizationMethod" % DSIG)
                own = prefix_list(method) if method is not None else None
                if own is not None:
                    add(index[signed_info], own, None, "SignedInfo with the CanonicalizationMethod's PrefixList")
                for extra in EXTRA_PREFIX_LISTS + [["#default"]]:
                    add(index[signed_info], extra, None, "SignedInfo, other PrefixList")
    add(0, ["#default", "xsi", "xs"], None, "root, PrefixList with #default")
    return cases


def generate():
    os.makedirs(EXPECTED, exist_ok=True)
    total = 0
    for name in sorted(os.listdir(FIXTURES)):
        if not name.endswith(".xml"):
            continue
        with open(os.path.join(FIXTURES, name), "rb") as f:
            data = f.read()
        cases = cases_for(data)
        for case in cases:
            out, oracle = canonicalize(data, case["element"], case["prefixes"], case["exclude"])
            case["oracle"] = oracle
            case["expected"] = out.decode("utf-8")
        with open(os.path.join(EXPECTED, name[:-4] + ".json"), "w", encoding="utf-8") as f:
            json.dump({"fixture": name, "generator": "scripts/xml-oracle.py generate",
                       "lxml": ".".join(map(str, etree.LXML_VERSION)),
                       "libxml2": ".".join(map(str, etree.LIBXML_VERSION)), "cases": cases},
                      f, ensure_ascii=False, indent=1)
            f.write("\n")
        total += len(cases)
        print(f"{name}: {len(cases)} cases")
    print(f"{total} cases in {EXPECTED}")


def batch():
    results = []
    for case in json.load(sys.stdin):
        try:
            out, _ = canonicalize(case["xml"].encode("utf-8"), case["element"], case["prefixes"], case.get("exclude"))
            results.append({"ok": out.decode("utf-8")})
        except Exception as error:  # a document the oracle refuses is reported, not fatal
            results.append({"error": str(error)})
    json.dump(results, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    if sys.argv[1:] == ["generate"]:
        generate()
    elif sys.argv[1:] == ["batch"]:
        batch()
    else:
        sys.exit("usage: xml-oracle.py generate|batch")
