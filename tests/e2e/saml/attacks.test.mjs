// The SAML ACS under attack, end to end: the worker built with the SAML feature (build-saml/) in workerd; the
// responses come from the hostile generator (tests/support/saml-hostile.mjs, signed with npm xml-crypto, an
// XML-DSig implementation independent of edge-auth's). Each refusal is checked for its status, its
// x-edge-auth-error code AND the worker's log line naming the rule that refused it: were that rule removed,
// another (or none) would answer and the test would fail. The controls, built and signed by the same code,
// are accepted: what the variants change is what is refused.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { assertLogged, assertNoSessionSet, assertRefusal, me, SESSION_COOKIE } from '../../support/assert.mjs';
import { Browserless, startWorker } from '../../support/harness.mjs';
import { CONTROLS, responseXml, sign, toBase64, VARIANTS } from '../../support/saml-hostile.mjs';
import { inflateRedirectParam, SAML_WORKER_SCRIPT, testKeyPair } from '../../support/saml-idp.mjs';

const IDP_ENTITY_ID = 'https://idp.test/entity';
// Never contacted: the tests read the AuthnRequest out of the worker's redirect and answer it themselves.
const IDP_SSO_URL = 'http://127.0.0.1:9/sso';
const IDP_ORIGIN = 'http://127.0.0.1:9';
const ACS_LOG = /edge-auth: POST \/auth\/saml\/corp\/acs: /;
const MAIL_OID = 'urn:oid:0.9.2342.19200300.100.1.3';

let worker;
let origin;

before(async () => {
  worker = await startWorker({
    scriptPath: SAML_WORKER_SCRIPT,
    config: {
      connectors: [
        {
          id: 'corp',
          kind: 'saml',
          domains: ['saml.example'],
          idp_entity_id: IDP_ENTITY_ID,
          idp_sso_url: IDP_SSO_URL,
          // PEM and base64 DER, two keys (rollover): the RSA one and the EC one.
          idp_certificates: [testKeyPair('rsa').certificate, testKeyPair('ec').certificate.replace(/-----[^-]+-----|\s/g, '')],
        },
        {
          id: 'corpattr',
          kind: 'saml',
          domains: ['saml-attr.example'],
          idp_entity_id: IDP_ENTITY_ID,
          idp_sso_url: IDP_SSO_URL,
          idp_certificates: [testKeyPair('rsa').certificate],
          email_attribute: MAIL_OID,
        },
        {
          id: 'corpinit',
          kind: 'saml',
          domains: ['saml-init.example'],
          idp_entity_id: IDP_ENTITY_ID,
          idp_sso_url: IDP_SSO_URL,
          idp_certificates: [testKeyPair('rsa').certificate],
          idp_initiated: true,
        },
      ],
    },
  });
  origin = worker.url;
}, { timeout: 60_000 });

after(async () => {
  await worker?.dispose();
}, { timeout: 30_000 });

/**
 * A browser starts a sign-in: the worker's redirect to the IdP gives the AuthnRequest's ID and the RelayState;
 * the browser's jar holds the transaction cookie. Returns the context the generator needs.
 */
async function startTransaction(b = new Browserless(), email = 'mallory@saml.example', connector = 'corp') {
  const start = await b.navigate(`${origin}/auth/login?email=${encodeURIComponent(email)}`);
  assert.equal(start.status, 302, start.describe());
  const to = new URL(start.location);
  const xml = inflateRedirectParam(to.searchParams.get('SAMLRequest'));
  const requestId = /<(?:\w+:)?AuthnRequest\b[^>]*\sID="([^"]+)"/.exec(xml)?.[1];
  assert.ok(requestId, xml);
  return {
    b,
    relayState: to.searchParams.get('RelayState'),
    ctx: {
      requestId,
      acsUrl: `${origin}/auth/saml/${connector}/acs`,
      spEntityId: `${origin}/auth/saml/${connector}/metadata`,
      idpEntityId: IDP_ENTITY_ID,
    },
  };
}

/** The IdP's auto-submitted form, as the browser posts it (cross-site, from the IdP's origin). */
function postAcs(b, xml, relayState, connector = 'corp') {
  const fields = { SAMLResponse: toBase64(xml) };
  if (relayState !== undefined && relayState !== null) fields.RelayState = relayState;
  return b.submit(`${origin}/auth/saml/${connector}/acs`, fields, { from: IDP_ORIGIN });
}

