// A hostile WS-Federation IdP for the attack suite: `wresult` documents (WS-Trust RequestSecurityTokenResponse
// holding a SAML 1.1 or SAML 2.0 token, the shapes AD FS and Entra post) built from templates and signed with
// npm `xml-crypto` (an XML-DSig implementation independent of edge-auth's), then bent into the attacks on a
// passive requestor: token wrapping (a second assertion in AppliesTo, in Advice, a second response in a
// collection), two tokens, the unsigned envelope trusted, audience, validity window, foreign keys, comment
// truncation, the SAML 2.0 confirmation of another protocol exchange, SHA-1, issuer, domain. Everything a test
// needs to know about a variant is in VARIANTS: what it builds, the status and x-edge-auth-error code the worker
// must answer, and the rule its log line must name (quoted from src/core/wsfed/*.rs or the XML core). A control
// built by the same code and signed correctly must be ACCEPTED (the attack suite checks it), so a refusal proves
// the rule and not a broken generator.
//
//   const ctx = { realm, replyUrl, issuer };            // the connector's realm and reply URL, the IdP's issuer
//   const xml = VARIANTS.wrongAudience.build(ctx);      // the wresult (raw XML, as the form field carries it)
import { randomUUID } from 'node:crypto';

import { ALGS, ENVELOPED, EXC_C14N, signerFor } from './xml-signer.mjs';
import { testKeyPair } from './saml-idp.mjs';

export { DSIG, ENVELOPED, EXC_C14N } from './xml-signer.mjs';
export const SAML11_NS = 'urn:oasis:names:tc:SAML:1.0:assertion';
export const SAML2_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
export const TRUST_2005_NS = 'http://schemas.xmlsoap.org/ws/2005/02/trust';
export const TRUST_13_NS = 'http://docs.oasis-open.org/ws-sx/ws-trust/200512';
const POLICY_NS = 'http://schemas.xmlsoap.org/ws/2004/09/policy';
const ADDRESSING_NS = 'http://www.w3.org/2005/08/addressing';
const WSU_NS = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd';
const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

/**
 * The code and status the worker answers a refused wresult with. ONE place to change should the worker name it
 * otherwise (the SAML ACS answers `saml_response_invalid`, src/core/error.rs).
 */
export const WSFED_INVALID = { status: 400, code: 'wsfed_token_invalid' };

export const ATTACKER = 'mallory@wsfed.example';
export const VICTIM = 'alice@wsfed.example';

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
export const newId = () => `_${randomUUID()}`;

export const CLAIM_EMAIL = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress';
export const CLAIM_NAME = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name';
export const CLAIM_IMMUTABLE_ID = 'http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID';

/** The token's values (defaults + overrides); `null` leaves an optional attribute out. */
function values(p) {
  const now = p.now ?? Date.now();
  return {
    assertionId: newId(),
    email: ATTACKER,
    nameIdFormat: NAMEID_EMAIL,
    issuer: p.issuer,
    audience: p.realm,
    notBefore: now - 60_000,
    notOnOrAfter: now + 600_000,
    confirmationNotOnOrAfter: now + 600_000,
    recipient: p.replyUrl,
    confirmationInResponseTo: null,
    confirmationMethod: null,
    ...p,
    now,
  };
}

/** The claims of a token: [name, values[]] pairs (default: emailaddress = email, name = the local part). */
const claimsOf = (v) => v.claims ?? [[CLAIM_EMAIL, [v.email]], [CLAIM_NAME, [v.email.split('@')[0]]]];

/**
 * A SAML 1.1 assertion in AD FS's shape (tests/fixtures/xml/wsfed/adfs-saml11.xml), unsigned.
 * @param {object} p { issuer, realm, replyUrl, email?, assertionId?, audience?, notBefore?, notOnOrAfter?,
 *        claims?: [[name, values[]]], nameIdXml?: raw NameIdentifier, confirmationMethod?, advice?: raw XML }
 */
