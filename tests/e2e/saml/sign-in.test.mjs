// SAML 2.0 sign-in end to end: the worker built with the SAML feature (build-saml/) in workerd, against a real
// SAML IdP (npm samlify, tests/support/saml-idp.mjs) that reads the worker's AuthnRequest and signs its answer
// with its own XML-DSig code. Two connectors: `corp` configured inline (entity ID, SSO URL, certificate) and
// `corpmd` configured by the IdP's metadata URL.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { assertLogged, assertNoSessionSet, assertRefusal, me, SESSION_COOKIE } from '../../support/assert.mjs';
import { Browserless, SESSION_COOKIE_HTTPS, startWorker } from '../../support/harness.mjs';
import { inflateRedirectParam, SAML_TX_COOKIE, SAML_WORKER_SCRIPT, samlLogin, startSamlIdp } from '../../support/saml-idp.mjs';
import { selfSignedCert } from '../../support/tls.mjs';

let idp;
let worker;
let origin;
const trusted = {};

before(async () => {
  idp = await startSamlIdp();
  worker = await startWorker({
    scriptPath: SAML_WORKER_SCRIPT,
    config: {
      connectors: [
        {
          id: 'corp',
          kind: 'saml',
          domains: ['saml.example'],
          idp_entity_id: idp.entityId,
          idp_sso_url: idp.ssoUrl,
          idp_certificates: [idp.certificatePem],
        },
        { id: 'corpmd', kind: 'saml', domains: ['saml-md.example'], idp_metadata_url: idp.metadataUrl },
      ],
    },
  });
  origin = worker.url;
  // The IdP trusts the SPs from the metadata the worker publishes (as an operator would configure the IdP).
  for (const id of ['corp', 'corpmd']) {
    const r = await fetch(`${origin}/auth/saml/${id}/metadata`);
    assert.equal(r.status, 200, `metadata of ${id}`);
    trusted[id] = idp.trustSp(await r.text());
  }
}, { timeout: 60_000 });

after(async () => {
  await worker?.dispose();
  await idp?.close();
}, { timeout: 30_000 });

