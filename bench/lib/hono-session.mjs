// A valid session cookie for the benchmarked @hono/oidc-auth worker, minted the way it seals them. (edge-auth's
// own cookie comes from the test suites' codec, tests/support/fake-idp/codec.mjs.)
import { createHmac } from 'node:crypto';

const b64u = (data) => Buffer.from(data).toString('base64url');

/**
 * @hono/oidc-auth 1.x (dist/index.js, updateAuth/getAuth): the session is a JWT signed with
 * OIDC_AUTH_SECRET by hono/jwt (HS256 by default) holding {sub, email, rtk, rtkexp, ssnexp}; getAuth()
 * accepts it while ssnexp and rtkexp are in the future (after rtkexp it would call the token endpoint to
 * refresh, so both are set far ahead).
 */
export function signHonoSession({ secret, claims }) {
  const header = b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64u(JSON.stringify(claims));
  const sig = createHmac('sha256', secret).update(`${header}.${payload}`).digest();
  return `${header}.${payload}.${b64u(sig)}`;
}