export function saml11Assertion(p) {
  const v = values(p);
  const nameId = v.nameIdXml ?? `<saml:NameIdentifier Format="${esc(v.nameIdFormat)}">${esc(v.email)}</saml:NameIdentifier>`;
  const subject = `<saml:Subject>${nameId}<saml:SubjectConfirmation><saml:ConfirmationMethod>${esc(v.confirmationMethod ?? 'urn:oasis:names:tc:SAML:1.0:cm:bearer')}</saml:ConfirmationMethod></saml:SubjectConfirmation></saml:Subject>`;
  const attribute = ([name, vals]) => {
    const cut = name.lastIndexOf('/');
    return `<saml:Attribute AttributeName="${esc(name.slice(cut + 1))}" AttributeNamespace="${esc(name.slice(0, cut))}">${vals.map((x) => `<saml:AttributeValue>${v.rawValues ? x : esc(x)}</saml:AttributeValue>`).join('')}</saml:Attribute>`;
  };
  const notBefore = v.notBefore === null ? '' : ` NotBefore="${iso(v.notBefore)}"`;
  return (
    `<saml:Assertion xmlns:saml="${SAML11_NS}" MajorVersion="1" MinorVersion="1" AssertionID="${v.assertionId}" Issuer="${esc(v.issuer)}" IssueInstant="${iso(v.now)}">` +
    `<saml:Conditions${notBefore} NotOnOrAfter="${iso(v.notOnOrAfter)}"><saml:AudienceRestrictionCondition><saml:Audience>${esc(v.audience)}</saml:Audience></saml:AudienceRestrictionCondition></saml:Conditions>` +
    (v.advice ? `<saml:Advice>${v.advice}</saml:Advice>` : '') +
    `<saml:AttributeStatement>${subject}${claimsOf(v).map(attribute).join('')}</saml:AttributeStatement>` +
    `<saml:AuthenticationStatement AuthenticationMethod="urn:oasis:names:tc:SAML:1.0:am:password" AuthenticationInstant="${iso(v.now - 2000)}">${subject}</saml:AuthenticationStatement>` +
    `</saml:Assertion>`
  );
}

/**
 * A SAML 2.0 assertion in Entra's shape (tests/fixtures/xml/wsfed/entra-saml2.xml), unsigned.
 * @param {object} p as saml11Assertion, plus recipient (default: the reply URL; null: none),
 *        confirmationInResponseTo (default none) and sessionNotOnOrAfter (ms; default none)
 */
export function saml2Assertion(p) {
  const v = values(p);
  const attr = (name, value) => (value === null || value === undefined ? '' : ` ${name}="${esc(value)}"`);
  const nameId = v.nameIdXml ?? `<NameID Format="${esc(v.nameIdFormat)}">${esc(v.email)}</NameID>`;
  const attribute = ([name, vals]) =>
    `<Attribute Name="${esc(name)}">${vals.map((x) => `<AttributeValue>${v.rawValues ? x : esc(x)}</AttributeValue>`).join('')}</Attribute>`;
  return (
    `<Assertion xmlns="${SAML2_NS}" ID="${v.assertionId}" IssueInstant="${iso(v.now)}" Version="2.0">` +
    `<Issuer>${esc(v.issuer)}</Issuer>` +
    `<Subject>${nameId}<SubjectConfirmation Method="${esc(v.confirmationMethod ?? 'urn:oasis:names:tc:SAML:2.0:cm:bearer')}">` +
    `<SubjectConfirmationData${attr('InResponseTo', v.confirmationInResponseTo)} NotOnOrAfter="${iso(v.confirmationNotOnOrAfter)}"${attr('Recipient', v.recipient)}/></SubjectConfirmation></Subject>` +
    `<Conditions NotBefore="${iso(v.notBefore)}" NotOnOrAfter="${iso(v.notOnOrAfter)}"><AudienceRestriction><Audience>${esc(v.audience)}</Audience></AudienceRestriction></Conditions>` +
    (v.advice ? `<Advice>${v.advice}</Advice>` : '') +
    `<AttributeStatement>${claimsOf(v).map(attribute).join('')}</AttributeStatement>` +
    `<AuthnStatement AuthnInstant="${iso(v.now - 2000)}"${v.sessionNotOnOrAfter ? ` SessionNotOnOrAfter="${iso(v.sessionNotOnOrAfter)}"` : ''}><AuthnContext><AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</AuthnContextClassRef></AuthnContext></AuthnStatement>` +
    `</Assertion>`
  );
}

/**
 * Sign the first assertion of `xml` (SAML 1.1: by its AssertionID, the signature its last child; SAML 2.0: by
 * its ID, the signature after its Issuer), enveloped, exclusive c14n.
 * @param {string} xml an assertion, or a document holding one
 * @param {object} [o]
 * @param {keyof ALGS} [o.alg='rsa-sha256']
 * @param {{privateKey: string, certificate: string}} [o.keys] default: the IdP's TEST-ONLY rsa pair
 * @param {boolean} [o.keyInfo=true] put the certificate in KeyInfo (AD FS and Entra do)
 */
