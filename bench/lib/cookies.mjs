// Valid session cookies for the benchmarked workers, minted the way each one seals them.
import { createHmac, hkdfSync } from 'node:crypto';

const b64u = (data) => Buffer.from(data).toString('base64url');

/**
 * edge-auth (src/core/session/codec.rs, record.rs): `v1.<b64u(payload)>.<b64u(tag)>`,
 * tag = HMAC-SHA256(k_session, "edge-auth\0v1\0" || "session" || "\0" || cookieName || "\0" || payload_b64),
 * k_session = HKDF-SHA256(ikm = the first SESSION_KEYS key, salt "edge-auth cookie keys",
 * info "edge-auth v1 session mac", 32 bytes). Payload: the Session record (`cid` = connector id).
 */
export function sealEdgeAuthSession({ sessionKey, cookieName = 'edge-auth-session', session }) {
  const ikm = Buffer.from(sessionKey.trim().replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'), 'base64url');
  const key = Buffer.from(hkdfSync('sha256', ikm, 'edge-auth cookie keys', 'edge-auth v1 session mac', 32));
  const payloadB64 = b64u(JSON.stringify(session));
  const tag = createHmac('sha256', key)
    .update('edge-auth\0v1\0')
    .update('session')
    .update('\0')
    .update(cookieName)
    .update('\0')
    .update(payloadB64)
    .digest();
  return `v1.${payloadB64}.${b64u(tag)}`;
}

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
