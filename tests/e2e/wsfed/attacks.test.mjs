// The WS-Federation reply URL under attack, end to end: the worker built with WS-Federation (build-saml/, the
// SAML build, which includes it) in workerd; the wresults come from the hostile generator
// (tests/support/wsfed-hostile.mjs, signed with npm xml-crypto, an XML-DSig implementation independent of
// edge-auth's). Each refusal is checked for its status, its x-edge-auth-error code AND the worker's log line
// naming the rule that refused it: were that rule removed, another (or none) would answer and the test would
// fail. The controls, built and signed by the same code, are accepted: what the variants change is what is
// refused. WS-Federation has no request ID in the token (no InResponseTo): what binds a token to one sign-in
// is the browser's transaction (wctx + its cookie) and the single use of the assertion ID across the network.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { assertLogged, assertNoSessionSet, assertRefusal, me, SESSION_COOKIE } from '../../support/assert.mjs';
import { Browserless, startWorker } from '../../support/harness.mjs';
import { testKeyPair } from '../../support/saml-idp.mjs';
import { ATTACKER, CONTROLS, envelope, newId, saml11Assertion, signAssertion, VARIANTS, WSFED_INVALID, wresult } from '../../support/wsfed-hostile.mjs';
import { signInParams, WSFED_WORKER_SCRIPT } from '../../support/wsfed-idp.mjs';

const ISSUER = 'http://adfs.wsfed.test/adfs/services/trust';
// Never contacted: the tests read the sign-in request out of the worker's redirect and answer it themselves.
const IDP_SSO_URL = 'http://127.0.0.1:9/adfs/ls/';
const IDP_ORIGIN = 'http://127.0.0.1:9';
const replyLog = (connector = 'corp') => new RegExp(`edge-auth: POST /auth/wsfed/${connector}: `);

let worker;
let origin;

before(async () => {
  const certificates = [testKeyPair('rsa').certificate, testKeyPair('ec').certificate.replace(/-----[^-]+-----|\s/g, '')];
  worker = await startWorker({
    scriptPath: WSFED_WORKER_SCRIPT,
    config: {
      connectors: [
        // PEM and base64 DER, two keys (rollover): the RSA one and the EC one.
        { id: 'corp', kind: 'wsfed', domains: ['wsfed.example'], issuer: ISSUER, sso_url: IDP_SSO_URL, certificates },
        { id: 'corptwo', kind: 'wsfed', domains: ['wsfed-two.example'], issuer: ISSUER, sso_url: IDP_SSO_URL, certificates },
        // A SAML connector of the same IdP: SAML and WS-Fed share the transaction cookie.
        { id: 'samlcorp', kind: 'saml', domains: ['saml-corp.example'], idp_entity_id: ISSUER, idp_sso_url: 'http://127.0.0.1:9/sso', idp_certificates: certificates },
      ],
    },
  });
  origin = worker.url;
}, { timeout: 60_000 });

after(async () => {
  await worker?.dispose();
}, { timeout: 30_000 });

/**
 * A browser starts a sign-in: the worker's redirect to the IdP gives wtrealm, wreply and wctx; the browser's jar
 * holds the transaction cookie. Returns the context the generator needs.
 */
async function startTransaction(b = new Browserless(), email = ATTACKER, connector = 'corp') {
  const start = await b.navigate(`${origin}/auth/login?email=${encodeURIComponent(email)}`);
  assert.equal(start.status, 302, start.describe());
  const p = signInParams(start.location);
  assert.equal(p.url, IDP_SSO_URL, start.describe());
  assert.equal(p.wa, 'wsignin1.0', start.describe());
  assert.equal(p.wtrealm, `${origin}/auth/wsfed/${connector}`, start.describe());
  assert.equal(p.wreply, `${origin}/auth/wsfed/${connector}`, start.describe());
  assert.ok(p.wctx, start.describe());
  return { b, wctx: p.wctx, ctx: { realm: p.wtrealm, replyUrl: p.wreply, issuer: ISSUER } };
}

/** The IdP's auto-submitted form, as the browser posts it (cross-site, from the IdP's origin). */
function postReply(b, xml, wctx, connector = 'corp', { wa = 'wsignin1.0' } = {}) {
  const fields = {};
  if (wa !== null) fields.wa = wa;
  if (xml !== null) fields.wresult = xml;
  if (wctx !== undefined && wctx !== null) fields.wctx = wctx;
  return b.submit(`${origin}/auth/wsfed/${connector}`, fields, { from: IDP_ORIGIN });
}

