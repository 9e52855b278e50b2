// Assertions shared by the end-to-end tests (every failure message carries the request and response).
import assert from 'node:assert/strict';

import { Browserless, SESSION_COOKIE, TX_COOKIE } from './harness.mjs';

/**
 * The status of each error code (src/core/error.rs); `idp_error` depends on the IdP's code, so a caller gives it.
 */
export const STATUS_OF_CODE = {
  invalid_email: 400,
  unknown_domain: 403,
  unknown_connector: 404,
  login_expired: 400,
  saml_response_invalid: 400,
  wsfed_token_invalid: 400,
  state_mismatch: 400,
  invalid_callback: 400,
  issuer_mismatch: 400,
  token_exchange_failed: 502,
  id_token_invalid: 400,
  email_missing: 403,
  email_unverified: 403,
  email_domain_mismatch: 403,
  tenant_not_allowed: 403,
  domain_not_owned: 403,
  hosted_domain_mismatch: 403,
  userinfo_failed: 502,
  idp_unreachable: 502,
  config_error: 500,
  session_too_large: 500,
  revocations_unavailable: 503,
  internal_error: 500,
  csrf: 403,
  not_found: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  bad_path: 400,
  replay_store_unavailable: 503,
};

/**
 * A refusal: the ONE expected `status` (default: the status of `code`, see STATUS_OF_CODE), the ONE expected
 * X-Edge-Auth-Error `code`, and (HTML pages) <meta name="edge-auth-error" content=code>. A list of codes or a
 * status predicate is refused: a test that accepts either of two answers does not isolate its rule.
 */
export function assertRefusal(r, { status, code, html = true }) {
  const where = `\n${r.describe(800)}`;
  assert.equal(typeof code, 'string', `assertRefusal: give the one expected code (got ${JSON.stringify(code)})`);
  const expectedStatus = status ?? STATUS_OF_CODE[code];
  assert.equal(typeof expectedStatus, 'number', `assertRefusal: give the one expected status for ${code}`);
  assert.equal(r.status, expectedStatus, `status${where}`);
  assert.equal(r.errorCode, code, `X-Edge-Auth-Error${where}`);
  if (html) {
    assert.match(r.headers.get('content-type') || '', /text\/html/i, `content-type${where}`);
    assert.equal(r.metaErrorCode, r.errorCode, `<meta name="edge-auth-error">${where}`);
  }
}

/**
 * The worker logged a line matching `re` after `mark` (a WorkerLog position, see harness.mjs): the operator's
 * reason for a refusal. Returns the line.
 */
export async function assertLogged(logs, mark, re, context = '') {
  const line = await logs.waitFor(re, mark);
  assert.ok(line, `the worker log explains it with ${re}${context}\nworker log since the mark:\n  ${logs.since(mark).join('\n  ')}`);
  return line;
}

/** The response did not set a (non-empty, non-expired) session cookie. */
export function assertNoSessionSet(r) {
  const sc = r.setCookie(SESSION_COOKIE);
  if (!sc) return;
  const cleared = sc.value === '' || (sc.maxAge !== undefined && sc.maxAge <= 0) || (sc.expires && sc.expires.getTime() <= Date.now());
  assert.ok(cleared, `a session cookie was set: ${sc.raw}\n${r.describe()}`);
}

/** GET /auth/me as JSON: asserts the status, returns the parsed body. */
export async function me(b, origin, status) {
  const r = await b.get(`${origin}/auth/me`, { headers: { accept: 'application/json' } });
  if (status !== undefined) assert.equal(r.status, status, `/auth/me\n${r.describe()}`);
  assert.match(r.headers.get('content-type') || '', /application\/json/i, `/auth/me content-type\n${r.describe()}`);
  return r.json();
}

/** Assert the cookie attributes the contract requires on http loopback (HttpOnly, SameSite=Lax, Path=/, no Secure). */
export function assertLoopbackCookie(sc, name) {
  assert.ok(sc, `no Set-Cookie for ${name}`);
  assert.equal(sc.name, name);
  assert.ok(sc.httpOnly, `${name} must be HttpOnly: ${sc.raw}`);
  assert.equal(String(sc.sameSite).toLowerCase(), 'lax', `${name} must be SameSite=Lax: ${sc.raw}`);
  assert.equal(sc.path, '/', `${name} must be Path=/: ${sc.raw}`);
  assert.ok(!sc.secure, `${name} must not be Secure on http loopback: ${sc.raw}`);
  assert.ok(!sc.domain, `${name} must be host-only (no Domain): ${sc.raw}`);
}

/**
 * One signed-in browser per email, signed in on first use (a full login through the IdP, `/auth/me` checked)
 * and reused after: `const browserOf = signedInBrowsers(() => site); const b = await browserOf('a@x.example');`
 */
export function signedInBrowsers(siteOf) {
  const browsers = new Map();
  return async (email) => {
    if (!browsers.has(email)) {
      const site = siteOf();
      const b = new Browserless();
      const { response } = await b.login({ worker: site, email });
      assert.equal(response.status, 302, response.describe());
      assert.equal((await me(b, site, 200)).email, email);
      browsers.set(email, b);
    }
    return browsers.get(email);
  };
}

export { SESSION_COOKIE, TX_COOKIE };