async function expectAccepted(b, r, email, mark) {
  assert.equal(r.status, 302, `${r.describe()}\nworker log:\n  ${worker.logs.since(mark).join('\n  ')}`);
  assert.ok(r.setCookie(SESSION_COOKIE)?.value, r.describe());
  assert.equal((await me(b, origin, 200)).email, email);
}

/** Refused with `expect.code` (and status), a log line for the ACS naming `expect.rule`, no session. */
async function expectRefused(b, r, expect, mark) {
  assertRefusal(r, { status: expect.status, code: expect.code });
  assertNoSessionSet(r);
  await assertLogged(worker.logs, mark, ACS_LOG);
  // The rule is on the ACS line, or (expect.log) on a line of its own, e.g. the IdP's SAML status.
  const line = await assertLogged(worker.logs, mark, expect.log ?? ACS_LOG);
  assert.match(line, expect.rule, `the log line names the rule\n  ${worker.logs.since(mark).join('\n  ')}`);
  await me(b, origin, 401);
}

describe('controls: the generator\'s correctly signed responses are accepted', () => {
  for (const [name, control] of Object.entries(CONTROLS)) {
    test(`${name}: ${control.what}`, async () => {
      const { b, ctx, relayState } = await startTransaction();
      const email = `control-${name.toLowerCase()}@saml.example`;
      const mark = worker.logs.mark();
      await expectAccepted(b, await postAcs(b, control.build(ctx, email), relayState), email, mark);
    });
  }
});

describe('hostile responses are refused, each by its rule', () => {
  for (const [name, variant] of Object.entries(VARIANTS)) {
    test(`${name}: ${variant.what}`, async () => {
      const { b, ctx, relayState } = await startTransaction();
      const mark = worker.logs.mark();
      const r = await postAcs(b, variant.build(ctx), relayState);
      await expectRefused(b, r, variant.expect, mark);
    });
  }
});