async function expectAccepted(b, r, email, mark) {
  assert.equal(r.status, 302, `${r.describe()}\nworker log:\n  ${worker.logs.since(mark).join('\n  ')}`);
  assert.ok(r.setCookie(SESSION_COOKIE)?.value, r.describe());
  const session = await me(b, origin, 200);
  assert.equal(session.email, email);
  return session;
}

/** Refused with `expect.code` (and status), a log line for the reply URL naming `expect.rule`, no session. */
async function expectRefused(b, r, expect, mark, connector = 'corp') {
  assertRefusal(r, { status: expect.status, code: expect.code });
  assertNoSessionSet(r);
  const line = await assertLogged(worker.logs, mark, replyLog(connector));
  assert.match(line, expect.rule, `the log line names the rule\n  ${worker.logs.since(mark).join('\n  ')}`);
  await me(b, origin, 401);
}

describe('controls: the generator\'s correctly signed wresults are accepted', () => {
  for (const [name, control] of Object.entries(CONTROLS)) {
    test(`${name}: ${control.what}`, async () => {
      const { b, ctx, wctx } = await startTransaction();
      const email = `control-${name.toLowerCase()}@wsfed.example`;
      const mark = worker.logs.mark();
      const session = await expectAccepted(b, await postReply(b, control.build(ctx, email), wctx), email, mark);
      assert.equal(session.connector, 'corp');
    });
  }
});

describe('hostile wresults are refused, each by its rule', () => {
  for (const [name, variant] of Object.entries(VARIANTS)) {
    test(`${name}: ${variant.what}`, async () => {
      const { b, ctx, wctx } = await startTransaction();
      const mark = worker.logs.mark();
      const r = await postReply(b, variant.build(ctx), wctx);
      await expectRefused(b, r, variant.expect, mark);
    });
  }

  test('a token for one connector (its realm) posted to another connector\'s reply URL with that one\'s transaction: refused by the audience', async () => {
    const corp = await startTransaction();
    const two = await startTransaction(new Browserless(), 'mallory@wsfed-two.example', 'corptwo');
    // Signed for corp's realm, the attacker's address valid at corptwo; no AppliesTo (it would refuse first).
    const xml = wresult(corp.ctx, { email: 'mallory@wsfed-two.example', appliesTo: null });
    const mark = worker.logs.mark();
    const r = await postReply(two.b, xml, two.wctx, 'corptwo');
    await expectRefused(two.b, r, { ...WSFED_INVALID, rule: /every audience restriction names the realm/ }, mark, 'corptwo');
  });
});

describe('the session a token gives', () => {
  test('SAML 2.0 SessionNotOnOrAfter caps the session (exp of /auth/me)', async () => {
    const { b, ctx, wctx } = await startTransaction();
    const cap = Date.now() + 300_000;
    const mark = worker.logs.mark();
    const session = await expectAccepted(b, await postReply(b, wresult(ctx, { saml2: true, email: 'capped@wsfed.example', sessionNotOnOrAfter: cap }), wctx), 'capped@wsfed.example', mark);
    assert.ok(session.exp <= Math.floor(cap / 1000), `exp ${session.exp} is not after SessionNotOnOrAfter ${Math.floor(cap / 1000)}`);
    assert.ok(session.exp > Math.floor(Date.now() / 1000), `exp ${session.exp} is in the future`);
  });

  test('the stable subject: ImmutableID in a hostile-generator token, sub scoped by the connector', async () => {
    const { b, ctx, wctx } = await startTransaction();
    const immutableId = 'hT9xN2fXkUaUeH0bq8Q1mA==';
    const claims = [['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress', ['sub@wsfed.example']], ['http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID', [immutableId]]];
    const mark = worker.logs.mark();
    const session = await expectAccepted(b, await postReply(b, wresult(ctx, { email: 'sub@wsfed.example', claims }), wctx), 'sub@wsfed.example', mark);
    assert.equal(session.sub, `corp:${immutableId}`);
  });
});

