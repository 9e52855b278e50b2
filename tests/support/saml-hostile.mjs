// A hostile SAML IdP for the attack suite: SAML responses built from one template and signed with npm
// `xml-crypto` (an XML-DSig implementation independent of edge-auth's), then bent into the classic attacks
// (XSW1–8 of Somorovsky et al., "On Breaking SAML", 2012, as SAML Raider names them; comment truncation;
// DTDs; foreign keys; profile violations). Everything a test needs to know about a variant is in VARIANTS:
// what it builds, the status and x-edge-auth-error code the worker must answer, and the rule its log line
// must name. A control built by the same code and signed correctly must be ACCEPTED (the attack suite checks
// it), so a refusal proves the rule and not a broken generator.
//
//   const forged = buildVariant('xsw3', ctx);  // ctx: { requestId, acsUrl, spEntityId, idpEntityId, ... }
//   forged.xml, forged.base64
import { randomUUID } from 'node:crypto';

import { ALGS, DSIG, ENVELOPED, EXC_C14N, signerFor } from './xml-signer.mjs';
import { NAMEID_EMAIL, testKeyPair } from './saml-idp.mjs';

export { DSIG, ENVELOPED, EXC_C14N } from './xml-signer.mjs';
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
export const newId = () => `_${randomUUID()}`;

/**
 * The response template, unsigned. Every value can be overridden; `null` leaves an attribute out.
 * @param {object} p
 * @param {string} p.requestId  the AuthnRequest's ID (InResponseTo of the Response and of the confirmation)
 * @param {string} p.acsUrl     the SP's ACS URL (Destination, Recipient)
 * @param {string} p.spEntityId the SP's entity ID (Audience)
 * @param {string} p.idpEntityId the IdP's entity ID (both Issuers)
 * @param {Array<[string, string[]]>} [p.attributes] the AttributeStatement (default: `email` = p.email)
 */
export function responseXml(p) {
  const now = p.now ?? Date.now();
  const v = {
    responseId: newId(),
    assertionId: newId(),
    email: 'mallory@saml.example',
    nameIdFormat: NAMEID_EMAIL,
    destination: p.acsUrl,
    inResponseTo: p.requestId,
    responseIssuer: p.idpEntityId,
    assertionIssuer: p.idpEntityId,
    recipient: p.acsUrl,
    confirmationInResponseTo: p.requestId,
    audience: p.spEntityId,
    notBefore: now - 60_000,
    notOnOrAfter: now + 300_000,
    confirmationNotOnOrAfter: now + 300_000,
    statusCode: 'urn:oasis:names:tc:SAML:2.0:status:Success',
    assertion: true,
    ...p,
  };
  const attr = (name, value) => (value === null || value === undefined ? '' : ` ${name}="${esc(value)}"`);
  const responseIssuer = v.responseIssuer === null ? '' : `<saml:Issuer>${esc(v.responseIssuer)}</saml:Issuer>`;
  const nameId = v.nameIdXml ?? `<saml:NameID${attr('Format', v.nameIdFormat)}>${esc(v.email)}</saml:NameID>`;
  const assertion =
    `<saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="${v.assertionId}" Version="2.0" IssueInstant="${iso(now)}">` +
    `<saml:Issuer>${esc(v.assertionIssuer)}</saml:Issuer>` +
    `<saml:Subject>${nameId}<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">` +
    `<saml:SubjectConfirmationData${attr('InResponseTo', v.confirmationInResponseTo)}${attr('NotOnOrAfter', iso(v.confirmationNotOnOrAfter))}${attr('Recipient', v.recipient)}/>` +
    `</saml:SubjectConfirmation></saml:Subject>` +
    `<saml:Conditions NotBefore="${iso(v.notBefore)}" NotOnOrAfter="${iso(v.notOnOrAfter)}"><saml:AudienceRestriction><saml:Audience>${esc(v.audience)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${iso(now)}" SessionIndex="_s${v.assertionId.slice(1, 9)}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
    attributeStatement(v.attributes ?? [['email', [v.email]]]) +
    `</saml:Assertion>`;
  return (
    `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${v.responseId}" Version="2.0" IssueInstant="${iso(now)}"${attr('Destination', v.destination)}${attr('InResponseTo', v.inResponseTo)}>` +
    `${responseIssuer}<samlp:Status><samlp:StatusCode Value="${esc(v.statusCode)}"/></samlp:Status>` +
    `${v.assertion ? assertion : ''}</samlp:Response>`
  );
}

