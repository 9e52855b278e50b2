// Every IdP authorization error code (OAuth 2.0 §4.1.2.1, OIDC Core §3.1.2.6, and codes the worker does not
// know), answered by every connector kind's provider — generic OIDC by query and by form_post (the scriptable
// test OP), Entra, Google and Facebook shapes (tests/support/fake-idp/shapes.mjs) — end to end through the real
// worker in workerd. Each must give: the status of src/core/error.rs for that code, `X-Edge-Auth-Error:
// idp_error`, the page for that code (its title, `<meta name="edge-auth-idp-error">` naming the code, rendered from
// the message catalogue of src/core/pages), the transaction cleared, no session, no token
// request, and nothing of the IdP's error_description / error_uri in the page. Plus: RFC 9207 `iss` on error
// responses, sanitising of odd codes, an error next to a code.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { assertNoSessionSet, assertRefusal, me } from '../../support/assert.mjs';
import { Browserless, randomKey, TX_COOKIE } from '../../support/harness.mjs';
import {
  guidFrom,
  OMIT,
  startEntraOp,
  startFacebookOp,
  startGoogleOp,
  startHostileOp,
} from '../../support/fake-idp/index.mjs';
import { signIn, startShapeStack } from '../../support/stacks.mjs';

const MISCONFIGURED = 'Sign-in is misconfigured';
const SIGN_IN_AGAIN = 'Please sign in again';
const OTHER = 'Your identity provider returned an error';
/** code -> [status, page slug, title of the page] (src/core/error.rs, src/core/pages/catalog.rs). */
const CODES = {
  access_denied: [403, 'access-denied', 'Sign-in was cancelled'],
  server_error: [502, 'server-error', 'Your identity provider had a problem'],
  temporarily_unavailable: [503, 'temporarily-unavailable', 'Your identity provider is busy'],
  invalid_request: [502, 'invalid-request', MISCONFIGURED],
  unauthorized_client: [502, 'unauthorized-client', MISCONFIGURED],
  unsupported_response_type: [502, 'unsupported-response-type', MISCONFIGURED],
  invalid_resource: [502, 'invalid-resource', MISCONFIGURED],
  invalid_scope: [502, 'invalid-scope', MISCONFIGURED],
  login_required: [401, 'sign-in-required', SIGN_IN_AGAIN],
  interaction_required: [401, 'sign-in-required', SIGN_IN_AGAIN],
  consent_required: [401, 'sign-in-required', SIGN_IN_AGAIN],
  account_selection_required: [401, 'sign-in-required', SIGN_IN_AGAIN],
  invalid_client: [502, 'idp-error', OTHER],
  invalid_request_uri: [502, 'idp-error', OTHER],
  invalid_request_object: [502, 'idp-error', OTHER],
  request_not_supported: [502, 'idp-error', OTHER],
  request_uri_not_supported: [502, 'idp-error', OTHER],
  registration_not_supported: [502, 'idp-error', OTHER],
  some_new_error: [502, 'idp-error', OTHER],
};

const TENANT = guidFrom('tenant:errors');
const HOSTILE_DESCRIPTION = '<script>alert("idp")</script> AADSTS90000 secret-detail';
const HOSTILE_URI = 'javascript:alert(1)//error-uri';

let stack;
let oidc; // scriptable OP, query and form_post
let issOp; // scriptable OP that sends RFC 9207 iss
let entra;
let google;
let fb;

before(async () => {
  stack = await startShapeStack(async ({ redirectUri }) => {
    const secret = () => `s-${randomKey(12)}`;
    const c = { client_id: 'edge-errors', client_secret: secret(), redirect_uris: [redirectUri] };
    oidc = await startHostileOp({ name: 'oidc', clients: [{ ...c, token_endpoint_auth_method: 'client_secret_basic' }] });
    issOp = await startHostileOp({ name: 'iss', issParameter: true, clients: [{ ...c, token_endpoint_auth_method: 'client_secret_basic' }] });
    entra = await startEntraOp({ clients: [c], tenants: [{ id: TENANT, name: 'Errors', domains: ['entra.example'] }] });
    google = await startGoogleOp({ clients: [c] });
    fb = await startFacebookOp({ apps: [{ app_id: c.client_id, app_secret: c.client_secret, redirect_uris: [redirectUri] }] });
    const base = { client_id: c.client_id, client_secret_binding: 'ERRORS_SECRET' };
    return {
      ops: { oidc, issOp, entra, google, fb },
      secrets: { ERRORS_SECRET: c.client_secret },
      connectors: [
        { id: 'oidc', kind: 'oidc', issuer: oidc.issuer, ...base, domains: ['oidc.example'] },
        { id: 'oidc-fp', kind: 'oidc', issuer: oidc.issuer, response_mode: 'form_post', ...base, domains: ['oidc-fp.example'] },
        { id: 'oidc-iss', kind: 'oidc', issuer: issOp.issuer, ...base, domains: ['oidc-iss.example'] },
        { id: 'entra', kind: 'entra', tenant: 'organizations', allowed_tenants: [TENANT], authority: entra.url, ...base, domains: ['entra.example'] },
        { id: 'google', kind: 'google', issuer: google.url, ...base, domains: ['google.example'] },
        {
          id: 'facebook',
          kind: 'facebook',
          authorization_endpoint: `${fb.url}/v21.0/dialog/oauth`,
          token_endpoint: `${fb.url}/v21.0/oauth/access_token`,
          graph_me_endpoint: `${fb.url}/v21.0/me`,
          ...base,
          domains: ['facebook.example'],
        },
      ],
    };
  });
}, { timeout: 60_000 });
after(async () => {
  await stack?.close();
}, { timeout: 30_000 });

