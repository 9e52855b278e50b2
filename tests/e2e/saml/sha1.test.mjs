// `allow_sha1` end to end (deprecated; README, SAML connectors): the worker built with the SAML feature
// (build-saml/) in workerd, two connectors of one IdP, `legacy` with `allow_sha1: true` and `corp` without it.
// Responses are signed by npm xml-crypto (tests/support/saml-hostile.mjs, an XML-DSig implementation independent
// of edge-auth's) with RSA-SHA1 and a SHA-1 digest, or SHA-1 in only one of the two: `legacy` signs the visitor
// in (the RSA-SHA1 signature verified by WebCrypto in workerd), `corp` refuses the same response, built for its
// own transaction, by the algorithm — its log line names the rule. The control, RSA-SHA256, signs in at both.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { assertLogged, assertNoSessionSet, assertRefusal, me, SESSION_COOKIE } from '../../support/assert.mjs';
import { Browserless, startWorker } from '../../support/harness.mjs';
import { responseXml, sign, toBase64 } from '../../support/saml-hostile.mjs';
import { inflateRedirectParam, SAML_WORKER_SCRIPT, testKeyPair } from '../../support/saml-idp.mjs';

const IDP_ENTITY_ID = 'https://idp.test/entity';
// Never contacted: the tests read the AuthnRequest out of the worker's redirect and answer it themselves.
const IDP_SSO_URL = 'http://127.0.0.1:9/sso';
const IDP_ORIGIN = 'http://127.0.0.1:9';
const DOMAINS = { legacy: 'saml-legacy.example', corp: 'saml.example' };

let worker;
let origin;

before(async () => {
  const idp = { idp_entity_id: IDP_ENTITY_ID, idp_sso_url: IDP_SSO_URL, idp_certificates: [testKeyPair('rsa').certificate] };
  worker = await startWorker({
    scriptPath: SAML_WORKER_SCRIPT,
    config: {
      connectors: [
        { id: 'legacy', kind: 'saml', domains: [DOMAINS.legacy], allow_sha1: true, ...idp },
        { id: 'corp', kind: 'saml', domains: [DOMAINS.corp], ...idp },
      ],
    },
  });
  origin = worker.url;
}, { timeout: 60_000 });

after(async () => {
  await worker?.dispose();
}, { timeout: 30_000 });

/** A browser starts a sign-in at `connector` (by an email of its domain); the context the generator needs. */
async function startTransaction(connector, email) {
  const b = new Browserless();
  const start = await b.navigate(`${origin}/auth/login?email=${encodeURIComponent(email)}`);
  assert.equal(start.status, 302, start.describe());
  const to = new URL(start.location);
  const xml = inflateRedirectParam(to.searchParams.get('SAMLRequest'));
  const requestId = /<(?:\w+:)?AuthnRequest\b[^>]*\sID="([^"]+)"/.exec(xml)?.[1];
  assert.ok(requestId, xml);
  assert.equal(/AssertionConsumerServiceURL="([^"]+)"/.exec(xml)?.[1], `${origin}/auth/saml/${connector}/acs`);
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

/** The IdP's response for this transaction, signed by xml-crypto with `alg` on `target`. */
function signedResponse(ctx, email, alg, target) {
  const xml = responseXml({ ...ctx, email });
  return target === 'both' ? sign(sign(xml, { alg }), { alg, target: 'response' }) : sign(xml, { alg, target });
}

/** The IdP's auto-submitted form, as the browser posts it (cross-site, from the IdP's origin). */
function postAcs(b, connector, xml, relayState) {
  return b.submit(`${origin}/auth/saml/${connector}/acs`, { SAMLResponse: toBase64(xml), RelayState: relayState }, { from: IDP_ORIGIN });
}

async function signIn(connector, alg, target, user) {
  const email = `${user}@${DOMAINS[connector]}`;
  const { b, ctx, relayState } = await startTransaction(connector, email);
  const xml = signedResponse(ctx, email, alg, target);
  assert.match(xml, alg.startsWith('rsa-sha1') ? /xmldsig#rsa-sha1"/ : /xmldsig-more#rsa-sha256"/);
  const mark = worker.logs.mark();
  return { b, email, mark, r: await postAcs(b, connector, xml, relayState) };
}

async function expectAccepted({ b, email, mark, r }) {
  assert.equal(r.status, 302, `${r.describe()}\nworker log:\n  ${worker.logs.since(mark).join('\n  ')}`);
  assert.ok(r.setCookie(SESSION_COOKIE)?.value, r.describe());
  assert.equal((await me(b, origin, 200)).email, email);
}

describe('allow_sha1: accepted by the connector that sets it, refused by the one that does not', () => {
  const cases = [
    ['rsa-sha1', 'assertion', /signature algorithm not accepted/],
    ['rsa-sha1', 'response', /signature algorithm not accepted/],
    ['rsa-sha1', 'both', /signature algorithm not accepted/],
    ['rsa-sha1-digest-sha256', 'assertion', /signature algorithm not accepted/],
    ['rsa-sha256-digest-sha1', 'assertion', /digest algorithm not accepted/],
  ];
  let n = 0;
  for (const [alg, target, rule] of cases) {
    n += 1;
    const user = `sha1-${n}`;
    const on = target === 'both' ? 'the assertion and the response' : `the ${target}`;
    test(`${alg} on ${on}: legacy (allow_sha1) signs in; corp refuses it by its algorithm`, async () => {
      await expectAccepted(await signIn('legacy', alg, target, user));

      const { b, mark, r } = await signIn('corp', alg, target, user);
      assertRefusal(r, { status: 400, code: 'saml_response_invalid' });
      assertNoSessionSet(r);
      const line = await assertLogged(worker.logs, mark, /edge-auth: POST \/auth\/saml\/corp\/acs: /);
      assert.match(line, rule, `the log line names the rule\n  ${worker.logs.since(mark).join('\n  ')}`);
      await me(b, origin, 401);
    });
  }

  test('control: RSA-SHA256 signs in at both connectors', async () => {
    await expectAccepted(await signIn('legacy', 'rsa-sha256', 'assertion', 'control'));
    await expectAccepted(await signIn('corp', 'rsa-sha256', 'assertion', 'control'));
  });
});