/** An AttributeStatement of [name, values[]] pairs (none: no statement). */
function attributeStatement(attributes) {
  if (!attributes.length) return '';
  const one = ([name, values]) =>
    `<saml:Attribute Name="${esc(name)}">${values.map((x) => `<saml:AttributeValue xsi:type="xs:string">${esc(x)}</saml:AttributeValue>`).join('')}</saml:Attribute>`;
  return `<saml:AttributeStatement>${attributes.map(one).join('')}</saml:AttributeStatement>`;
}

/** The ID attribute of the first element named `qname` (e.g. 'saml:Assertion'). */
export function idOf(xml, qname) {
  const m = new RegExp(`<${qname}\\b[^>]*\\sID="([^"]+)"`).exec(xml);
  if (!m) throw new Error(`no ${qname} with an ID`);
  return m[1];
}

/**
 * Sign the element `target` ('assertion' | 'response'; the first one) with an enveloped signature placed after
 * its Issuer (the schema's place), exclusive c14n.
 * @param {string} xml
 * @param {object} [o]
 * @param {'assertion'|'response'} [o.target='assertion']
 * @param {keyof ALGS} [o.alg='rsa-sha256']
 * @param {{privateKey: string, certificate: string}} [o.keys] default: the IdP's TEST-ONLY rsa pair
 * @param {boolean} [o.keyInfo=true] put the certificate in KeyInfo
 * @param {string[]} [o.transforms] the Reference's transforms (default: enveloped-signature, exc-c14n)
 * @param {string} [o.canonicalization] SignedInfo's CanonicalizationMethod (default exc-c14n)
 * @param {boolean} [o.emptyUri=false] Reference URI="" (the whole document) instead of #ID
 */
export function sign(xml, {
  target = 'assertion',
  alg = 'rsa-sha256',
  keys = testKeyPair('rsa'),
  keyInfo = true,
  transforms = [ENVELOPED, EXC_C14N],
  canonicalization = EXC_C14N,
  emptyUri = false,
} = {}) {
  const qname = target === 'assertion' ? 'saml:Assertion' : 'samlp:Response';
  const local = target === 'assertion' ? 'Assertion' : 'Response';
  const id = idOf(xml, qname);
  const { sig, digest } = signerFor(alg, keys, keyInfo, { canonicalizationAlgorithm: canonicalization });
  sig.addReference({
    xpath: `//*[local-name(.)='${local}' and @ID='${id}']`,
    digestAlgorithm: digest,
    transforms,
    isEmptyUri: emptyUri,
  });
  sig.computeSignature(xml, {
    prefix: 'ds',
    location: { reference: `//*[local-name(.)='${local}' and @ID='${id}']/*[local-name(.)='Issuer']`, action: 'after' },
  });
  return sig.getSignedXml();
}

// ---- string surgery on documents this module wrote (their shape is known: no nested same-name elements) ----

/** The first `<qname …>…</qname>` (or self-closed) element, with where it is. */
export function element(xml, qname, from = 0) {
  const open = new RegExp(`<${qname}[\\s>/]`, 'g');
  open.lastIndex = from;
  const m = open.exec(xml);
  if (!m) throw new Error(`no <${qname}>`);
  const start = m.index;
  const close = `</${qname}>`;
  const selfClose = xml.indexOf('/>', start);
  const gt = xml.indexOf('>', start);
  if (selfClose !== -1 && selfClose + 1 === gt) return { start, end: gt + 1, text: xml.slice(start, gt + 1) };
  const end = xml.indexOf(close, start) + close.length;
  return { start, end, text: xml.slice(start, end) };
}

/** xml with the first `qname` element replaced by `replacement` (a string or a function of the old text). */
export function replaceElement(xml, qname, replacement) {
  const e = element(xml, qname);
  const next = typeof replacement === 'function' ? replacement(e.text) : replacement;
  return xml.slice(0, e.start) + next + xml.slice(e.end);
}