describe('the transaction: bound to one browser, one request, one use', () => {
  test('the same accepted response posted again by the same browser: refused (login_expired)', async () => {
    const { b, ctx, relayState } = await startTransaction();
    const xml = CONTROLS.assertionSigned.build(ctx, 'replay1@saml.example');
    let mark = worker.logs.mark();
    await expectAccepted(b, await postAcs(b, xml, relayState), 'replay1@saml.example', mark);
    // The same browser (its transaction cookie consumed or cleared by the first POST) posts again: the back button.
    mark = worker.logs.mark();
    const r = await postAcs(b, xml, relayState);
    assertRefusal(r, { code: 'login_expired' });
    assertNoSessionSet(r);
    await assertLogged(worker.logs, mark, ACS_LOG);
  });

  test('replay of a transaction cookie: the cookie and the response captured before the first POST, posted twice', async () => {
    const { b, ctx, relayState } = await startTransaction();
    const captured = new Browserless();
    for (const c of b.cookiesFor(`${origin}/auth/saml/corp/acs`)) captured.setCookie(c.name, c.value, { url: origin, path: c.path });
    const xml = CONTROLS.assertionSigned.build(ctx, 'replay2@saml.example');
    let mark = worker.logs.mark();
    await expectAccepted(b, await postAcs(b, xml, relayState), 'replay2@saml.example', mark);
    mark = worker.logs.mark();
    const r = await postAcs(captured, xml, relayState);
    assertRefusal(r, { code: 'login_expired' });
    assertNoSessionSet(r);
    await assertLogged(worker.logs, mark, ACS_LOG);
    await me(captured, origin, 401);
  });

  test('one assertion (same ID) in two responses, each for its own transaction: the second refused (assertion IDs single use)', async () => {
    const first = await startTransaction();
    const second = await startTransaction();
    const assertionId = `_${crypto.randomUUID()}`;
    let mark = worker.logs.mark();
    await expectAccepted(first.b, await postAcs(first.b, sign(responseXml({ ...first.ctx, assertionId, email: 'once@saml.example' })), first.relayState), 'once@saml.example', mark);
    mark = worker.logs.mark();
    const r = await postAcs(second.b, sign(responseXml({ ...second.ctx, assertionId, email: 'once@saml.example' })), second.relayState);
    assertRefusal(r, { code: 'saml_response_invalid' });
    assertNoSessionSet(r);
    const line = await assertLogged(worker.logs, mark, ACS_LOG);
    // The refusal names what was reused: the assertion (this browser's transaction was fresh).
    assert.match(line, /the assertion ID was used before/, line);
    await me(second.b, origin, 401);
  });

  test('an accepted response replayed into a new transaction of the same browser: InResponseTo refuses it', async () => {
    const { b, ctx, relayState } = await startTransaction();
    const xml = CONTROLS.assertionSigned.build(ctx, 'replay3@saml.example');
    let mark = worker.logs.mark();
    await expectAccepted(b, await postAcs(b, xml, relayState), 'replay3@saml.example', mark);
    const attacker = await startTransaction();
    mark = worker.logs.mark();
    const r = await postAcs(attacker.b, xml, attacker.relayState);
    await expectRefused(attacker.b, r, { status: 400, code: 'saml_response_invalid', rule: /InResponseTo is this browser's request/ }, mark);
  });

  test('RelayState forged (changed): refused (state_mismatch)', async () => {
    const { b, ctx, relayState } = await startTransaction();
    const mark = worker.logs.mark();
    const forged = relayState.slice(0, -2) + (relayState.endsWith('AA') ? 'BB' : 'AA');
    const r = await postAcs(b, CONTROLS.assertionSigned.build(ctx, 'mallory@saml.example'), forged);
    assertRefusal(r, { code: 'state_mismatch' });
    assertNoSessionSet(r);
    await assertLogged(worker.logs, mark, ACS_LOG);
    await me(b, origin, 401);
  });

  test('RelayState missing: refused (state_mismatch)', async () => {
    const { b, ctx } = await startTransaction();
    const mark = worker.logs.mark();
    const r = await postAcs(b, CONTROLS.assertionSigned.build(ctx, 'mallory@saml.example'), null);
    assertRefusal(r, { code: 'state_mismatch' });
    assertNoSessionSet(r);
    await assertLogged(worker.logs, mark, ACS_LOG);
  });

  test('a response for another browser\'s transaction (its RelayState too), posted by this browser: refused (state_mismatch)', async () => {
    const victim = await startTransaction();
    const attacker = await startTransaction();
    const mark = worker.logs.mark();
    const r = await postAcs(victim.b, CONTROLS.assertionSigned.build(attacker.ctx, 'mallory@saml.example'), attacker.relayState);
    assertRefusal(r, { code: 'state_mismatch' });
    assertNoSessionSet(r);
    await assertLogged(worker.logs, mark, ACS_LOG);
    await me(victim.b, origin, 401);
  });

  test('a response for another browser\'s request with this browser\'s RelayState (login CSRF): refused by InResponseTo', async () => {
    const victim = await startTransaction();
    const attacker = await startTransaction();
    const mark = worker.logs.mark();
    const r = await postAcs(victim.b, CONTROLS.assertionSigned.build(attacker.ctx, 'mallory@saml.example'), victim.relayState);
    await expectRefused(victim.b, r, { status: 400, code: 'saml_response_invalid', rule: /InResponseTo is this browser's request/ }, mark);
  });

  test('no transaction cookie at all (an unsolicited POST): refused (login_expired)', async () => {
    const { ctx, relayState } = await startTransaction();
    const stranger = new Browserless();
    const mark = worker.logs.mark();
    const r = await postAcs(stranger, CONTROLS.assertionSigned.build(ctx, 'mallory@saml.example'), relayState);
    assertRefusal(r, { code: 'login_expired' });
    assertNoSessionSet(r);
    await assertLogged(worker.logs, mark, ACS_LOG);
  });

  test('IdP-initiated (no InResponseTo, no RelayState, no transaction): refused while idp_initiated is off', async () => {
    const { ctx } = await startTransaction();
    const stranger = new Browserless();
    const mark = worker.logs.mark();
    const xml = sign(responseXml({ ...ctx, inResponseTo: null, confirmationInResponseTo: null, email: 'mallory@saml.example' }));
    const r = await postAcs(stranger, xml, null);
    assertRefusal(r, { code: 'login_expired' });
    assertNoSessionSet(r);
    const line = await assertLogged(worker.logs, mark, ACS_LOG);
    assert.match(line, /transaction/, line);
    await me(stranger, origin, 401);
  });

  test('IdP-initiated with idp_initiated on: a fresh SP-initiated sign-in at the same IdP, never a session from it', async () => {
    const { ctx } = await startTransaction(new Browserless(), 'mallory@saml-init.example', 'corpinit');
    const stranger = new Browserless();
    const xml = sign(responseXml({ ...ctx, inResponseTo: null, confirmationInResponseTo: null, email: 'mallory@saml-init.example' }));
    const r = await postAcs(stranger, xml, null, 'corpinit');
    assert.equal(r.status, 302, r.describe());
    assert.equal(new URL(r.location).pathname, '/auth/login');
    assert.equal(new URL(r.location).searchParams.get('connector'), 'corpinit');
    assertNoSessionSet(r);
    await me(stranger, origin, 401);
    // Followed, it is an ordinary SP-initiated request to the IdP, with a transaction of its own.
    const next = await stranger.navigate(r.location);
    assert.equal(next.status, 302, next.describe());
    assert.ok(next.location.startsWith(IDP_SSO_URL), next.location);
    assert.ok(new URL(next.location).searchParams.get('SAMLRequest'));
  });

  test('a SAMLResponse that is not base64 XML: refused (saml_response_invalid)', async () => {
    const { b, relayState } = await startTransaction();
    const mark = worker.logs.mark();
    const r = await b.submit(`${origin}/auth/saml/corp/acs`, { SAMLResponse: '%%%not base64%%%', RelayState: relayState }, { from: IDP_ORIGIN });
    assertRefusal(r, { status: 400, code: 'saml_response_invalid' });
    await assertLogged(worker.logs, mark, ACS_LOG);
  });
});

describe('who the response names: the email, read as documented, its domain the connector\'s', () => {
  const PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';

  test('control: a persistent NameID and the common `email` attribute: signed in as that address', async () => {
    const { b, ctx, relayState } = await startTransaction();
    const mark = worker.logs.mark();
    const xml = sign(responseXml({ ...ctx, email: 'u-4711', nameIdFormat: PERSISTENT, attributes: [['email', ['pat@saml.example']]] }));
    await expectAccepted(b, await postAcs(b, xml, relayState), 'pat@saml.example', mark);
  });

  test('a persistent NameID and no email attribute: refused (email_missing)', async () => {
    const { b, ctx, relayState } = await startTransaction();
    const mark = worker.logs.mark();
    const xml = sign(responseXml({ ...ctx, email: 'u-4711', nameIdFormat: PERSISTENT, attributes: [['displayName', ['Pat']]] }));
    const r = await postAcs(b, xml, relayState);
    await expectRefused(b, r, { code: 'email_missing', rule: /email_missing/ }, mark);
  });

  test('an email attribute with two addresses is never guessed from: refused (email_missing)', async () => {
    const { b, ctx, relayState } = await startTransaction();
    const mark = worker.logs.mark();
    const xml = sign(responseXml({ ...ctx, email: 'u-4711', nameIdFormat: PERSISTENT, attributes: [['email', ['alice@saml.example', 'mallory@saml.example']]] }));
    const r = await postAcs(b, xml, relayState);
    await expectRefused(b, r, { code: 'email_missing', rule: /email_missing/ }, mark);
  });

  test('an emailAddress NameID that is not an address: refused (saml_response_invalid)', async () => {
    const { b, ctx, relayState } = await startTransaction();
    const mark = worker.logs.mark();
    const r = await postAcs(b, sign(responseXml({ ...ctx, email: 'not an address' })), relayState);
    await expectRefused(b, r, { status: 400, code: 'saml_response_invalid', rule: /not an email address/ }, mark);
  });

  test('email_attribute: the configured attribute is the email, ahead of the common names', async () => {
    const { b, ctx, relayState } = await startTransaction(new Browserless(), 'x@saml-attr.example', 'corpattr');
    const mark = worker.logs.mark();
    const xml = sign(responseXml({
      ...ctx,
      email: 'u-4711',
      nameIdFormat: PERSISTENT,
      attributes: [['email', ['eve@saml-attr.example']], [MAIL_OID, ['bob@saml-attr.example']]],
    }));
    await expectAccepted(b, await postAcs(b, xml, relayState, 'corpattr'), 'bob@saml-attr.example', mark);
  });

  test('a response signed for the right IdP but posted to another connector\'s ACS: refused (state_mismatch)', async () => {
    // The transaction is corp's; the form is posted to corpattr's ACS (same IdP, same key).
    const { b, ctx, relayState } = await startTransaction();
    const mark = worker.logs.mark();
    const r = await postAcs(b, CONTROLS.assertionSigned.build(ctx, 'mallory@saml.example'), relayState, 'corpattr');
    assertRefusal(r, { code: 'state_mismatch' });
    assertNoSessionSet(r);
    await assertLogged(worker.logs, mark, /edge-auth: POST \/auth\/saml\/corpattr\/acs: /);
    await me(b, origin, 401);
  });

  // The NameID is the session's `sub` (the origin sees `corp:<NameID>`): cut to a prefix, two people whose
  // NameIDs share it would be one user. Kept whole up to 255 bytes (as OIDC's `sub`), refused beyond.
  test('a NameID of 255 bytes is the user id, whole', async () => {
    const { b, ctx, relayState } = await startTransaction();
    const mark = worker.logs.mark();
    const nameId = `u-${'n'.repeat(253)}`;
    const xml = sign(responseXml({ ...ctx, email: nameId, nameIdFormat: PERSISTENT, attributes: [['email', ['long255@saml.example']]] }));
    await expectAccepted(b, await postAcs(b, xml, relayState), 'long255@saml.example', mark);
    assert.equal((await me(b, origin, 200)).sub, `corp:${nameId}`);
  });

  test('a NameID longer than 255 bytes: refused, never cut into a prefix another user shares', async () => {
    const shared = `u-${'n'.repeat(300)}`;
    for (const [who, nameId] of [['alice', `${shared}-alice`], ['bob', `${shared}-bob`]]) {
      const { b, ctx, relayState } = await startTransaction();
      const mark = worker.logs.mark();
      const xml = sign(responseXml({ ...ctx, email: nameId, nameIdFormat: PERSISTENT, attributes: [['email', [`${who}@saml.example`]]] }));
      const r = await postAcs(b, xml, relayState);
      await expectRefused(b, r, { status: 400, code: 'saml_response_invalid', rule: /NameID is longer than 255 bytes/ }, mark);
    }
  });

  // Shibboleth releases eduPersonTargetedID as a NameID inside the AttributeValue (SAML Core §2.7.3.1.1 allows
  // any content): the response must still sign in (by its email), and such a value is never read as text.
  test('an attribute whose value is an element (Shibboleth eduPersonTargetedID): signed in by the email, the value not read', async () => {
    const { b, ctx, relayState } = await startTransaction();
    const mark = worker.logs.mark();
    const targetedId =
      '<saml:Attribute Name="urn:oid:1.3.6.1.4.1.5923.1.1.1.10" FriendlyName="eduPersonTargetedID"><saml:AttributeValue>' +
      `<saml:NameID Format="${PERSISTENT}" NameQualifier="${IDP_ENTITY_ID}">AAdzZWNyZXQx</saml:NameID></saml:AttributeValue></saml:Attribute>`;
    const plain = responseXml({ ...ctx, email: 'shib@saml.example' });
    const xml = sign(plain.replace('<saml:AttributeStatement>', `<saml:AttributeStatement>${targetedId}`));
    assert.ok(xml.includes('eduPersonTargetedID'));
    await expectAccepted(b, await postAcs(b, xml, relayState), 'shib@saml.example', mark);
  });

  test('the email attribute given as an element, not text: never read as the address (email_missing)', async () => {
    const { b, ctx, relayState } = await startTransaction();
    const mark = worker.logs.mark();
    const plain = responseXml({ ...ctx, email: 'u-4711', nameIdFormat: PERSISTENT, attributes: [['email', ['PLACEHOLDER']]] });
    const xml = sign(plain.replace('>PLACEHOLDER<', '><saml:NameID>mallory@saml.example</saml:NameID><'));
    const r = await postAcs(b, xml, relayState);
    await expectRefused(b, r, { code: 'email_missing', rule: /email_missing/ }, mark);
  });

  test('SessionNotOnOrAfter caps the session: its cookie lives no longer than the IdP allows', async () => {
    const { b, ctx, relayState } = await startTransaction();
    const mark = worker.logs.mark();
    const end = new Date(Date.now() + 120_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const plain = responseXml({ ...ctx, email: 'capped@saml.example' });
    const xml = sign(plain.replace('<saml:AuthnStatement ', `<saml:AuthnStatement SessionNotOnOrAfter="${end}" `));
    assert.ok(xml.includes(`SessionNotOnOrAfter="${end}"`));
    const r = await postAcs(b, xml, relayState);
    await expectAccepted(b, r, 'capped@saml.example', mark);
    const maxAge = r.setCookie(SESSION_COOKIE).maxAge;
    assert.ok(maxAge > 0 && maxAge <= 120, `Max-Age ${maxAge}: at most the IdP's two minutes`);
  });

  test('more groups than a session keeps: refused, not truncated', async () => {
    const { b, ctx, relayState } = await startTransaction();
    const mark = worker.logs.mark();
    const groups = Array.from({ length: 101 }, (_, i) => `group-${i}`);
    const xml = sign(responseXml({ ...ctx, email: 'mallory@saml.example', attributes: [['groups', groups]] }));
    const r = await postAcs(b, xml, relayState);
    await expectRefused(b, r, { status: 400, code: 'saml_response_invalid', rule: /more than 100 groups/ }, mark);
  });
});