describe('the transaction: bound to one browser, one sign-in, one use', () => {
  test('the same accepted wresult posted again by the same browser: refused (login_expired)', async () => {
    const { b, ctx, wctx } = await startTransaction();
    const xml = CONTROLS.saml11.build(ctx, 'replay1@wsfed.example');
    let mark = worker.logs.mark();
    await expectAccepted(b, await postReply(b, xml, wctx), 'replay1@wsfed.example', mark);
    // The same browser (its transaction cookie consumed or cleared by the first POST) posts again: the back button.
    mark = worker.logs.mark();
    const r = await postReply(b, xml, wctx);
    assertRefusal(r, { code: 'login_expired' });
    assertNoSessionSet(r);
    await assertLogged(worker.logs, mark, replyLog());
  });

  test('replay of a transaction cookie: the cookie and the wresult captured before the first POST, posted twice', async () => {
    const { b, ctx, wctx } = await startTransaction();
    const captured = new Browserless();
    for (const c of b.cookiesFor(`${origin}/auth/wsfed/corp`)) captured.setCookie(c.name, c.value, { url: origin, path: c.path });
    const xml = CONTROLS.saml11.build(ctx, 'replay2@wsfed.example');
    let mark = worker.logs.mark();
    await expectAccepted(b, await postReply(b, xml, wctx), 'replay2@wsfed.example', mark);
    mark = worker.logs.mark();
    const r = await postReply(captured, xml, wctx);
    assertRefusal(r, { code: 'login_expired' });
    assertNoSessionSet(r);
    await assertLogged(worker.logs, mark, replyLog());
    await me(captured, origin, 401);
  });

  test('an accepted wresult replayed into a new transaction (another browser, its own wctx): refused, the assertion ID was used', async () => {
    // WS-Federation tokens name no request: only the assertion ID's single use stops a captured token.
    const victim = await startTransaction();
    const xml = CONTROLS.saml11.build(victim.ctx, 'replay3@wsfed.example');
    let mark = worker.logs.mark();
    await expectAccepted(victim.b, await postReply(victim.b, xml, victim.wctx), 'replay3@wsfed.example', mark);
    const attacker = await startTransaction();
    mark = worker.logs.mark();
    const r = await postReply(attacker.b, xml, attacker.wctx);
    await expectRefused(attacker.b, r, { ...WSFED_INVALID, rule: /the assertion ID was used before/ }, mark);
  });

  test('one assertion ID in two wresults (each signed, each for its own transaction): the second refused', async () => {
    const first = await startTransaction();
    const second = await startTransaction();
    const assertionId = newId();
    let mark = worker.logs.mark();
    await expectAccepted(first.b, await postReply(first.b, wresult(first.ctx, { assertionId, email: 'once@wsfed.example' }), first.wctx), 'once@wsfed.example', mark);
    mark = worker.logs.mark();
    const r = await postReply(second.b, wresult(second.ctx, { assertionId, email: 'once@wsfed.example', saml2: true }), second.wctx);
    await expectRefused(second.b, r, { ...WSFED_INVALID, rule: /the assertion ID was used before/ }, mark);
  });

  test('wctx forged (changed): refused (state_mismatch)', async () => {
    const { b, ctx, wctx } = await startTransaction();
    const mark = worker.logs.mark();
    const forged = wctx.slice(0, -2) + (wctx.endsWith('AA') ? 'BB' : 'AA');
    const r = await postReply(b, CONTROLS.saml11.build(ctx, ATTACKER), forged);
    assertRefusal(r, { code: 'state_mismatch' });
    assertNoSessionSet(r);
    await assertLogged(worker.logs, mark, replyLog());
    await me(b, origin, 401);
  });

  test('wctx missing: refused (state_mismatch)', async () => {
    const { b, ctx } = await startTransaction();
    const mark = worker.logs.mark();
    const r = await postReply(b, CONTROLS.saml11.build(ctx, ATTACKER), null);
    assertRefusal(r, { code: 'state_mismatch' });
    assertNoSessionSet(r);
    await assertLogged(worker.logs, mark, replyLog());
    await me(b, origin, 401);
  });

  test('login CSRF: the attacker\'s token and wctx (its own transaction) posted by the victim\'s browser (which has a transaction): refused (state_mismatch)', async () => {
    const victim = await startTransaction();
    const attacker = await startTransaction();
    const mark = worker.logs.mark();
    const r = await postReply(victim.b, CONTROLS.saml11.build(attacker.ctx, ATTACKER), attacker.wctx);
    assertRefusal(r, { code: 'state_mismatch' });
    assertNoSessionSet(r);
    await assertLogged(worker.logs, mark, replyLog());
    await me(victim.b, origin, 401);
  });

  test('a transaction of one WS-Fed connector answered at another\'s reply URL (its wctx, a token for the other realm): refused (state_mismatch)', async () => {
    const { b, wctx } = await startTransaction();
    const realm = `${origin}/auth/wsfed/corptwo`;
    const xml = wresult({ realm, replyUrl: realm, issuer: ISSUER }, { email: 'mallory@wsfed-two.example' });
    const mark = worker.logs.mark();
    const r = await postReply(b, xml, wctx, 'corptwo');
    assertRefusal(r, { code: 'state_mismatch' });
    assertNoSessionSet(r);
    await assertLogged(worker.logs, mark, replyLog('corptwo'));
    await me(b, origin, 401);
  });

  test('a SAML sign-in\'s transaction (its RelayState as wctx) answered at a WS-Fed reply URL: refused (state_mismatch)', async () => {
    const b = new Browserless();
    const start = await b.navigate(`${origin}/auth/login?email=mallory@saml-corp.example`);
    assert.equal(start.status, 302, start.describe());
    const relayState = new URL(start.location).searchParams.get('RelayState');
    assert.ok(relayState, start.describe());
    const realm = `${origin}/auth/wsfed/corp`;
    const mark = worker.logs.mark();
    const r = await postReply(b, CONTROLS.saml11.build({ realm, replyUrl: realm, issuer: ISSUER }, ATTACKER), relayState);
    assertRefusal(r, { code: 'state_mismatch' });
    assertNoSessionSet(r);
    await assertLogged(worker.logs, mark, replyLog());
    await me(b, origin, 401);
  });

  test('no transaction cookie at all (an unsolicited, IdP-initiated POST): refused (login_expired)', async () => {
    const { ctx, wctx } = await startTransaction();
    const stranger = new Browserless();
    const mark = worker.logs.mark();
    const r = await postReply(stranger, CONTROLS.saml11.build(ctx, ATTACKER), wctx);
    assertRefusal(r, { code: 'login_expired' });
    assertNoSessionSet(r);
    await assertLogged(worker.logs, mark, replyLog());
    await me(stranger, origin, 401);
  });
});