export function signAssertion(xml, { alg = 'rsa-sha256', keys = testKeyPair('rsa'), keyInfo = true } = {}) {
  const saml11 = /<saml:Assertion\b[^>]*\bAssertionID="([^"]+)"/.exec(xml);
  const saml2 = /<Assertion\b[^>]*\bID="([^"]+)"/.exec(xml);
  const [m, idAttribute] = saml11 && (!saml2 || saml11.index < saml2.index) ? [saml11, 'AssertionID'] : [saml2, 'ID'];
  if (!m) throw new Error('no assertion to sign');
  const id = m[1];
  const select = `//*[local-name(.)='Assertion' and @${idAttribute}='${id}']`;
  // xml-crypto knows ID, Id and id; SAML 1.1's AssertionID is added (naming ID again makes it see duplicates).
  const { sig, digest } = signerFor(alg, keys, keyInfo, idAttribute === 'ID' ? {} : { idAttribute });
  sig.addReference({ xpath: select, digestAlgorithm: digest, transforms: [ENVELOPED, EXC_C14N] });
  sig.computeSignature(xml, {
    prefix: 'ds',
    location: idAttribute === 'AssertionID'
      ? { reference: select, action: 'append' }
      : { reference: `${select}/*[local-name(.)='Issuer']`, action: 'after' },
  });
  return sig.getSignedXml();
}

/**
 * The RequestSecurityTokenResponse around `token` as AD FS and Entra write it (WS-Trust 2005/02): Lifetime,
 * AppliesTo (the realm), RequestedSecurityToken, TokenType, RequestType, KeyType.
 * @param {string} token the token's XML (or several elements: an attack)
 * @param {object} p { realm, now?, appliesTo? (null: no AppliesTo; a string: this address; raw: appliesToXml),
 *        tokenType?, trust13? (WS-Trust 1.3 RequestSecurityTokenResponseCollection), extra? raw XML appended }
 */
export function envelope(token, p) {
  const now = p.now ?? Date.now();
  const trust = p.trust13 ? TRUST_13_NS : TRUST_2005_NS;
  const tokenType = p.tokenType ?? (/<saml:Assertion\b/.test(token) ? 'urn:oasis:names:tc:SAML:1.0:assertion' : 'urn:oasis:names:tc:SAML:2.0:assertion');
  const appliesTo = p.appliesToXml ?? (p.appliesTo === null ? ''
    : `<wsp:AppliesTo xmlns:wsp="${POLICY_NS}"><wsa:EndpointReference xmlns:wsa="${ADDRESSING_NS}"><wsa:Address>${esc(p.appliesTo ?? p.realm)}</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>`);
  const rstr =
    `<t:RequestSecurityTokenResponse xmlns:t="${trust}">` +
    `<t:Lifetime><wsu:Created xmlns:wsu="${WSU_NS}">${iso(now)}</wsu:Created><wsu:Expires xmlns:wsu="${WSU_NS}">${iso(now + 3_600_000)}</wsu:Expires></t:Lifetime>` +
    appliesTo +
    `<t:RequestedSecurityToken>${token}</t:RequestedSecurityToken>` +
    `<t:TokenType>${tokenType}</t:TokenType>` +
    `<t:RequestType>${trust}/Issue</t:RequestType>` +
    `<t:KeyType>${p.trust13 ? `${trust}/Bearer` : 'http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey'}</t:KeyType>` +
    (p.extra ?? '') +
    `</t:RequestSecurityTokenResponse>`;
  return p.trust13 ? `<t:RequestSecurityTokenResponseCollection xmlns:t="${trust}">${rstr}${p.collectionExtra ?? ''}</t:RequestSecurityTokenResponseCollection>` : rstr;
}

/** A wresult as the IdP would send it: a signed token (SAML 1.1 unless p.saml2) in its envelope. */
export function wresult(ctx, p = {}) {
  const token = p.saml2 ? saml2Assertion({ ...ctx, ...p }) : saml11Assertion({ ...ctx, ...p });
  return envelope(signAssertion(token, p.sign), { ...ctx, ...p });
}