describe('SP metadata', () => {
  test('GET /auth/saml/corp/metadata: the entity ID and the HTTP-POST ACS of this site, readable by a real IdP', async () => {
    const r = await fetch(`${origin}/auth/saml/corp/metadata`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') || '', /xml/i);
    const xml = await r.text();
    assert.match(xml, /<(\w+:)?EntityDescriptor\b/);
    assert.match(xml, /urn:oasis:names:tc:SAML:2\.0:bindings:HTTP-POST/);
    // samlify read the same values out of it (trustSp): the defaults of the contract.
    assert.deepEqual(trusted.corp, {
      entityId: `${origin}/auth/saml/corp/metadata`,
      acsUrl: `${origin}/auth/saml/corp/acs`,
    });
    assert.deepEqual(trusted.corpmd, {
      entityId: `${origin}/auth/saml/corpmd/metadata`,
      acsUrl: `${origin}/auth/saml/corpmd/acs`,
    });
  });

  test('an unknown connector has no metadata', async () => {
    const r = await fetch(`${origin}/auth/saml/nobody/metadata`);
    assert.equal(r.status, 404);
  });
});

describe('SP-initiated sign-in against samlify', () => {
  test('/auth/login for a SAML domain: HTTP-Redirect AuthnRequest the IdP reads, opaque RelayState, SameSite=None transaction cookie', async () => {
    const b = new Browserless();
    const before = idp.requests.length;
    const start = await b.navigate(`${origin}/auth/login?email=alice@saml.example&return_to=${encodeURIComponent('/private/page?x=1')}`);
    assert.equal(start.status, 302, start.describe());
    const to = new URL(start.location);
    assert.equal(`${to.origin}${to.pathname}`, idp.ssoUrl, 'redirected to the IdP SSO URL');
    const samlRequest = to.searchParams.get('SAMLRequest');
    const relayState = to.searchParams.get('RelayState');
    assert.ok(samlRequest, 'SAMLRequest');
    assert.ok(relayState, 'RelayState');
    assert.ok(!/private|page|\//.test(relayState), `RelayState is an opaque handle, not the return_to: ${relayState}`);
    const xml = inflateRedirectParam(samlRequest); // throws unless raw DEFLATE + base64
    assert.match(xml, /<(\w+:)?AuthnRequest\b/);
    const tx = start.setCookie(SAML_TX_COOKIE);
    assert.ok(tx, `a transaction cookie\n${start.describe()}`);
    assert.equal(String(tx.sameSite).toLowerCase(), 'none', `the transaction cookie survives the IdP's cross-site POST: ${tx.raw}`);
    assert.ok(tx.httpOnly, tx.raw);
    assertNoSessionSet(start);

    // The real IdP accepts the request: it names this SP (Issuer), its ACS and the IdP's SSO URL.
    const page = await b.navigate(start.location);
    assert.equal(page.status, 200, `the IdP refused the AuthnRequest\n${page.describe(2000)}`);
    assert.equal(idp.requests.length, before + 1);
    const read = idp.requests.at(-1);
    assert.match(read.id, /^[A-Za-z_][\w.-]*$/, `an xs:ID: ${read.id}`);
    assert.equal(read.issuer, `${origin}/auth/saml/corp/metadata`);
    assert.equal(read.acsUrl, `${origin}/auth/saml/corp/acs`);
    assert.equal(read.destination, idp.ssoUrl);
    assert.equal(read.relayState, relayState);
  });

  test('two logins get two request IDs (a request ID is not reused)', async () => {
    const ids = [];
    for (let i = 0; i < 2; i++) {
      const r = await new Browserless().navigate(`${origin}/auth/login?email=alice@saml.example`);
      ids.push(/\sID="([^"]+)"/.exec(inflateRedirectParam(new URL(r.location).searchParams.get('SAMLRequest')))[1]);
    }
    assert.notEqual(ids[0], ids[1]);
  });

  test('login -> IdP -> ACS -> session; /auth/me shows the email; the session opens the site', async () => {
    const b = new Browserless();
    const mark = worker.logs.mark();
    const { response } = await samlLogin(b, { worker: origin, email: 'alice@saml.example' });
    assert.equal(response.status, 302, `ACS\n${response.describe()}\nworker log:\n  ${worker.logs.since(mark).join('\n  ')}`);
    const loc = new URL(response.location);
    assert.equal(loc.origin, origin);
    assert.equal(loc.pathname, '/', 'default return_to');
    assert.ok(response.setCookie(SESSION_COOKIE)?.value, `a session cookie\n${response.describe()}`);
    const session = await me(b, origin, 200);
    assert.equal(session.email, 'alice@saml.example');
    assert.equal(session.connector, 'corp');
    const home = await b.navigate(`${origin}/`);
    assert.equal(home.status, 200, home.describe());
  });

  test('return_to is kept through the IdP', async () => {
    const b = new Browserless();
    const { response } = await samlLogin(b, { worker: origin, email: 'bob@saml.example', returnTo: '/docs/page?x=1#frag' });
    assert.equal(response.status, 302, response.describe());
    const loc = new URL(response.location);
    assert.equal(`${loc.pathname}${loc.search}`, '/docs/page?x=1');
    assert.equal((await me(b, origin, 200)).email, 'bob@saml.example');
  });

  test('an IdP that signs the Response as well as the assertion is accepted', async () => {
    const metadata = await (await fetch(`${origin}/auth/saml/corp/metadata`)).text();
    idp.trustSp(metadata, { signResponse: true });
    try {
      const b = new Browserless();
      const { response, acs } = await samlLogin(b, { worker: origin, email: 'carol@saml.example' });
      const xml = Buffer.from(acs.fields.SAMLResponse, 'base64').toString('utf8');
      assert.equal((xml.match(/<ds:Signature\b/g) || []).length, 2, 'the IdP signed both');
      assert.equal(response.status, 302, response.describe());
      assert.equal((await me(b, origin, 200)).email, 'carol@saml.example');
    } finally {
      idp.trustSp(metadata, { signResponse: false });
    }
  });

  test('connector configured by idp_metadata_url: the worker fetches the IdP metadata and signs in', async () => {
    const b = new Browserless();
    const { response, ssoUrl } = await samlLogin(b, { worker: origin, email: 'dave@saml-md.example' });
    assert.equal(new URL(ssoUrl).pathname, '/sso', 'the SSO URL came from the metadata');
    assert.ok(idp.metadataFetches > 0, 'the worker fetched the metadata');
    assert.equal(response.status, 302, response.describe());
    const session = await me(b, origin, 200);
    assert.equal(session.email, 'dave@saml-md.example');
    assert.equal(session.connector, 'corpmd');
  });

  test('the IdP asserts an address of a domain this connector does not own: refused (email_domain_mismatch)', async () => {
    const b = new Browserless();
    const mark = worker.logs.mark();
    const { response } = await samlLogin(b, { worker: origin, email: 'alice@saml.example', idpEmail: 'eve@other.example' });
    assertRefusal(response, { code: 'email_domain_mismatch' });
    assertNoSessionSet(response);
    await assertLogged(worker.logs, mark, /edge-auth: POST \/auth\/saml\/corp\/acs: .*other\.example/);
    await me(b, origin, 401);
  });

  test('an address of the other SAML connector\'s domain is refused too (domains are per connector)', async () => {
    const b = new Browserless();
    const { response } = await samlLogin(b, { worker: origin, email: 'alice@saml.example', idpEmail: 'dave@saml-md.example' });
    assertRefusal(response, { code: 'email_domain_mismatch' });
    await me(b, origin, 401);
  });
});

describe('over https (workerd TLS, certificate made at run time)', () => {
  let tlsWorker;
  let cert;
  before(async () => {
    cert = selfSignedCert({ altNames: ['IP:127.0.0.1'] });
    tlsWorker = await startWorker({
      scriptPath: SAML_WORKER_SCRIPT,
      config: { connectors: [{ id: 'corp', kind: 'saml', domains: ['saml.example'], idp_entity_id: idp.entityId, idp_sso_url: idp.ssoUrl, idp_certificates: [idp.certificateBase64] }] },
      miniflare: { https: true, httpsKey: cert.keyPem, httpsCert: cert.certPem },
    });
    const metadata = await new Browserless({ ca: cert.certPem }).get(`${tlsWorker.url}/auth/saml/corp/metadata`);
    assert.equal(metadata.status, 200, metadata.describe());
    assert.deepEqual(idp.trustSp(metadata.body), {
      entityId: `${tlsWorker.url}/auth/saml/corp/metadata`,
      acsUrl: `${tlsWorker.url}/auth/saml/corp/acs`,
    });
  }, { timeout: 60_000 });
  after(async () => {
    await tlsWorker?.dispose();
  });

  test('the transaction cookie is __Host-edge-auth-saml-tx (Secure, SameSite=None, Path=/, no Domain); sign-in completes', async () => {
    assert.match(tlsWorker.url, /^https:\/\//);
    const b = new Browserless({ ca: cert.certPem });
    const { start, response } = await samlLogin(b, { worker: tlsWorker.url, email: 'erin@saml.example' });
    assert.equal(start.setCookie(SAML_TX_COOKIE), undefined, `no ${SAML_TX_COOKIE} over https\n${start.describe()}`);
    const tx = start.setCookie(`__Host-${SAML_TX_COOKIE}`);
    assert.ok(tx, start.describe());
    assert.ok(tx.secure && tx.httpOnly && tx.path === '/' && !tx.domain, tx.raw);
    assert.equal(String(tx.sameSite).toLowerCase(), 'none', tx.raw);
    assert.equal(response.status, 302, response.describe());
    assert.ok(response.setCookie(SESSION_COOKIE_HTTPS)?.value, response.describe());
    assert.equal((await me(b, tlsWorker.url, 200)).email, 'erin@saml.example');
  });
});
