// WS-Federation passive sign-in and sign-out end to end: the worker built with WS-Federation (build-saml/, the
// SAML build, which includes it) in workerd, against a real WS-Federation IdP (npm `wsfed`, auth0's middleware,
// tests/support/wsfed-idp.mjs) that reads the worker's wsignin1.0 request and signs its token with its own
// XML-DSig code (SAML 1.1 as AD FS sends by default; SAML 2.0 as Entra's SAML 2.0 token type). Connectors:
// `corp` configured inline (issuer, sso_url, certificate), `corpmd` by the IdP's federation metadata URL,
// `corprealm` with its own `realm`, `corpupn` with `email_claim` = the UPN.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { DOMParser } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';

import { assertLogged, assertNoSessionSet, assertRefusal, me, SESSION_COOKIE } from '../../support/assert.mjs';
import { Browserless, SESSION_COOKIE_HTTPS, startWorker } from '../../support/harness.mjs';
import { testKeyPair } from '../../support/saml-idp.mjs';
import { selfSignedCert } from '../../support/tls.mjs';
import { WSFED_INVALID } from '../../support/wsfed-hostile.mjs';
import { CLAIM, newObjectGuid, signInParams, startWsFedIdp, WSFED_WORKER_SCRIPT, wsfedIdpSignOut, wsfedLogin } from '../../support/wsfed-idp.mjs';

const CUSTOM_REALM = 'urn:edge-auth:tests:wsfed';
const replyLog = (connector) => new RegExp(`edge-auth: POST /auth/wsfed/${connector}: `);

let idp;
let worker;
let origin;

before(async () => {
  idp = await startWsFedIdp();
  const inline = { issuer: idp.issuer, sso_url: idp.ssoUrl };
  worker = await startWorker({
    scriptPath: WSFED_WORKER_SCRIPT,
    config: {
      connectors: [
        { id: 'corp', kind: 'wsfed', domains: ['wsfed.example'], ...inline, certificates: [idp.certificatePem] },
        { id: 'corpmd', kind: 'wsfed', domains: ['wsfed-md.example'], metadata_url: idp.metadataUrl },
        { id: 'corprealm', kind: 'wsfed', domains: ['wsfed-realm.example'], ...inline, certificates: [idp.certificateBase64], realm: CUSTOM_REALM },
        { id: 'corpupn', kind: 'wsfed', domains: ['wsfed-upn.example'], ...inline, certificates: [idp.certificatePem], email_claim: CLAIM.upn },
      ],
      // Group grants are scoped to connectors: corp's "Finance", corp's "Auditors".
      policies: [
        { path: '/app.js', groups: ['corp:Finance', 'corp:Auditors'] },
      ],
    },
  });
  origin = worker.url;
  // The IdP trusts each relying party (as an AD FS operator registers a relying party trust: realm, reply URL).
  for (const id of ['corp', 'corpmd', 'corpupn']) idp.trustRp({ realm: `${origin}/auth/wsfed/${id}`, replyUrl: `${origin}/auth/wsfed/${id}` });
  idp.trustRp({ realm: CUSTOM_REALM, replyUrl: `${origin}/auth/wsfed/corprealm` });
}, { timeout: 60_000 });

after(async () => {
  await worker?.dispose();
  await idp?.close();
}, { timeout: 30_000 });

/** The transaction cookie of a sign-in redirect: the one SameSite=None cookie it sets (its name is the worker's). */
function transactionCookie(r) {
  const none = r.setCookies.filter((c) => String(c.sameSite).toLowerCase() === 'none' && c.value);
  assert.equal(none.length, 1, `one SameSite=None transaction cookie\n${r.describe()}`);
  return none[0];
}