/** The signed token alone (SAML 1.1 unless p.saml2). */
const signedToken = (ctx, p = {}) => signAssertion(p.saml2 ? saml2Assertion({ ...ctx, ...p }) : saml11Assertion({ ...ctx, ...p }), p.sign);

/** The same XML with the victim in place of the attacker (what every wrapping attack tries to get read). */
const asVictim = (xml) => xml.replaceAll(ATTACKER, VICTIM).replaceAll(ATTACKER.split('@')[0], VICTIM.split('@')[0]);

/** An assertion, unsigned, with a new ID: the victim's, written by the attacker. */
const forgedForVictim = (ctx, p = {}) => (p.saml2 ? saml2Assertion : saml11Assertion)({ ...ctx, ...p, email: VICTIM });

/** The signature element of a signed document (ds: prefix). */
const signatureOf = (xml) => /<ds:Signature\b[\s\S]*<\/ds:Signature>/.exec(xml)[0];

// ------------------------------------------------------------------------------------------------------------
// The variants. Each: build(ctx) → the wresult XML; and what the worker must answer. `rule` is matched against
// the worker's log line for the refused POST; it quotes the rule of src/core/wsfed/mod.rs, saml11.rs, saml2.rs
// (or of the XML signature core, src/core/xml/dsig.rs) that must fire.
// The attacker (mallory@wsfed.example) has a real account at the IdP and gets tokens signed for it; the wrapping
// attacks try to be read as the victim (alice@wsfed.example).
// ------------------------------------------------------------------------------------------------------------

const INVALID = WSFED_INVALID;