/** How each kind's provider is made to answer `error` (with a description and an error_uri). */
const KINDS = {
  oidc: { op: () => oidc, spec: (error) => ({ authResponse: { code: OMIT, error, error_description: HOSTILE_DESCRIPTION, error_uri: HOSTILE_URI } }) },
  'oidc-fp': { op: () => oidc, spec: (error) => ({ authResponse: { code: OMIT, error, error_description: HOSTILE_DESCRIPTION, error_uri: HOSTILE_URI } }) },
  entra: { op: () => entra, spec: (error) => ({ authError: { error, error_description: `AADSTS50105: ${HOSTILE_DESCRIPTION}`, error_uri: HOSTILE_URI } }) },
  google: { op: () => google, spec: (error) => ({ authError: { error, error_description: HOSTILE_DESCRIPTION, error_uri: HOSTILE_URI } }) },
  facebook: {
    op: () => fb,
    spec: (error) => ({ authError: { error, error_code: '200', error_description: HOSTILE_DESCRIPTION, error_reason: 'user_denied' } }),
  },
};

/**
 * The answer to an IdP error: status, header, the static page of that code (or the fallback), no session.
 * @returns {Promise<void>}
 */
async function assertIdpErrorPage(t, r, code, label) {
  const [status, slug, title] = CODES[code] ?? CODES.some_new_error;
  const where = `\n${label}\n${r.describe(600)}`;
  assert.equal(r.status, status, `status${where}`);
  assert.equal(r.errorCode, 'idp_error', `X-Edge-Auth-Error${where}`);
  assert.match(r.headers.get('content-type') || '', /^text\/html/i, `content-type${where}`);
  assert.equal(r.headers.get('location'), null, `a page, not a redirect${where}`);
  assert.match(r.headers.get('content-security-policy') || '', /default-src 'none'/, `the login pages' CSP${where}`);
  assert.match(r.headers.get('content-security-policy') || '', /(^|;)\s*frame-ancestors 'none'\s*(;|$)/, `never framed${where}`);
  assert.ok(!r.body.includes('alert('), `nothing of error_description / error_uri is shown${where}`);
  assert.ok(!r.body.includes('secret-detail'), `error_description is not shown${where}`);
  assert.ok(r.body.includes(`<title>${title}</title>`), `the page for ${code}: "${title}"${where}`);
  assert.equal(r.metaErrorCode, 'idp_error', `<meta name="edge-auth-error">${where}`);
  const idpMeta = /<meta\s+name="edge-auth-idp-error"\s+content="([^"]*)"/i.exec(r.body)?.[1];
  assert.ok(idpMeta !== undefined, `${slug}.html names its codes in <meta name="edge-auth-idp-error">${where}`);
  const listed = idpMeta.split(/\s+/);
  assert.ok(listed.includes(code) || (slug === 'idp-error' && listed.includes('other')), `${slug}.html is the page for ${code} (edge-auth-idp-error "${idpMeta}")${where}`);
}

for (const [kind, how] of Object.entries(KINDS)) {
  describe(`error responses through kind ${kind}${kind === 'oidc-fp' ? ' (form_post)' : ''}`, () => {
    for (const code of Object.keys(CODES)) {
      test(`error=${code}`, async (t) => {
        const op = how.op();
        const tokensBefore = op.tokenRequests.length;
        const res = await signIn(stack, { op, spec: how.spec(code), email: `alice@${kind}.example` });
        const r = res.response;
        assert.equal(new URL(r.url).pathname, '/auth/callback', res.context());
        assert.equal(r.method, kind === 'oidc-fp' ? 'POST' : 'GET');
        await assertIdpErrorPage(t, r, code, `kind ${kind}, error=${code}${res.context()}`);
        const tx = r.setCookie(TX_COOKIE);
        assert.ok(tx && (tx.value === '' || tx.maxAge === 0), `the transaction cookie is cleared\n${r.describe()}`);
        assertNoSessionSet(r);
        assert.equal(op.tokenRequests.length, tokensBefore, 'no token request after an error response');
        await me(res.b, stack.origin, 401);
      });
    }
  });
}