describe('the test IdP (npm wsfed) itself', () => {
  test('federation metadata: EntityDescriptor(issuer), RoleDescriptor fed:SecurityTokenServiceType, signing KeyDescriptor, PassiveRequestorEndpoint', async () => {
    const r = await fetch(idp.metadataUrl);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') || '', /xml/);
    const xml = await r.text();
    const errors = [];
    const doc = new DOMParser({ onError: (level, msg) => errors.push(`${level}: ${msg}`) }).parseFromString(xml, 'text/xml');
    assert.deepEqual(errors, [], 'well-formed XML');
    const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
    const FED = 'http://docs.oasis-open.org/wsfed/federation/200706';
    const root = doc.documentElement;
    assert.equal(root.namespaceURI, MD);
    assert.equal(root.localName, 'EntityDescriptor');
    assert.equal(root.getAttribute('entityID'), idp.issuer);
    const roles = Array.from(root.getElementsByTagNameNS(MD, 'RoleDescriptor'));
    assert.equal(roles.length, 1);
    const role = roles[0];
    const type = role.getAttributeNS('http://www.w3.org/2001/XMLSchema-instance', 'type');
    const [prefix, local] = type.split(':');
    assert.equal(local, 'SecurityTokenServiceType');
    assert.equal(role.lookupNamespaceURI(prefix), FED);
    const keys = Array.from(role.getElementsByTagNameNS(MD, 'KeyDescriptor'));
    assert.equal(keys.length, 1);
    assert.equal(keys[0].getAttribute('use'), 'signing');
    const certs = Array.from(keys[0].getElementsByTagNameNS('http://www.w3.org/2000/09/xmldsig#', 'X509Certificate'));
    assert.equal(certs.map((c) => c.textContent.replace(/\s+/g, '')).join(), idp.certificateBase64);
    const passive = Array.from(role.getElementsByTagNameNS(FED, 'PassiveRequestorEndpoint'));
    assert.equal(passive.length, 1);
    const address = Array.from(passive[0].getElementsByTagNameNS('http://www.w3.org/2005/08/addressing', 'Address'));
    assert.equal(address.map((a) => a.textContent.trim()).join(), idp.ssoUrl);
  });

  for (const token of ['saml11', 'saml2']) {
    test(`its ${token} wresult verifies with xml-crypto against the IdP's certificate and names the realm, the user, the claims`, async () => {
      const b = new Browserless();
      const immutableId = newObjectGuid();
      const { reply } = await wsfedLogin(b, { worker: origin, email: 'check@wsfed.example', token, user: { immutableId, groups: ['g1', 'g2'] }, stopBeforeReply: true });
      assert.equal(reply.action, `${origin}/auth/wsfed/corp`);
      assert.equal(reply.fields.wa, 'wsignin1.0');
      const xml = reply.fields.wresult;
      const doc = new DOMParser().parseFromString(xml, 'text/xml');
      assert.equal(doc.documentElement.localName, 'RequestSecurityTokenResponse');
      assert.equal(doc.documentElement.namespaceURI, 'http://schemas.xmlsoap.org/ws/2005/02/trust');
      const ns = token === 'saml11' ? 'urn:oasis:names:tc:SAML:1.0:assertion' : 'urn:oasis:names:tc:SAML:2.0:assertion';
      const assertions = Array.from(doc.getElementsByTagNameNS(ns, 'Assertion'));
      assert.equal(assertions.length, 1, xml);
      const signatures = Array.from(doc.getElementsByTagNameNS('http://www.w3.org/2000/09/xmldsig#', 'Signature'));
      assert.equal(signatures.length, 1, xml);
      const verifier = new SignedXml({ publicCert: idp.certificatePem, ...(token === 'saml11' ? { idAttribute: 'AssertionID' } : {}), getCertFromKeyInfo: () => null });
      verifier.loadSignature(signatures[0]);
      assert.equal(verifier.checkSignature(xml), true, 'the signature verifies');
      assert.equal(verifier.getSignedReferences().length, 1);
      assert.match(xml, token === 'saml11' ? /MajorVersion="1" MinorVersion="1"/ : /Version="2\.0"/);
      assert.ok(xml.includes(`>${origin}/auth/wsfed/corp</saml:Audience>`), `audience = realm\n${xml}`);
      assert.ok(xml.includes('check@wsfed.example'), xml);
      assert.ok(xml.includes(immutableId), xml);
      if (token === 'saml11') {
        // SAML 1.1 claims: AttributeNamespace + AttributeName (either order of the attributes).
        assert.match(xml, /<saml:Attribute (?=[^>]*AttributeName="ImmutableID")(?=[^>]*AttributeNamespace="http:\/\/schemas\.microsoft\.com\/LiveID\/Federation\/2008\/05")/);
      } else {
        assert.match(xml, /Name="http:\/\/schemas\.microsoft\.com\/LiveID\/Federation\/2008\/05\/ImmutableID"/);
      }
      // The signature is not made by another key.
      const other = new SignedXml({ publicCert: testKeyPair('other').certificate, ...(token === 'saml11' ? { idAttribute: 'AssertionID' } : {}), getCertFromKeyInfo: () => null });
      other.loadSignature(signatures[0]);
      assert.throws(() => other.checkSignature(xml));
    });
  }
});