describe('the form itself', () => {
  test('no wresult: refused, no session', async () => {
    const { b, wctx } = await startTransaction();
    const mark = worker.logs.mark();
    const r = await postReply(b, null, wctx);
    await expectRefused(b, r, { ...WSFED_INVALID, rule: /no wresult in the form/ }, mark);
  });

  for (const wa of ['wsignout1.0', 'wsignoutcleanup1.0', null]) {
    test(`wa ${wa ?? 'missing'} (not wsignin1.0) with a valid token: refused, no session`, async () => {
      const { b, ctx, wctx } = await startTransaction();
      const mark = worker.logs.mark();
      const r = await postReply(b, CONTROLS.saml11.build(ctx, ATTACKER), wctx, 'corp', { wa });
      await expectRefused(b, r, { ...WSFED_INVALID, rule: /the form's wa is not wsignin1\.0/ }, mark);
    });
  }

  test('a wresult that is not XML, and one that is not a RequestSecurityTokenResponse: refused (400), no session', async () => {
    for (const xml of ['not xml at all', saml11Assertion({ realm: 'x', replyUrl: 'x', issuer: ISSUER }), envelope(signAssertion(saml11Assertion({ realm: 'x', replyUrl: 'x', issuer: ISSUER })), { realm: 'x' }).replace(/RequestSecurityTokenResponse/g, 'RequestSecurityToken')]) {
      const { b, wctx } = await startTransaction();
      const mark = worker.logs.mark();
      const r = await postReply(b, xml, wctx);
      assertRefusal(r, WSFED_INVALID);
      assertNoSessionSet(r);
      await assertLogged(worker.logs, mark, replyLog());
    }
  });

  for (const field of ['wresult', 'wctx', 'wa']) {
    test(`${field} given twice: refused (${WSFED_INVALID.code}), no session`, async () => {
      const { b, ctx, wctx } = await startTransaction();
      const fields = [['wa', 'wsignin1.0'], ['wresult', CONTROLS.saml11.build(ctx, ATTACKER)], ['wctx', wctx]];
      const twice = fields.find(([k]) => k === field);
      const body = new URLSearchParams([...fields, twice]).toString();
      const mark = worker.logs.mark();
      const r = await b.request(`${origin}/auth/wsfed/corp`, { method: 'POST', navigate: true, body, headers: { 'content-type': 'application/x-www-form-urlencoded', origin: IDP_ORIGIN } });
      assertRefusal(r, WSFED_INVALID);
      assertNoSessionSet(r);
      const line = await assertLogged(worker.logs, mark, replyLog());
      assert.match(line, new RegExp(`the form has ${field} more than once`), line);
      await me(b, origin, 401);
    });
  }

  test('a wresult larger than the XML core reads (300 KiB, under the form cap): refused before parsing, no session', async () => {
    const { b, ctx, wctx } = await startTransaction();
    const big = CONTROLS.saml11.build(ctx, ATTACKER).replace('</t:RequestSecurityTokenResponse>', `<!--${'x'.repeat(300 * 1024)}--></t:RequestSecurityTokenResponse>`);
    const mark = worker.logs.mark();
    const r = await postReply(b, big, wctx);
    assertRefusal(r, WSFED_INVALID);
    assertNoSessionSet(r);
    const line = await assertLogged(worker.logs, mark, replyLog());
    assert.match(line, /larger than edge-auth reads/, line);
  });

  test('a form over the cap (1 MiB): 413 before it is read, no session', async () => {
    const { b, wctx } = await startTransaction();
    const r = await postReply(b, 'x'.repeat(1024 * 1024), wctx);
    assertRefusal(r, { code: 'payload_too_large' });
    assertNoSessionSet(r);
    await me(b, origin, 401);
  });

  test('a SAML protocol Response (SAMLResponse XML) as the wresult: refused, it is not a RequestSecurityTokenResponse', async () => {
    const { b, wctx } = await startTransaction();
    const xml = `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="${newId()}" Version="2.0" IssueInstant="2026-12-02T10:00:00Z">${signAssertion(saml11Assertion({ realm: `${origin}/auth/wsfed/corp`, replyUrl: `${origin}/auth/wsfed/corp`, issuer: ISSUER }))}</samlp:Response>`;
    const mark = worker.logs.mark();
    const r = await postReply(b, xml, wctx);
    assertRefusal(r, WSFED_INVALID);
    assertNoSessionSet(r);
    const line = await assertLogged(worker.logs, mark, replyLog());
    assert.match(line, /the wresult is a RequestSecurityTokenResponse/, line);
  });

  test('a wresult in a GET query (wa=wsignin1.0) is never a sign-in: 404, no session', async () => {
    const { b, ctx, wctx } = await startTransaction();
    const u = new URL(`${origin}/auth/wsfed/corp`);
    u.searchParams.set('wa', 'wsignin1.0');
    u.searchParams.set('wresult', CONTROLS.saml11.build(ctx, ATTACKER));
    u.searchParams.set('wctx', wctx);
    const r = await b.navigate(u.href);
    assert.equal(r.status, 404, r.describe());
    assertNoSessionSet(r);
    await me(b, origin, 401);
  });

  test('an unknown connector\'s reply URL: 404', async () => {
    const { b, ctx, wctx } = await startTransaction();
    const r = await postReply(b, CONTROLS.saml11.build(ctx, ATTACKER), wctx, 'nobody');
    assert.equal(r.status, 404, r.describe());
    assertNoSessionSet(r);
  });
});

describe('one token, two copies of the worker (isolates sharing their Durable Objects)', () => {
  // A configured realm: the same token is valid at both copies (the default realm names each copy's origin).
  const REALM = 'urn:edge-auth:tests:wsfed-replay';
  let pair;
  before(async () => {
    pair = await startWorker({
      scriptPath: WSFED_WORKER_SCRIPT,
      isolates: 2,
      config: { connectors: [{ id: 'corp', kind: 'wsfed', domains: ['wsfed.example'], issuer: ISSUER, sso_url: IDP_SSO_URL, certificates: [testKeyPair('rsa').certificate], realm: REALM }] },
    });
  }, { timeout: 60_000 });
  after(async () => {
    await pair?.dispose();
  });

  async function transactionAt(site) {
    const b = new Browserless();
    const start = await b.navigate(`${site}/auth/login?email=${encodeURIComponent(ATTACKER)}`);
    assert.equal(start.status, 302, start.describe());
    const p = signInParams(start.location);
    assert.equal(p.wtrealm, REALM);
    return { b, site, wctx: p.wctx };
  }

  test('the same wresult posted at once to both copies, each with its own browser\'s transaction: exactly one session', async () => {
    const [one, two] = await Promise.all(pair.isolates.map(({ url }) => transactionAt(url)));
    const xml = wresult({ realm: REALM, replyUrl: `${one.site}/auth/wsfed/corp`, issuer: ISSUER }, { email: 'race@wsfed.example' });
    const answers = await Promise.all([one, two].map((t) => t.b.submit(`${t.site}/auth/wsfed/corp`, { wa: 'wsignin1.0', wresult: xml, wctx: t.wctx }, { from: IDP_ORIGIN })));
    const accepted = answers.filter((r) => r.status === 302 && r.setCookie(SESSION_COOKIE)?.value);
    assert.equal(accepted.length, 1, answers.map((r) => r.describe()).join('\n\n'));
    const refused = answers.find((r) => !accepted.includes(r));
    assertRefusal(refused, WSFED_INVALID);
    assertNoSessionSet(refused);
    const line = await assertLogged(pair.logs, 0, /the assertion ID was used before/);
    assert.match(line, replyLog());
  });
});