export const removeSignature = (xml) => replaceElement(xml, 'ds:Signature', '');
export const signatureOf = (xml) => element(xml, 'ds:Signature').text;

/** Insert `what` right after the first `<qname …>` start tag (as its first child). */
export function insertFirstChild(xml, qname, what) {
  const e = element(xml, qname);
  const gt = xml.indexOf('>', e.start) + 1;
  return xml.slice(0, gt) + what + xml.slice(gt);
}

/** Insert `what` right after the first `<qname>` element's Issuer child (where a signature goes). */
export function insertAfterIssuer(xml, qname, what) {
  const e = element(xml, qname);
  const issuer = element(xml, 'saml:Issuer', e.start);
  return xml.slice(0, issuer.end) + what + xml.slice(issuer.end);
}

/** Insert `what` just before the closing tag of the first `qname` element (as its last child). */
export function appendChild(xml, qname, what) {
  const e = element(xml, qname);
  const close = e.end - `</${qname}>`.length;
  return xml.slice(0, close) + what + xml.slice(close);
}

/** The same assertion with another subject (the victim): what every wrapping attack tries to get read. */
const withVictim = (assertionText, victim) =>
  assertionText.replaceAll('mallory@saml.example', victim);

const VICTIM = 'alice@saml.example';

// ------------------------------------------------------------------------------------------------------------
// The variants. Each: build(ctx) → xml; and what the worker must answer. `rule` is matched against the worker's
// log line for the refused POST (`log`: another line, when the rule is logged on a line of its own); it quotes the
// rule of src/core/saml/mod.rs (or of the XML core) that must fire.
// The attacker ("mallory@saml.example") has a real account at the IdP and gets responses signed for it; the
// wrapping attacks try to be read as the victim (alice@saml.example).
// ------------------------------------------------------------------------------------------------------------

const INVALID = { status: 400, code: 'saml_response_invalid' };

/** A response signed the way the IdP would sign it for the attacker: assertion signed. */
const signedForMallory = (ctx, extra = {}) => sign(responseXml({ ...ctx, ...extra }), { target: 'assertion' });
const responseSignedForMallory = (ctx, extra = {}) => sign(responseXml({ ...ctx, ...extra }), { target: 'response' });