export const VARIANTS = {
  // ---- wrapping: where the token is ----
  assertionInAppliesTo: {
    what: 'wrapping: the IdP-signed token hidden in AppliesTo, an unsigned token for the victim as the RequestedSecurityToken',
    build: (ctx) => envelope(forgedForVictim(ctx), {
      ...ctx,
      appliesToXml: `<wsp:AppliesTo xmlns:wsp="${POLICY_NS}"><wsa:EndpointReference xmlns:wsa="${ADDRESSING_NS}"><wsa:Address>${esc(ctx.realm)}</wsa:Address></wsa:EndpointReference>${signedToken(ctx)}</wsp:AppliesTo>`,
    }),
    expect: { ...INVALID, rule: /exactly one Assertion/ },
  },
  assertionInAdvice: {
    what: 'wrapping: an unsigned token for the victim whose Advice holds the IdP-signed one',
    build: (ctx) => envelope(forgedForVictim(ctx, { advice: signedToken(ctx) }), ctx),
    expect: { ...INVALID, rule: /exactly one Assertion/ },
  },
  signedTokenWithAdvice: {
    what: 'a signed SAML 1.1 token carrying Advice (another assertion, unsigned, for the victim): the signed bytes hold two assertions',
    build: (ctx) => envelope(signAssertion(saml11Assertion({ ...ctx, advice: forgedForVictim(ctx) })), ctx),
    expect: { ...INVALID, rule: /exactly one Assertion/ },
  },
  secondResponseInCollection: {
    what: 'wrapping: a WS-Trust 1.3 collection, the first response an unsigned token for the victim, the second the IdP-signed one',
    build: (ctx) => {
      const signedResponse = envelope(signedToken(ctx), { ...ctx, trust13: true }).replace(/^<t:RequestSecurityTokenResponseCollection[^>]*>|<\/t:RequestSecurityTokenResponseCollection>$/g, '');
      return envelope(forgedForVictim(ctx), { ...ctx, trust13: true, collectionExtra: signedResponse });
    },
    expect: { ...INVALID, rule: /the collection holds exactly one RequestSecurityTokenResponse/ },
  },
  secondResponseInCollectionSignedFirst: {
    what: 'a WS-Trust 1.3 collection: the IdP-signed response first, a second response (unsigned token for the victim) after it',
    build: (ctx) => {
      const forged = envelope(forgedForVictim(ctx), { ...ctx, trust13: true }).replace(/^<t:RequestSecurityTokenResponseCollection[^>]*>|<\/t:RequestSecurityTokenResponseCollection>$/g, '');
      return envelope(signedToken(ctx), { ...ctx, trust13: true, collectionExtra: forged });
    },
    expect: { ...INVALID, rule: /the collection holds exactly one RequestSecurityTokenResponse/ },
  },
  nestedResponse: {
    what: 'wrapping: a second RequestSecurityTokenResponse (unsigned token for the victim) nested inside the first one\'s extension content',
    build: (ctx) => envelope(signedToken(ctx), { ...ctx, extra: envelope(forgedForVictim(ctx), ctx) }),
    expect: { ...INVALID, rule: /exactly one RequestSecurityTokenResponse/ },
  },
  // ---- two tokens ----
  twoTokensInOneContainer: {
    what: 'two tokens in the RequestedSecurityToken, both signed by the IdP (the attacker\'s, then one for the victim)',
    build: (ctx) => envelope(signedToken(ctx) + signedToken(ctx, { email: VICTIM }), ctx),
    expect: { ...INVALID, rule: /the RequestedSecurityToken holds exactly one token/ },
  },
  twoTokenContainers: {
    what: 'two RequestedSecurityToken elements, each with an IdP-signed token (the attacker\'s, then the victim\'s)',
    build: (ctx) => envelope(signedToken(ctx), { ...ctx, extra: `<t:RequestedSecurityToken>${signedToken(ctx, { email: VICTIM })}</t:RequestedSecurityToken>` }),
    expect: { ...INVALID, rule: /exactly one RequestedSecurityToken/ },
  },
  saml11AndSaml2: {
    what: 'two tokens of different versions: a signed SAML 1.1 token for the attacker and a signed SAML 2.0 one for the victim',
    build: (ctx) => envelope(signedToken(ctx) + signedToken(ctx, { saml2: true, email: VICTIM }), ctx),
    expect: { ...INVALID, rule: /the RequestedSecurityToken holds exactly one token/ },
  },
  // ---- the signature ----
  unsignedToken: {
    what: 'an unsigned SAML 1.1 token for the victim',
    build: (ctx) => envelope(forgedForVictim(ctx), ctx),
    expect: { ...INVALID, rule: /the Assertion is signed/ },
  },
  unsignedSaml2Token: {
    what: 'an unsigned SAML 2.0 token for the victim',
    build: (ctx) => envelope(forgedForVictim(ctx, { saml2: true }), ctx),
    expect: { ...INVALID, rule: /the Assertion is signed/ },
  },
  signatureOnTheEnvelope: {
    what: 'the IdP\'s signature moved from the token to the envelope (a child of the response), the token changed to the victim',
    build(ctx) {
      const signed = signedToken(ctx);
      const signature = signatureOf(signed);
      return envelope(asVictim(signed.replace(signature, '')), { ...ctx, extra: signature });
    },
    expect: { ...INVALID, rule: /ds:Signature only on the Assertion/ },
  },
  tokenChangedAfterSigning: {
    what: 'the IdP-signed token for the attacker, its subject and email changed to the victim',
    build: (ctx) => envelope(asVictim(signedToken(ctx)), ctx),
    expect: { ...INVALID, rule: /the signed element does not match its digest/ },
  },
  foreignKey: {
    what: 'a token for the victim signed by a key that is not the IdP\'s (no KeyInfo)',
    build: (ctx) => envelope(signAssertion(forgedForVictim(ctx), { keys: testKeyPair('other'), keyInfo: false }), ctx),
    expect: { ...INVALID, rule: /no configured certificate verifies the signature/ },
  },
  attackerKeyInfo: {
    what: 'a token for the victim signed by the attacker\'s key, the attacker\'s certificate in KeyInfo (KeyInfo must be ignored)',
    build: (ctx) => envelope(signAssertion(forgedForVictim(ctx), { keys: testKeyPair('other'), keyInfo: true }), ctx),
    expect: { ...INVALID, rule: /no configured certificate verifies the signature/ },
  },
  sha1: {
    what: 'RSA-SHA1 signature and SHA-1 digest (as AD FS relying party trusts set to SHA-1 sign)',
    build: (ctx) => wresult(ctx, { sign: { alg: 'rsa-sha1' } }),
    expect: { ...INVALID, rule: /algorithm not accepted/ },
  },
  // ---- the unsigned envelope ----
  appliesToOtherRp: {
    what: 'AppliesTo names another relying party (an IdP-signed token for this realm, the envelope says another): refused',
    build: (ctx) => wresult(ctx, { appliesTo: 'https://other-rp.example/' }),
    expect: { ...INVALID, rule: /AppliesTo, when present, names the realm/ },
  },
  // ---- token rules (each signed correctly with one value wrong) ----
  wrongAudience: {
    what: 'the token\'s Audience is another relying party (AppliesTo still names this realm: it is not signed)',
    build: (ctx) => wresult(ctx, { audience: 'https://other-rp.example/' }),
    expect: { ...INVALID, rule: /every audience restriction names the realm/ },
  },
  wrongAudienceSaml2: {
    what: 'SAML 2.0: the Audience is another relying party',
    build: (ctx) => wresult(ctx, { saml2: true, audience: 'https://other-rp.example/' }),
    expect: { ...INVALID, rule: /every audience restriction names the realm/ },
  },
  expired: {
    what: 'SAML 1.1: Conditions NotOnOrAfter an hour ago',
    build: (ctx) => wresult(ctx, { now: Date.now() - 3_700_000, notOnOrAfter: Date.now() - 3_600_000 }),
    expect: { ...INVALID, rule: /expired.*Conditions NotOnOrAfter|Conditions NotOnOrAfter/ },
  },
  expiredSaml2: {
    what: 'SAML 2.0: Conditions NotOnOrAfter an hour ago (the confirmation still valid)',
    build: (ctx) => wresult(ctx, { saml2: true, now: Date.now() - 3_700_000, notOnOrAfter: Date.now() - 3_600_000, confirmationNotOnOrAfter: Date.now() + 600_000 }),
    expect: { ...INVALID, rule: /Conditions NotOnOrAfter/ },
  },
  confirmationExpiredSaml2: {
    what: 'SAML 2.0: the bearer confirmation\'s NotOnOrAfter an hour ago',
    build: (ctx) => wresult(ctx, { saml2: true, confirmationNotOnOrAfter: Date.now() - 3_600_000 }),
    expect: { ...INVALID, rule: /SubjectConfirmationData NotOnOrAfter/ },
  },
  notYetValid: {
    what: 'SAML 1.1: Conditions NotBefore in an hour',
    build: (ctx) => wresult(ctx, { notBefore: Date.now() + 3_600_000, notOnOrAfter: Date.now() + 7_200_000 }),
    expect: { ...INVALID, rule: /Conditions NotBefore/ },
  },
  noNotOnOrAfter: {
    what: 'SAML 1.1: Conditions without NotOnOrAfter (a bearer token with no end)',
    build: (ctx) => envelope(signAssertion(saml11Assertion(ctx).replace(/ NotOnOrAfter="[^"]+"/, '')), ctx),
    expect: { ...INVALID, rule: /Conditions has a NotOnOrAfter/ },
  },
  wrongIssuer: {
    what: 'SAML 1.1: the token\'s Issuer is another IdP (signed by the configured key: one key, two issuers)',
    build: (ctx) => wresult(ctx, { issuer: 'http://evil-adfs.example/adfs/services/trust' }),
    expect: { ...INVALID, rule: /the Assertion's Issuer is the IdP/ },
  },
  wrongIssuerSaml2: {
    what: 'SAML 2.0: the token\'s Issuer is another IdP',
    build: (ctx) => wresult(ctx, { saml2: true, issuer: 'https://sts.windows.net/00000000-0000-0000-0000-000000000000/' }),
    expect: { ...INVALID, rule: /the Assertion's Issuer is the IdP/ },
  },
  holderOfKey: {
    what: 'SAML 1.1: the confirmation method is holder-of-key (the browser posting it proves no key)',
    build: (ctx) => wresult(ctx, { confirmationMethod: 'urn:oasis:names:tc:SAML:1.0:cm:holder-of-key' }),
    expect: { ...INVALID, rule: /the ConfirmationMethod is bearer/ },
  },
  saml2InResponseTo: {
    what: 'SAML 2.0: the bearer confirmation answers a SAML AuthnRequest (InResponseTo): a token of another protocol exchange',
    build: (ctx) => wresult(ctx, { saml2: true, confirmationInResponseTo: newId() }),
    expect: { ...INVALID, rule: /the confirmation has no InResponseTo/ },
  },
  saml2SessionOver: {
    what: 'SAML 2.0: the AuthnStatement\'s SessionNotOnOrAfter an hour ago (the IdP\'s session is over)',
    build: (ctx) => wresult(ctx, { saml2: true, sessionNotOnOrAfter: Date.now() - 3_600_000 }),
    expect: { ...INVALID, rule: /SessionNotOnOrAfter/ },
  },
  saml2WrongRecipient: {
    what: 'SAML 2.0: the confirmation\'s Recipient is another reply URL',
    build: (ctx) => wresult(ctx, { saml2: true, recipient: 'https://other-rp.example/auth/wsfed/corp' }),
    expect: { ...INVALID, rule: /Recipient, when present, is the reply URL/ },
  },
  encryptedToken: {
    what: 'an encrypted token (EncryptedData as the RequestedSecurityToken): refused, not skipped',
    build: (ctx) => envelope('<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>', ctx),
    expect: { ...INVALID, rule: /no encrypted token/ },
  },
  doctype: {
    what: 'a DOCTYPE with an internal entity (XXE / entity expansion) naming the victim',
    build: (ctx) => `<!DOCTYPE t:RequestSecurityTokenResponse [<!ENTITY who "${VICTIM}">]>${wresult(ctx).replace(`>${ATTACKER}</saml:NameIdentifier>`, '>&who;</saml:NameIdentifier>')}`,
    expect: { ...INVALID, rule: /DTD/ },
  },
  // ---- comment truncation: the whole value is read ----
  commentInNameIdentifier: {
    what: 'comment truncation: NameIdentifier (emailAddress format, no email claim) "alice@wsfed.example<!---->.evil.test", signed over "alice@wsfed.example.evil.test"',
    build(ctx) {
      const whole = `${VICTIM}.evil.test`;
      const signed = signedToken(ctx, { email: whole, claims: [] });
      return envelope(signed.replaceAll(`>${whole}</saml:NameIdentifier>`, `>${VICTIM}<!---->.evil.test</saml:NameIdentifier>`), ctx);
    },
    // The signature holds (c14n drops comments); the address read is the whole one, of a domain not owned.
    expect: { status: 403, code: 'email_domain_mismatch', rule: /wsfed\.example\.evil\.test|domain/ },
  },
  commentInEmailClaim: {
    what: 'comment truncation: emailaddress claim "alice@wsfed.example<!---->.evil.test", signed over "alice@wsfed.example.evil.test"',
    build(ctx) {
      const whole = `${VICTIM}.evil.test`;
      const signed = signedToken(ctx, { email: whole });
      return envelope(signed.replace(`<saml:AttributeValue>${whole}</saml:AttributeValue>`, `<saml:AttributeValue>${VICTIM}<!---->.evil.test</saml:AttributeValue>`), ctx);
    },
    expect: { status: 403, code: 'email_domain_mismatch', rule: /wsfed\.example\.evil\.test|domain/ },
  },
  // ---- identity ----
  foreignDomain: {
    what: 'a correctly signed token for an address of a domain this connector does not own',
    build: (ctx) => wresult(ctx, { email: 'eve@other.example' }),
    expect: { status: 403, code: 'email_domain_mismatch', rule: /other\.example|domain/ },
  },
  otherConnectorsDomain: {
    what: 'a correctly signed token for an address of the other WS-Fed connector\'s domain',
    build: (ctx) => wresult(ctx, { email: 'eve@wsfed-two.example' }),
    expect: { status: 403, code: 'email_domain_mismatch', rule: /wsfed-md\.example|domain/ },
  },
};

/** The controls: tokens built and signed by this module exactly as the variants are, which must be accepted. */
export const CONTROLS = {
  saml11: { what: 'SAML 1.1 token, RSA-SHA256 (AD FS)', build: (ctx, email) => wresult(ctx, { email }) },
  saml2: { what: 'SAML 2.0 token, RSA-SHA256 (Entra)', build: (ctx, email) => wresult(ctx, { email, saml2: true }) },
  trust13Collection: {
    what: 'SAML 2.0 token in a WS-Trust 1.3 collection holding one response',
    build: (ctx, email) => wresult(ctx, { email, saml2: true, trust13: true }),
  },
  noAppliesTo: { what: 'SAML 1.1 token, no AppliesTo in the envelope', build: (ctx, email) => wresult(ctx, { email, appliesTo: null }) },
  // The EC certificate is the connector's second one (certificates: rollover), so this also proves that.
  ecdsaSha256: {
    what: 'SAML 1.1 token signed with ECDSA P-256 (the second configured certificate)',
    build: (ctx, email) => wresult(ctx, { email, sign: { alg: 'ecdsa-sha256', keys: testKeyPair('ec') } }),
  },
};