describe('sign-in (wsignin1.0) against npm wsfed', () => {
  test('/auth/login for a WS-Fed domain: 302 to sso_url with wa, wtrealm, an opaque wctx, wreply; a SameSite=None transaction cookie', async () => {
    const b = new Browserless();
    const before = idp.requests.length;
    const start = await b.navigate(`${origin}/auth/login?email=alice@wsfed.example&return_to=${encodeURIComponent('/private/page?x=1')}`);
    assert.equal(start.status, 302, start.describe());
    const p = signInParams(start.location);
    assert.equal(p.url, idp.ssoUrl, 'redirected to the IdP passive endpoint');
    assert.equal(p.wa, 'wsignin1.0');
    assert.equal(p.wtrealm, `${origin}/auth/wsfed/corp`, 'the default realm');
    assert.equal(p.wreply, `${origin}/auth/wsfed/corp`);
    assert.ok(p.wctx, 'wctx');
    assert.ok(!/private|page|\//.test(p.wctx), `wctx is an opaque handle, not the return_to: ${p.wctx}`);
    const tx = transactionCookie(start);
    assert.ok(tx.httpOnly, tx.raw);
    assert.equal(tx.path, '/', tx.raw);
    assertNoSessionSet(start);

    // The real IdP accepts the request: a trusted realm, its reply URL.
    const page = await b.navigate(start.location);
    assert.equal(page.status, 200, `the IdP refused the request\n${page.describe(2000)}`);
    assert.equal(idp.requests.length, before + 1);
    assert.equal(idp.requests.at(-1).wctx, p.wctx);
  });

  test('two sign-ins get two wctx', async () => {
    const wctx = [];
    for (let i = 0; i < 2; i++) {
      const r = await new Browserless().navigate(`${origin}/auth/login?email=alice@wsfed.example`);
      wctx.push(signInParams(r.location).wctx);
    }
    assert.notEqual(wctx[0], wctx[1]);
  });

  test('SAML 1.1 token (AD FS): login -> IdP -> reply URL -> session; /auth/me: sub = the ImmutableID, email, connector', async () => {
    const b = new Browserless();
    const immutableId = newObjectGuid();
    const mark = worker.logs.mark();
    const { response, reply } = await wsfedLogin(b, { worker: origin, email: 'alice@wsfed.example', token: 'saml11', user: { name: 'Alice Liddell', immutableId, upn: 'alice@corp.wsfed.example' } });
    assert.match(reply.fields.wresult, /urn:oasis:names:tc:SAML:1\.0:assertion/);
    assert.equal(response.status, 302, `reply URL\n${response.describe()}\nworker log:\n  ${worker.logs.since(mark).join('\n  ')}`);
    const loc = new URL(response.location, origin);
    assert.equal(loc.origin, origin);
    assert.equal(loc.pathname, '/', 'default return_to');
    assert.ok(response.setCookie(SESSION_COOKIE)?.value, `a session cookie\n${response.describe()}`);
    const session = await me(b, origin, 200);
    assert.equal(session.email, 'alice@wsfed.example');
    assert.equal(session.connector, 'corp');
    assert.equal(session.sub, `corp:${immutableId}`, 'the stable subject: the ImmutableID claim');
    assert.equal(session.iss, idp.issuer);
    assert.equal(session.name, 'Alice Liddell', 'the name claim');
    const home = await b.navigate(`${origin}/`);
    assert.equal(home.status, 200, home.describe());
  });

  test('SAML 2.0 token (Entra): session; sub = the objectidentifier claim when there is no ImmutableID', async () => {
    const b = new Browserless();
    const objectId = crypto.randomUUID();
    const { response, reply } = await wsfedLogin(b, { worker: origin, email: 'bob@wsfed.example', token: 'saml2', user: { objectId } });
    assert.match(reply.fields.wresult, /urn:oasis:names:tc:SAML:2\.0:assertion/);
    assert.equal(response.status, 302, response.describe());
    const session = await me(b, origin, 200);
    assert.equal(session.email, 'bob@wsfed.example');
    assert.equal(session.connector, 'corp');
    assert.equal(session.sub, `corp:${objectId}`);
  });

  test('ImmutableID first: with both an ImmutableID and an objectidentifier, sub is the ImmutableID (SAML 2.0)', async () => {
    const b = new Browserless();
    const immutableId = newObjectGuid();
    const { response } = await wsfedLogin(b, { worker: origin, email: 'bea@wsfed.example', token: 'saml2', user: { immutableId, objectId: crypto.randomUUID() } });
    assert.equal(response.status, 302, response.describe());
    assert.equal((await me(b, origin, 200)).sub, `corp:${immutableId}`);
  });

  test('no stable-identifier claim: sub is the NameIdentifier', async () => {
    const b = new Browserless();
    const { response } = await wsfedLogin(b, { worker: origin, email: 'carl@wsfed.example', user: { nameIdentifier: 'CORP\\carl', nameIdentifierFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:WindowsDomainQualifiedName' } });
    assert.equal(response.status, 302, response.describe());
    const session = await me(b, origin, 200);
    assert.equal(session.email, 'carl@wsfed.example');
    assert.equal(session.sub, 'corp:CORP\\carl');
  });

  test('no emailaddress claim: the UPN, when it is an address, is the email', async () => {
    const b = new Browserless();
    const { response } = await wsfedLogin(b, { worker: origin, email: 'dora@wsfed.example', user: { email: '-', upn: 'dora@wsfed.example', nameIdentifier: 'dora', nameIdentifierFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified' } });
    assert.equal(response.status, 302, response.describe());
    assert.equal((await me(b, origin, 200)).email, 'dora@wsfed.example');
  });

  test('groups reach the policies: AD FS\'s Group claim and its role claim (SAML 1.1), Entra-style groups (SAML 2.0); grants are per connector', async () => {
    // `groups`: what /auth/me says — the policies' groups of this connector only, never the IdP's whole list.
    const cases = [
      { email: 'fin@wsfed.example', token: 'saml11', user: { groups: ['Domain Users', 'Finance'] }, status: 200, groups: ['Finance'] },
      { email: 'aud@wsfed.example', token: 'saml11', user: { roles: ['Auditors'] }, status: 200, groups: ['Auditors'] },
      { email: 'fin2@wsfed.example', token: 'saml2', user: { groups: ['Finance'] }, status: 200, groups: ['Finance'] },
      { email: 'nogroup@wsfed.example', token: 'saml11', user: { groups: ['Domain Users'] }, status: 403, groups: [] },
      // The same group name asserted through another connector grants nothing.
      { email: 'fin@wsfed-upn.example', token: 'saml11', user: { upn: 'fin@wsfed-upn.example', groups: ['Finance'] }, status: 403, groups: [] },
    ];
    for (const c of cases) {
      const b = new Browserless();
      const { response } = await wsfedLogin(b, { worker: origin, email: c.email, token: c.token, user: c.user });
      assert.equal(response.status, 302, response.describe());
      const r = await b.navigate(`${origin}/app.js`);
      assert.equal(r.status, c.status, `${c.email} ${JSON.stringify(c.user)}\n${r.describe()}`);
      assert.deepEqual((await me(b, origin, 200)).groups, c.groups, c.email);
    }
  });

  test('return_to is kept through the IdP', async () => {
    const b = new Browserless();
    const { response } = await wsfedLogin(b, { worker: origin, email: 'erin@wsfed.example', returnTo: '/docs/page?x=1#frag' });
    assert.equal(response.status, 302, response.describe());
    const loc = new URL(response.location, origin);
    assert.equal(`${loc.pathname}${loc.search}`, '/docs/page?x=1');
    assert.equal((await me(b, origin, 200)).email, 'erin@wsfed.example');
  });

  test('connector configured by metadata_url: the worker fetches the federation metadata and signs in', async () => {
    const b = new Browserless();
    const fetches = idp.metadataFetches;
    const { response, ssoUrl } = await wsfedLogin(b, { worker: origin, email: 'fred@wsfed-md.example' });
    const p = signInParams(ssoUrl);
    assert.equal(p.url, idp.ssoUrl, 'the passive endpoint came from the metadata');
    assert.equal(p.wtrealm, `${origin}/auth/wsfed/corpmd`);
    assert.ok(idp.metadataFetches > 0 || fetches > 0, 'the worker fetched the metadata');
    assert.equal(response.status, 302, response.describe());
    const session = await me(b, origin, 200);
    assert.equal(session.email, 'fred@wsfed-md.example');
    assert.equal(session.connector, 'corpmd');
    assert.equal(session.iss, idp.issuer, 'the issuer is the metadata\'s entityID');
  });

  test('connector configured by metadata_url, SAML 2.0 token', async () => {
    const b = new Browserless();
    const { response } = await wsfedLogin(b, { worker: origin, email: 'gina@wsfed-md.example', token: 'saml2' });
    assert.equal(response.status, 302, response.describe());
    assert.equal((await me(b, origin, 200)).connector, 'corpmd');
  });

  test('a configured realm is the wtrealm and the audience the token must name', async () => {
    const b = new Browserless();
    const { response, ssoUrl } = await wsfedLogin(b, { worker: origin, email: 'hana@wsfed-realm.example' });
    const p = signInParams(ssoUrl);
    assert.equal(p.wtrealm, CUSTOM_REALM);
    assert.equal(p.wreply, `${origin}/auth/wsfed/corprealm`);
    assert.equal(response.status, 302, response.describe());
    assert.equal((await me(b, origin, 200)).connector, 'corprealm');
  });

  test('email_claim: the address is read from that claim only (here the UPN, the emailaddress claim says otherwise)', async () => {
    const b = new Browserless();
    const { response } = await wsfedLogin(b, { worker: origin, email: 'ivan@wsfed-upn.example', user: { email: 'ivan.personal@other.example', upn: 'ivan@wsfed-upn.example' } });
    assert.equal(response.status, 302, response.describe());
    assert.equal((await me(b, origin, 200)).email, 'ivan@wsfed-upn.example');
  });

  test('the IdP asserts an address of a domain this connector does not own: refused (email_domain_mismatch)', async () => {
    const b = new Browserless();
    const mark = worker.logs.mark();
    const { response } = await wsfedLogin(b, { worker: origin, email: 'alice@wsfed.example', user: { email: 'eve@other.example' } });
    assertRefusal(response, { code: 'email_domain_mismatch' });
    assertNoSessionSet(response);
    const line = await assertLogged(worker.logs, mark, replyLog('corp'));
    assert.match(line, /other\.example/, line);
    await me(b, origin, 401);
  });

  test('an address of another WS-Fed connector\'s domain is refused too (domains are per connector)', async () => {
    const b = new Browserless();
    const mark = worker.logs.mark();
    const { response } = await wsfedLogin(b, { worker: origin, email: 'alice@wsfed.example', token: 'saml2', user: { email: 'fred@wsfed-md.example' } });
    assertRefusal(response, { code: 'email_domain_mismatch' });
    assertNoSessionSet(response);
    await assertLogged(worker.logs, mark, replyLog('corp'));
    await me(b, origin, 401);
  });

  test('the IdP\'s own form posted twice (the back button): the second POST refused, the first session kept', async () => {
    const b = new Browserless();
    const { response, reply } = await wsfedLogin(b, { worker: origin, email: 'jack@wsfed.example' });
    assert.equal(response.status, 302, response.describe());
    const mark = worker.logs.mark();
    const again = await b.submit(reply.action, reply.fields, { from: idp.url });
    assertRefusal(again, { code: 'login_expired' });
    assertNoSessionSet(again);
    await assertLogged(worker.logs, mark, replyLog('corp'));
    assert.equal((await me(b, origin, 200)).email, 'jack@wsfed.example');
  });

  test('the IdP\'s wresult captured and replayed in another browser\'s sign-in: refused (the assertion ID was used)', async () => {
    const victim = new Browserless();
    const { response, reply } = await wsfedLogin(victim, { worker: origin, email: 'kate@wsfed.example' });
    assert.equal(response.status, 302, response.describe());
    const attacker = new Browserless();
    const start = await attacker.navigate(`${origin}/auth/login?email=mallory@wsfed.example`);
    const { wctx } = signInParams(start.location);
    const mark = worker.logs.mark();
    const r = await attacker.submit(reply.action, { ...reply.fields, wctx }, { from: idp.url });
    assertRefusal(r, WSFED_INVALID);
    assertNoSessionSet(r);
    const line = await assertLogged(worker.logs, mark, replyLog('corp'));
    assert.match(line, /the assertion ID was used before/, line);
    await me(attacker, origin, 401);
  });
});

describe('sign-out (wsignout1.0, wsignoutcleanup1.0)', () => {
  /** A signed-in browser, its session cookie's value and /auth/me. */
  async function signIn(email, token) {
    const b = new Browserless();
    const { response } = await wsfedLogin(b, { worker: origin, email, token });
    assert.equal(response.status, 302, response.describe());
    const cookie = b.getCookie(SESSION_COOKIE, origin);
    assert.ok(cookie);
    return { b, cookie, session: await me(b, origin, 200) };
  }
  /** /auth/me with exactly this session cookie (a copy of it, in another browser). */
  async function meWith(cookie, status) {
    const copy = new Browserless();
    copy.setCookie(SESSION_COOKIE, cookie, { url: origin });
    return me(copy, origin, status);
  }

  test('POST /auth/logout: the session ends and the browser continues to the IdP with wa=wsignout1.0; the IdP\'s cleanup call answers 200', async () => {
    const alice = await signIn('lena@wsfed.example');
    const bob = await signIn('max@wsfed.example');
    const r = await alice.b.submit(`${origin}/auth/logout`, {}, { from: `${origin}/` });
    assert.equal(r.status, 302, r.describe());
    const to = new URL(r.location);
    assert.equal(`${to.origin}${to.pathname}`, idp.ssoUrl, `continues at the IdP\n${r.describe()}`);
    assert.equal(to.searchParams.get('wa'), 'wsignout1.0');
    const wreply = to.searchParams.get('wreply');
    assert.ok(wreply, `wreply\n${r.describe()}`);
    assert.equal(wreply, `${origin}/auth/signed-out`, 'back to this site\'s signed-out page after the IdP');
    assert.equal(to.searchParams.get('wtrealm'), `${origin}/auth/wsfed/corp`);
    assertNoSessionSet(r);
    assert.equal(r.setCookie(SESSION_COOKIE)?.value ?? '', '', `the session cookie is cleared\n${r.describe()}`);
    await me(alice.b, origin, 401);
    await meWith(alice.cookie, 401);

    // The IdP signs its session out and calls every relying party's cleanup (here: this one).
    const before = idp.signouts.length;
    const { cleanup, back } = await wsfedIdpSignOut(alice.b, r.location);
    assert.equal(idp.signouts.length, before + 1);
    assert.deepEqual(idp.signouts.at(-1).cleanup, [`${origin}/auth/wsfed/corp?wa=wsignoutcleanup1.0`]);
    assert.equal(cleanup.length, 1);
    assert.equal(cleanup[0].status, 200, cleanup[0].describe());
    assert.equal(back, wreply, 'the IdP offers the way back to wreply');
    // Only that session ended.
    assert.equal((await meWith(bob.cookie, 200)).email, 'max@wsfed.example');
  });

  test('signing out at the IdP (another application\'s sign-out): the cleanup <img> ends the edge session, and only it', async () => {
    const nina = await signIn('nina@wsfed.example', 'saml2');
    const otto = await signIn('otto@wsfed.example');
    const { cleanup } = await wsfedIdpSignOut(nina.b, `${idp.ssoUrl}?wa=wsignout1.0`);
    assert.equal(cleanup.length, 1, 'the IdP knew this relying party');
    const r = cleanup[0];
    assert.equal(r.status, 200, r.describe());
    assert.match(r.headers.get('content-type') || '', /^(image\/|text\/html)/, r.describe());
    assert.match(r.headers.get('cache-control') || '', /no-store/, r.describe());
    // Embeddable by the IdP's sign-out page.
    assert.notEqual((r.headers.get('x-frame-options') || '').toUpperCase(), 'DENY', r.describe());
    assert.doesNotMatch(r.headers.get('content-security-policy') || '', /frame-ancestors\s+'none'/, r.describe());
    await me(nina.b, origin, 401);
    await meWith(nina.cookie, 401);
    assert.equal((await meWith(otto.cookie, 200)).email, 'otto@wsfed.example');
  });

  // The IdP's sign-out page frames or loads the cleanup URL; from the same site (an AD FS on the site's own
  // domain; here the IdP on the same host) the browser sends the SameSite=Lax session cookie with it.
  const FROM_IDP_SAME_SITE = { 'sec-fetch-dest': 'iframe', 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'same-site' };

  test('GET /auth/wsfed/corp?wa=wsignout1.0 (the other sign-out message) from the same site ends the session too: 200, frameable', async () => {
    const pia = await signIn('pia@wsfed.example');
    const r = await pia.b.get(`${origin}/auth/wsfed/corp?wa=wsignout1.0`, { headers: FROM_IDP_SAME_SITE });
    assert.equal(r.status, 200, r.describe());
    assert.doesNotMatch(r.headers.get('content-security-policy') || '', /frame-ancestors\s+'none'/, r.describe());
    assert.notEqual((r.headers.get('x-frame-options') || '').toUpperCase(), 'DENY', r.describe());
    await me(pia.b, origin, 401);
    await meWith(pia.cookie, 401);
  });

  test('logout CSRF: a cross-site top-level navigation to the cleanup URL (a link on any page) does not end the session; a confirmation page instead', async () => {
    const uma = await signIn('uma@wsfed.example');
    for (const wa of ['wsignoutcleanup1.0', 'wsignout1.0']) {
      const r = await uma.b.navigate(`${origin}/auth/wsfed/corp?wa=${wa}`, { headers: { 'sec-fetch-site': 'cross-site', referer: 'https://evil.example/' } });
      assert.equal(r.status, 200, r.describe());
      assertNoSessionSet(r);
      assert.equal(r.setCookie(SESSION_COOKIE), undefined, `the session cookie is left alone\n${r.describe()}`);
      assert.match(r.body, /<form\b[^>]*action="\/auth\/logout"/i, `a confirmation (a POST form to /auth/logout)\n${r.describe(2000)}`);
      assert.equal((await me(uma.b, origin, 200)).email, 'uma@wsfed.example');
    }
    // Without Sec-Fetch-Site (an old browser, a script) it is not taken as the same site either.
    const bare = await uma.b.get(`${origin}/auth/wsfed/corp?wa=wsignoutcleanup1.0`);
    assert.equal(bare.status, 200, bare.describe());
    assert.equal((await meWith(uma.cookie, 200)).email, 'uma@wsfed.example');
  });

  test('a sign-out message with a foreign wreply: no redirect there (no open redirect), the session still ends', async () => {
    const quinn = await signIn('quinn@wsfed.example');
    for (const wa of ['wsignout1.0', 'wsignoutcleanup1.0']) {
      const u = new URL('/auth/wsfed/corp', origin);
      u.searchParams.set('wa', wa);
      u.searchParams.set('wreply', 'https://evil.example/phish');
      const r = await quinn.b.get(u.href, { headers: FROM_IDP_SAME_SITE });
      assert.equal(r.status, 200, r.describe());
      assert.equal(r.location, null, `no redirect\n${r.describe()}`);
      assert.doesNotMatch(r.body, /evil\.example/, `wreply not echoed\n${r.describe()}`);
    }
    await me(quinn.b, origin, 401);
    await meWith(quinn.cookie, 401);
  });

  test('cleanup for a browser with no session, or at an unknown connector: answered, nothing else ends', async () => {
    const ruth = await signIn('ruth@wsfed.example');
    const stranger = new Browserless();
    const r = await stranger.get(`${origin}/auth/wsfed/corp?wa=wsignoutcleanup1.0`, { headers: FROM_IDP_SAME_SITE });
    assert.equal(r.status, 200, r.describe());
    const unknown = await stranger.get(`${origin}/auth/wsfed/nobody?wa=wsignoutcleanup1.0`, { headers: FROM_IDP_SAME_SITE });
    assert.equal(unknown.status, 404, unknown.describe());
    assert.equal((await meWith(ruth.cookie, 200)).email, 'ruth@wsfed.example');
  });

  test('the cleanup of one connector does not end a session of another connector', async () => {
    const sam = await signIn('sam@wsfed-realm.example');
    const r = await sam.b.get(`${origin}/auth/wsfed/corp?wa=wsignoutcleanup1.0`, { headers: FROM_IDP_SAME_SITE });
    assert.equal(r.status, 200, r.describe());
    assert.equal((await me(sam.b, origin, 200)).connector, 'corprealm');
    assert.equal((await meWith(sam.cookie, 200)).connector, 'corprealm');
  });
});

describe('federation metadata: signing-certificate rollover (an IdP of its own, a worker of its own)', () => {
  let rollIdp;
  let rollWorker;
  const fresh = (() => {
    const c = selfSignedCert({ privateKey: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, cn: 'adfs-signing-next', days: 30 });
    return { privateKey: c.keyPem, certificate: c.certPem };
  })();
  before(async () => {
    rollIdp = await startWsFedIdp({ issuer: 'http://adfs-roll.wsfed.test/adfs/services/trust' });
    rollWorker = await startWorker({
      scriptPath: WSFED_WORKER_SCRIPT,
      config: { connectors: [{ id: 'roll', kind: 'wsfed', domains: ['wsfed-roll.example'], metadata_url: rollIdp.metadataUrl }] },
    });
    rollIdp.trustRp({ realm: `${rollWorker.url}/auth/wsfed/roll`, replyUrl: `${rollWorker.url}/auth/wsfed/roll` });
  }, { timeout: 60_000 });
  after(async () => {
    await rollWorker?.dispose();
    await rollIdp?.close();
  });

  // The three steps run in order: each depends on what the worker has cached.
  test('two signing certificates published (AD FS primary and secondary): a token signed with the second is accepted', async () => {
    rollIdp.rollover({ signWith: testKeyPair('other'), publish: [testKeyPair('rsa').certificate, testKeyPair('other').certificate] });
    const b = new Browserless();
    const { response } = await wsfedLogin(b, { worker: rollWorker.url, email: 'ada@wsfed-roll.example' });
    assert.equal(response.status, 302, `${response.describe()}\n  ${rollWorker.logs.since(0).join('\n  ')}`);
    assert.equal((await me(b, rollWorker.url, 200)).connector, 'roll');
  });

  test('rollover after the worker cached the metadata: a token signed by a key only the fresh metadata lists is accepted (the metadata is read again)', async () => {
    const fetches = rollIdp.metadataFetches;
    rollIdp.rollover({ signWith: fresh, publish: [fresh.certificate] });
    const b = new Browserless();
    const { response } = await wsfedLogin(b, { worker: rollWorker.url, email: 'ben@wsfed-roll.example' });
    assert.equal(response.status, 302, `${response.describe()}\n  ${rollWorker.logs.since(0).join('\n  ')}`);
    assert.ok(rollIdp.metadataFetches > fetches, 'the worker read the metadata again');
    assert.equal((await me(b, rollWorker.url, 200)).email, 'ben@wsfed-roll.example');
  });

  test('after the rollover, a token signed by the retired key (no longer published) is refused', async () => {
    rollIdp.rollover({ signWith: testKeyPair('rsa'), publish: [fresh.certificate] });
    const b = new Browserless();
    const mark = rollWorker.logs.mark();
    const { response } = await wsfedLogin(b, { worker: rollWorker.url, email: 'cleo@wsfed-roll.example' });
    assertRefusal(response, WSFED_INVALID);
    assertNoSessionSet(response);
    const line = await assertLogged(rollWorker.logs, mark, replyLog('roll'));
    assert.match(line, /no configured certificate verifies the signature/, line);
    await me(b, rollWorker.url, 401);
  });
});

describe('over https (workerd TLS, certificate made at run time)', () => {
  let tlsWorker;
  let cert;
  before(async () => {
    cert = selfSignedCert({ altNames: ['IP:127.0.0.1'] });
    tlsWorker = await startWorker({
      scriptPath: WSFED_WORKER_SCRIPT,
      config: { connectors: [{ id: 'corp', kind: 'wsfed', domains: ['wsfed.example'], issuer: idp.issuer, sso_url: idp.ssoUrl, certificates: [idp.certificateBase64] }] },
      miniflare: { https: true, httpsKey: cert.keyPem, httpsCert: cert.certPem },
    });
    idp.trustRp({ realm: `${tlsWorker.url}/auth/wsfed/corp`, replyUrl: `${tlsWorker.url}/auth/wsfed/corp` });
  }, { timeout: 60_000 });
  after(async () => {
    await tlsWorker?.dispose();
  });

  test('the transaction cookie is __Host- prefixed (Secure, SameSite=None, Path=/, no Domain); sign-in completes', async () => {
    assert.match(tlsWorker.url, /^https:\/\//);
    const b = new Browserless({ ca: cert.certPem });
    const { start, response } = await wsfedLogin(b, { worker: tlsWorker.url, email: 'tina@wsfed.example' });
    const tx = transactionCookie(start);
    assert.match(tx.name, /^__Host-/, tx.raw);
    assert.ok(tx.secure && tx.httpOnly && tx.path === '/' && !tx.domain, tx.raw);
    assert.equal(response.status, 302, response.describe());
    assert.ok(response.setCookie(SESSION_COOKIE_HTTPS)?.value, response.describe());
    assert.equal((await me(b, tlsWorker.url, 200)).email, 'tina@wsfed.example');
  });
});