describe('odd error responses', () => {
  test('an error code with markup is sanitised: the generic page, nothing reflected', async (t) => {
    const res = await signIn(stack, { op: oidc, spec: KINDS.oidc.spec('access_denied"><img src=x onerror=alert(2)>'), email: 'alice@oidc.example' });
    const r = res.response;
    await assertIdpErrorPage(t, r, 'some_new_error', `sanitised code${res.context()}`);
    assert.ok(!/<img|onerror/i.test(r.body), r.body);
  });

  test('a very long error code -> the generic page', async (t) => {
    const res = await signIn(stack, { op: oidc, spec: KINDS.oidc.spec('x'.repeat(5000)), email: 'alice@oidc.example' });
    await assertIdpErrorPage(t, res.response, 'some_new_error', `long code${res.context()}`);
  });

  test('error and code together: the error wins, the code is never redeemed', async (t) => {
    const before = oidc.tokenRequests.length;
    const res = await signIn(stack, { op: oidc, spec: { authResponse: { error: 'server_error' } }, email: 'alice@oidc.example' });
    assert.ok(new URL(res.callbackUrl).searchParams.get('code'), 'the OP sent a code too');
    await assertIdpErrorPage(t, res.response, 'server_error', `error + code${res.context()}`);
    assert.equal(oidc.tokenRequests.length, before);
  });

  test('an empty error parameter does not sign in', async () => {
    const res = await signIn(stack, { op: oidc, spec: { authResponse: { code: OMIT, error: '' } }, email: 'alice@oidc.example' });
    const r = res.response;
    // An `error` parameter, even empty, is an error response: the generic IdP-error page, never a code exchange.
    assertRefusal(r, { status: 502, code: 'idp_error' });
    assertNoSessionSet(r);
    assert.ok(await stack.logs.waitFor(/GET \/auth\/callback: idp_error \(the IdP returned error ""\)/, res.logMark), `logged${res.context()}`);
  });

  test('the error callback is spent: replaying it with a code of the same login is refused', async () => {
    const b = new Browserless();
    const res = await signIn(stack, { b, op: oidc, spec: KINDS.oidc.spec('temporarily_unavailable'), email: 'alice@oidc.example', stopBeforeCallback: true });
    const cb = new URL(res.callbackUrl);
    const tx = b.getCookie(TX_COOKIE, stack.origin);
    assert.ok(tx, 'the login set the transaction cookie');
    const tokensBefore = oidc.tokenRequests.length;
    const first = await b.navigate(cb.href);
    assert.equal(first.errorCode, 'idp_error');
    cb.searchParams.delete('error');
    cb.searchParams.delete('error_description');
    cb.searchParams.delete('error_uri');
    cb.searchParams.set('code', 'a-code-of-the-same-transaction');
    // The same transaction cookie again (the error page cleared it from the jar): a real replay.
    b.setCookie(TX_COOKIE, tx, { url: stack.origin });
    const mark = stack.logs.mark();
    const again = await b.navigate(cb.href);
    assertRefusal(again, { status: 400, code: 'login_expired' });
    assert.ok(await stack.logs.waitFor(/login_expired \(the login transaction was already used/, mark), `refused as a replay: ${stack.logs.since(mark).join(' | ')}`);
    assertNoSessionSet(again);
    assert.equal(oidc.tokenRequests.length, tokensBefore, 'the code was never redeemed');
  });
});

describe('RFC 9207: an error response from a provider that sends iss', () => {
  test('with the right iss: the idp_error page', async (t) => {
    const res = await signIn(stack, { op: issOp, spec: { authResponse: { code: OMIT, error: 'access_denied' } }, email: 'alice@oidc-iss.example' });
    assert.equal(new URL(res.callbackUrl).searchParams.get('iss'), issOp.issuer);
    await assertIdpErrorPage(t, res.response, 'access_denied', `iss ok${res.context()}`);
  });
  test('with another iss: issuer_mismatch, not the IdP error', async () => {
    const res = await signIn(stack, { op: issOp, spec: { authResponse: { code: OMIT, error: 'access_denied', iss: 'http://127.0.0.1:1' } }, email: 'alice@oidc-iss.example' });
    assertRefusal(res.response, { status: 400, code: 'issuer_mismatch' });
    assertNoSessionSet(res.response);
  });
  test('without iss: issuer_mismatch (mix-up defence)', async () => {
    const res = await signIn(stack, { op: issOp, spec: { authResponse: { code: OMIT, error: 'access_denied', iss: OMIT } }, email: 'alice@oidc-iss.example' });
    assertRefusal(res.response, { status: 400, code: 'issuer_mismatch' });
    assertNoSessionSet(res.response);
  });
});