export const VARIANTS = {
  // ---- XSW1–8 (signature wrapping) ----
  xsw1: {
    what: 'XSW1: signed Response cloned (unsigned, original ID) into its own Signature; the outer Response gets a new ID and the victim',
    build(ctx) {
      const signed = responseSignedForMallory(ctx);
      const clone = removeSignature(signed);
      const evil = withVictim(signed, VICTIM).replace(/^<samlp:Response([^>]*)\sID="[^"]+"/, `<samlp:Response$1 ID="${newId()}"`);
      return replaceElement(evil, 'ds:Signature', (s) => s.replace(/<\/ds:Signature>$/, `${clone}</ds:Signature>`));
    },
    expect: { ...INVALID, rule: /exactly one Assertion/ },
  },
  xsw2: {
    what: 'XSW2: like XSW1, the clone of the signed Response placed before the Signature (a detached signature)',
    build(ctx) {
      const signed = responseSignedForMallory(ctx);
      const clone = removeSignature(signed);
      const evil = withVictim(signed, VICTIM).replace(/^<samlp:Response([^>]*)\sID="[^"]+"/, `<samlp:Response$1 ID="${newId()}"`);
      return replaceElement(evil, 'ds:Signature', (s) => clone + s);
    },
    expect: { ...INVALID, rule: /exactly one Assertion/ },
  },
  xsw3: {
    what: 'XSW3: an unsigned assertion for the victim (new ID) inserted before the signed one',
    build(ctx) {
      const signed = signedForMallory(ctx);
      const original = element(signed, 'saml:Assertion').text;
      const evil = withVictim(removeSignature(original), VICTIM).replace(/ID="[^"]+"/, `ID="${newId()}"`);
      return signed.replace(original, evil + original);
    },
    expect: { ...INVALID, rule: /exactly one Assertion/ },
  },
  xsw4: {
    what: 'XSW4: the signed assertion moved inside an unsigned assertion for the victim',
    build(ctx) {
      const signed = signedForMallory(ctx);
      const original = element(signed, 'saml:Assertion').text;
      const evil = withVictim(removeSignature(original), VICTIM).replace(/ID="[^"]+"/, `ID="${newId()}"`);
      return signed.replace(original, evil.replace(/<\/saml:Assertion>$/, `${original}</saml:Assertion>`));
    },
    expect: { ...INVALID, rule: /exactly one Assertion/ },
  },
  xsw5: {
    what: 'XSW5: the signed assertion changed to the victim (new ID, signature kept in it); an unsigned copy of the original appended',
    build(ctx) {
      const signed = signedForMallory(ctx);
      const original = element(signed, 'saml:Assertion').text;
      const evil = withVictim(original, VICTIM).replace(/ID="[^"]+"/, `ID="${newId()}"`);
      return signed.replace(original, evil + removeSignature(original));
    },
    expect: { ...INVALID, rule: /exactly one Assertion/ },
  },
  xsw6: {
    what: 'XSW6: like XSW5, the unsigned copy of the original inside the moved Signature',
    build(ctx) {
      const signed = signedForMallory(ctx);
      const original = element(signed, 'saml:Assertion').text;
      const copy = removeSignature(original);
      const evil = withVictim(original, VICTIM)
        .replace(/ID="[^"]+"/, `ID="${newId()}"`)
        .replace('</ds:Signature>', `${copy}</ds:Signature>`);
      return signed.replace(original, evil);
    },
    expect: { ...INVALID, rule: /exactly one Assertion/ },
  },
  xsw7: {
    what: 'XSW7: the signed assertion hidden in an Extensions element; an unsigned assertion for the victim in its place',
    build(ctx) {
      const signed = signedForMallory(ctx);
      const original = element(signed, 'saml:Assertion').text;
      const evil = withVictim(removeSignature(original), VICTIM).replace(/ID="[^"]+"/, `ID="${newId()}"`);
      const moved = signed.replace(original, evil);
      return insertAfterIssuer(moved, 'samlp:Response', `<samlp:Extensions>${original}</samlp:Extensions>`);
    },
    expect: { ...INVALID, rule: /exactly one Assertion/ },
  },
  xsw8: {
    what: 'XSW8: the assertion changed to the victim keeps the Signature, which holds the unsigned original in a ds:Object',
    build(ctx) {
      const signed = signedForMallory(ctx);
      const original = element(signed, 'saml:Assertion').text;
      const copy = removeSignature(original);
      const evil = withVictim(original, VICTIM)
        .replace(/ID="[^"]+"/, `ID="${newId()}"`)
        .replace('</ds:Signature>', `<ds:Object>${copy}</ds:Object></ds:Signature>`);
      return signed.replace(original, evil);
    },
    expect: { ...INVALID, rule: /exactly one Assertion/ },
  },
  // Wrapping with one assertion only (so that the count rule does not fire first): the signature layer.
  xsw1SingleAssertion: {
    what: 'XSW1 with one assertion: a signed Response without assertion (an IdP error answer) wrapped into the Signature of a Response with a new ID and an unsigned assertion for the victim',
    build(ctx) {
      const signed = sign(responseXml({ ...ctx, assertion: false }), { target: 'response' });
      const clone = removeSignature(signed);
      const unsigned = element(responseXml({ ...ctx, email: VICTIM }), 'saml:Assertion').text;
      const evil = appendChild(signed, 'samlp:Response', unsigned).replace(/^<samlp:Response([^>]*)\sID="[^"]+"/, `<samlp:Response$1 ID="${newId()}"`);
      return replaceElement(evil, 'ds:Signature', (s) => s.replace(/<\/ds:Signature>$/, `${clone}</ds:Signature>`));
    },
    // The Signature holds an element it may not hold (a Response): the structure of the signature refuses it.
    expect: { ...INVALID, rule: /the signature's structure is not accepted/ },
  },
  xsw2SingleAssertion: {
    what: 'XSW2 with one assertion: the signed Response without assertion cloned before the Signature (detached); the outer Response has a new ID and an unsigned assertion for the victim',
    build(ctx) {
      const signed = sign(responseXml({ ...ctx, assertion: false }), { target: 'response' });
      const clone = removeSignature(signed);
      const unsigned = element(responseXml({ ...ctx, email: VICTIM }), 'saml:Assertion').text;
      const evil = appendChild(signed, 'samlp:Response', unsigned).replace(/^<samlp:Response([^>]*)\sID="[^"]+"/, `<samlp:Response$1 ID="${newId()}"`);
      return replaceElement(evil, 'ds:Signature', (s) => clone + s);
    },
    // The signature references the clone, not the Response that holds it.
    expect: { ...INVALID, rule: /the signature does not reference the element that holds it/ },
  },
  movedSignature: {
    what: 'the assertion for the victim (new ID) carrying the signature of the original, which is gone (reference to an absent ID)',
    build(ctx) {
      const signed = signedForMallory(ctx);
      const original = element(signed, 'saml:Assertion').text;
      return signed.replace(original, withVictim(original, VICTIM).replace(/ID="[^"]+"/, `ID="${newId()}"`));
    },
    expect: { ...INVALID, rule: /the signature does not reference the element that holds it/ },
  },
  // ---- where the assertion is ----
  twoAssertions: {
    what: 'two assertions, both signed by the IdP (the attacker\'s, then one for the victim)',
    build(ctx) {
      const victims = element(sign(responseXml({ ...ctx, email: VICTIM })), 'saml:Assertion').text;
      return appendChild(signedForMallory(ctx), 'samlp:Response', victims);
    },
    expect: { ...INVALID, rule: /exactly one Assertion/ },
  },
  assertionInAdvice: {
    what: 'an unsigned assertion for the victim whose Advice holds the signed one',
    build(ctx) {
      const signed = signedForMallory(ctx);
      const original = element(signed, 'saml:Assertion').text;
      const evil = withVictim(removeSignature(original), VICTIM)
        .replace(/ID="[^"]+"/, `ID="${newId()}"`)
        .replace('<saml:AuthnStatement', `<saml:Advice>${original}</saml:Advice><saml:AuthnStatement`);
      return signed.replace(original, evil);
    },
    expect: { ...INVALID, rule: /exactly one Assertion/ },
  },
  assertionNotChildOfResponse: {
    what: 'the only assertion (correctly signed) inside an Extensions element, not a child of the Response',
    build(ctx) {
      const signed = signedForMallory(ctx);
      const original = element(signed, 'saml:Assertion').text;
      return signed.replace(original, `<samlp:Extensions>${original}</samlp:Extensions>`);
    },
    expect: { ...INVALID, rule: /the Assertion is a child of the Response/ },
  },
  unsignedAssertionInSignedResponse: {
    what: 'the Response signed by the IdP, then its (unsigned) assertion changed to the victim',
    build(ctx) {
      return withVictim(responseSignedForMallory(ctx), VICTIM);
    },
    expect: { ...INVALID, rule: /the signed element does not match its digest/ },
  },
  unsignedAssertionAddedToSignedResponse: {
    what: 'an IdP-signed Response without assertion, to which the attacker adds an unsigned assertion for the victim',
    build(ctx) {
      const signed = sign(responseXml({ ...ctx, assertion: false }), { target: 'response' });
      return appendChild(signed, 'samlp:Response', element(responseXml({ ...ctx, email: VICTIM }), 'saml:Assertion').text);
    },
    expect: { ...INVALID, rule: /the signed element does not match its digest/ },
  },
  nothingSigned: {
    what: 'neither the Response nor the Assertion signed',
    build: (ctx) => responseXml({ ...ctx, email: VICTIM }),
    expect: { ...INVALID, rule: /the Response or the Assertion is signed/ },
  },
  signedAssertionOfAnotherRequest: {
    what: 'the reverse: an assertion signed for another request (another browser), in an unsigned Response the attacker wrote for this one',
    build(ctx) {
      const other = sign(responseXml({ ...ctx, requestId: `_${randomUUID()}`, email: VICTIM }));
      return replaceElement(responseXml(ctx), 'saml:Assertion', element(other, 'saml:Assertion').text);
    },
    expect: { ...INVALID, rule: /the confirmation's InResponseTo is this browser's request/ },
  },
  // ---- keys ----
  foreignKey: {
    what: 'signed by a key that is not the IdP\'s (no KeyInfo)',
    build: (ctx) => sign(responseXml({ ...ctx, email: VICTIM }), { keys: testKeyPair('other'), keyInfo: false }),
    expect: { ...INVALID, rule: /no configured certificate verifies the signature/ },
  },
  attackerKeyInfo: {
    what: 'signed by the attacker\'s key with the attacker\'s certificate in KeyInfo (KeyInfo must be ignored)',
    build: (ctx) => sign(responseXml({ ...ctx, email: VICTIM }), { keys: testKeyPair('other'), keyInfo: true }),
    expect: { ...INVALID, rule: /no configured certificate verifies the signature/ },
  },
  responseSignatureForeign: {
    what: 'assertion signed by the IdP, Response signed by the attacker\'s key (both signatures must verify)',
    build: (ctx) => sign(signedForMallory(ctx), { target: 'response', keys: testKeyPair('other') }),
    expect: { ...INVALID, rule: /no configured certificate verifies the signature/ },
  },
  // ---- the signature's own shape (each one validly signed as it stands: only the shape rule refuses it) ----
  emptyReferenceUri: {
    what: 'Response signed with Reference URI="" (the whole document) rather than #ID',
    build: (ctx) => sign(responseXml(ctx), { target: 'response', emptyUri: true }),
    expect: { ...INVALID, rule: /the signature does not reference the element that holds it/ },
  },
  c14nWithComments: {
    what: 'the Reference transformed by exclusive c14n WITH comments (the comment-truncation enabler)',
    build: (ctx) => sign(responseXml(ctx), { transforms: [ENVELOPED, `${EXC_C14N}WithComments`] }),
    expect: { ...INVALID, rule: /the transforms are not exactly enveloped-signature then exclusive c14n/ },
  },
  noEnvelopedTransform: {
    what: 'the Reference transformed by exc-c14n only (no enveloped-signature transform)',
    build: (ctx) => sign(responseXml(ctx), { transforms: [EXC_C14N] }),
    expect: { ...INVALID, rule: /the transforms are not exactly enveloped-signature then exclusive c14n/ },
  },
  inclusiveC14n: {
    what: 'SignedInfo canonicalised with inclusive c14n 1.0',
    build: (ctx) => sign(responseXml(ctx), { canonicalization: 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315' }),
    expect: { ...INVALID, rule: /algorithm not accepted/ },
  },
  secondSignedInfo: {
    what: 'CVE-2025-29774 shape: a second SignedInfo (for the victim\'s assertion) added to the Signature',
    build(ctx) {
      const signed = signedForMallory(ctx);
      const signedInfo = element(signed, 'ds:SignedInfo').text;
      // The second one (after the first, before SignatureValue) references an assertion ID of the attacker's choice.
      return signed.replace(signedInfo, signedInfo + signedInfo.replace(/URI="#[^"]+"/, `URI="#${newId()}"`));
    },
    expect: { ...INVALID, rule: /the signature's structure is not accepted/ },
  },
  digestValueElsewhere: {
    what: 'CVE-2024-45409 shape: assertion changed to the victim, its new DigestValue in an Extensions element before it',
    build(ctx) {
      const changed = withVictim(signedForMallory(ctx), VICTIM);
      const newDigest = /<ds:DigestValue>([^<]+)</.exec(sign(removeSignature(changed)))[1];
      return insertAfterIssuer(changed, 'samlp:Response', `<samlp:Extensions><ds:DigestValue xmlns:ds="${DSIG}">${newDigest}</ds:DigestValue></samlp:Extensions>`);
    },
    expect: { ...INVALID, rule: /the signed element does not match its digest/ },
  },
  sha1: {
    what: 'RSA-SHA1 signature and SHA-1 digest (allow_sha1 is off)',
    build: (ctx) => sign(responseXml(ctx), { alg: 'rsa-sha1' }),
    expect: { ...INVALID, rule: /algorithm not accepted/ },
  },
  digestInComment: {
    what: 'CVE-2025-29775 shape: content changed to the victim, its new digest in a comment before the original DigestValue',
    build(ctx) {
      const signed = signedForMallory(ctx);
      const changed = withVictim(signed, VICTIM);
      // The digest the changed assertion would have: sign the same content again and take its DigestValue.
      const resigned = sign(removeSignature(changed));
      const newDigest = /<ds:DigestValue>([^<]+)</.exec(resigned)[1];
      return changed.replace('<ds:DigestValue>', `<ds:DigestValue><!--${newDigest}-->`);
    },
    expect: { ...INVALID, rule: /the signed element does not match its digest/ },
  },
  // ---- comments, DTDs, encryption ----
  commentInNameId: {
    what: 'comment truncation (2018 advisories): NameID "alice@saml.example<!---->.evil.test", signed over "alice@saml.example.evil.test"; the whole value must be read',
    build(ctx) {
      const signed = signedForMallory({ ...ctx, email: 'alice@saml.example.evil.test' });
      return signed.replace(/(<saml:NameID[^>]*>)alice@saml\.example\.evil\.test</, '$1alice@saml.example<!---->.evil.test<');
    },
    // The signature holds (c14n drops comments); the address read is the whole one, of a domain not owned.
    expect: { status: 403, code: 'email_domain_mismatch', rule: /saml\.example\.evil\.test|domain/ },
  },
  doctype: {
    what: 'a DOCTYPE with an internal entity (XXE / entity expansion)',
    build(ctx) {
      const signed = signedForMallory(ctx);
      return `<!DOCTYPE samlp:Response [<!ENTITY who "${VICTIM}">]>${signed.replace(/(<saml:NameID[^>]*>)[^<]+</, '$1&who;<')}`;
    },
    expect: { ...INVALID, rule: /DTD/ },
  },
  processingInstruction: {
    what: 'a processing instruction inside the NameID',
    build: (ctx) => signedForMallory(ctx).replace(/(<saml:NameID[^>]*>)/, '$1<?evil x?>'),
    expect: { ...INVALID, rule: /processing instruction/ },
  },
  encryptedAssertion: {
    what: 'an EncryptedAssertion at a connector with no SP decryption key (sp_decryption_key_binding): refused',
    build(ctx) {
      const enc = '<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>';
      // The Response is signed correctly over the EncryptedAssertion: only the rule can refuse it.
      return sign(replaceElement(responseXml(ctx), 'saml:Assertion', enc), { target: 'response' });
    },
    expect: { ...INVALID, rule: /EncryptedAssertion/ },
  },
  duplicateId: {
    what: 'the Response and the Assertion carry the same ID (ID-based reference ambiguity)',
    build(ctx) {
      const id = newId();
      return sign(responseXml({ ...ctx, responseId: id, assertionId: id }));
    },
    expect: { ...INVALID, rule: /two elements carry the same ID/ },
  },
  // ---- profile rules (each signed correctly with one value wrong) ----
  wrongDestination: {
    what: 'Response Destination is another SP\'s ACS',
    build: (ctx) => responseSignedForMallory(ctx, { destination: 'https://other-sp.example/acs' }),
    expect: { ...INVALID, rule: /Destination is the ACS URL/ },
  },
  missingDestination: {
    what: 'Response without Destination',
    build: (ctx) => responseSignedForMallory(ctx, { destination: null }),
    expect: { ...INVALID, rule: /Destination is the ACS URL/ },
  },
  wrongRecipient: {
    what: 'bearer confirmation Recipient is another SP\'s ACS',
    build: (ctx) => signedForMallory(ctx, { recipient: 'https://other-sp.example/acs' }),
    expect: { ...INVALID, rule: /Recipient is the ACS URL/ },
  },
  wrongAudience: {
    what: 'the Audience is another SP',
    build: (ctx) => signedForMallory(ctx, { audience: 'https://other-sp.example/metadata' }),
    expect: { ...INVALID, rule: /every AudienceRestriction names this SP/ },
  },
  wrongResponseIssuer: {
    what: 'the Response\'s Issuer is another IdP',
    build: (ctx) => signedForMallory(ctx, { responseIssuer: 'https://evil-idp.example/' }),
    expect: { ...INVALID, rule: /the Response's Issuer is the IdP/ },
  },
  wrongAssertionIssuer: {
    what: 'the Assertion\'s Issuer is another IdP (signed by the configured key: one key, two entity IDs)',
    build: (ctx) => signedForMallory(ctx, { assertionIssuer: 'https://evil-idp.example/' }),
    expect: { ...INVALID, rule: /the Assertion's Issuer is the IdP/ },
  },
  wrongInResponseTo: {
    what: 'Response InResponseTo is another request',
    build: (ctx) => responseSignedForMallory(ctx, { inResponseTo: `_${randomUUID()}` }),
    expect: { ...INVALID, rule: /InResponseTo is this browser's request/ },
  },
  wrongConfirmationInResponseTo: {
    what: 'the bearer confirmation\'s InResponseTo is another request (the Response\'s is right)',
    build: (ctx) => signedForMallory(ctx, { confirmationInResponseTo: `_${randomUUID()}` }),
    expect: { ...INVALID, rule: /the confirmation's InResponseTo is this browser's request/ },
  },
  idpInitiated: {
    what: 'an IdP-initiated (unsolicited) response: no InResponseTo anywhere (idp_initiated is off)',
    build: (ctx) => signedForMallory(ctx, { inResponseTo: null, confirmationInResponseTo: null }),
    expect: { ...INVALID, rule: /InResponseTo is this browser's request/ },
  },
  expired: {
    what: 'Conditions NotOnOrAfter an hour ago',
    build: (ctx) => signedForMallory(ctx, { now: Date.now() - 3_700_000, confirmationNotOnOrAfter: Date.now() + 300_000 }),
    expect: { ...INVALID, rule: /Conditions NotOnOrAfter/ },
  },
  confirmationExpired: {
    what: 'the bearer confirmation\'s NotOnOrAfter an hour ago',
    build: (ctx) => signedForMallory(ctx, { confirmationNotOnOrAfter: Date.now() - 3_600_000 }),
    expect: { ...INVALID, rule: /SubjectConfirmationData NotOnOrAfter/ },
  },
  notYetValid: {
    what: 'Conditions NotBefore in an hour',
    build: (ctx) => signedForMallory(ctx, { notBefore: Date.now() + 3_600_000, notOnOrAfter: Date.now() + 7_200_000 }),
    expect: { ...INVALID, rule: /Conditions NotBefore/ },
  },
  statusResponder: {
    what: 'a non-Success status (the IdP refused): reported as the IdP\'s error',
    build: (ctx) => sign(responseXml({ ...ctx, assertion: false, statusCode: 'urn:oasis:names:tc:SAML:2.0:status:Responder' }), { target: 'response' }),
    // Responder (no second-level code) is the IdP's server error (src/core/flow/saml.rs): 502.
    expect: { status: 502, code: 'idp_error', log: /the SAML IdP answered with status/, rule: /status urn:oasis:names:tc:SAML:2\.0:status:Responder/ },
  },
};

/** The controls: responses built and signed by this module exactly as the variants are, which must be accepted. */
export const CONTROLS = {
  assertionSigned: { what: 'assertion signed (RSA-SHA256)', build: (ctx, email) => signedForMallory(ctx, { email }) },
  responseSigned: { what: 'response signed (RSA-SHA256), assertion unsigned', build: (ctx, email) => responseSignedForMallory(ctx, { email }) },
  bothSigned: {
    what: 'assertion then response signed',
    build: (ctx, email) => sign(sign(responseXml({ ...ctx, email })), { target: 'response' }),
  },
  rsaSha512: { what: 'assertion signed with RSA-SHA512', build: (ctx, email) => sign(responseXml({ ...ctx, email }), { alg: 'rsa-sha512' }) },
  // The EC certificate is the connector's second one (idp_certificates: rollover), so this also proves that.
  ecdsaSha256: {
    what: 'assertion signed with ECDSA P-256 (the second configured certificate)',
    build: (ctx, email) => sign(responseXml({ ...ctx, email }), { alg: 'ecdsa-sha256', keys: testKeyPair('ec') }),
  },
};

export const toBase64 = (xml) => Buffer.from(xml, 'utf8').toString('base64');
