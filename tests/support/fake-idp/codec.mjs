// The one reimplementation of edge-auth's cookie codec (src/core/session/codec.rs) and of the MAC it keeps
// beside cached IdP documents, in node:crypto: the e2e tests forge, re-seal and read cookies with it, and the
// benchmark mints its valid session cookie with it.
import { createHmac, hkdfSync } from 'node:crypto';

const b64u = (data) => Buffer.from(data).toString('base64url');


const HKDF_SALT = 'edge-auth cookie keys';
const MAC_CONTEXT = Buffer.from('edge-auth\0v1\0', 'binary');
const PURPOSES = { session: 'session', 'login-transaction': 'login-transaction' };

function keyBytes(key) {
  // SESSION_KEYS entries: base64url or base64, padding optional.
  return Buffer.from(String(key).trim().replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'), 'base64url');
}

/** The MAC key for `purpose` ("session" | "login-transaction") derived from one SESSION_KEYS entry. */
export function derivePurposeKey(key, purpose) {
  if (!PURPOSES[purpose]) throw new Error(`unknown cookie purpose ${purpose}`);
  return Buffer.from(hkdfSync('sha256', keyBytes(key), HKDF_SALT, `edge-auth v1 ${purpose} mac`, 32));
}

/**
 * Seal `payload` (object or string) as the worker does: `v1.<b64u(payload)>.<b64u(HMAC)>` with
 * HMAC = HMAC-SHA256(k_purpose, "edge-auth\0v1\0" || purpose || "\0" || cookieName || "\0" || payload_b64).
 */
export function sealCookie({ key, purpose, cookieName, payload }) {
  const k = derivePurposeKey(key, purpose);
  const payloadB64 = b64u(typeof payload === 'string' ? payload : JSON.stringify(payload));
  const mac = createHmac('sha256', k)
    .update(MAC_CONTEXT)
    .update(purpose)
    .update('\0')
    .update(cookieName)
    .update('\0')
    .update(payloadB64)
    .digest();
  return `v1.${payloadB64}.${b64u(mac)}`;
}

/** The name of edge-auth's own cache in the location (`caches.open`, src/platform/fetch.rs CACHE_NAME). */
export const EDGE_AUTH_CACHE = 'edge-auth';
/** The headers edge-auth stores beside an IdP document in its cache: expiry and MAC. */
export const FRESH_UNTIL_HEADER = 'x-edge-auth-fresh-until';
export const DOCUMENT_MAC_HEADER = 'x-edge-auth-mac';

/**
 * The MAC edge-auth stores beside an IdP document in its cache (KeyRing::document_mac, codec.rs), with the first
 * key of `sessionKeys` (a SESSION_KEYS value): base64url(HMAC-SHA256(k_document, "edge-auth\0v1\0idp-document\0"
 * || u64be(len(url)) || url || u64be(freshUntil) || body)), k_document = HKDF(key, label "edge-auth v1
 * idp-document mac").
 */
export function documentMac(sessionKeys, url, freshUntil, body) {
  const first = String(sessionKeys).split(',').map((k) => k.trim()).find(Boolean);
  const k = Buffer.from(hkdfSync('sha256', keyBytes(first), HKDF_SALT, 'edge-auth v1 idp-document mac', 32));
  const u = Buffer.from(url, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64BE(BigInt(u.length));
  const until = Buffer.alloc(8);
  until.writeBigUInt64BE(BigInt(freshUntil));
  return b64u(
    createHmac('sha256', k)
      .update(Buffer.from('edge-auth\0v1\0idp-document\0', 'binary'))
      .update(len)
      .update(u)
      .update(until)
      .update(Buffer.from(body))
      .digest(),
  );
}

/** The payload of a sealed cookie value (no verification). */
export function openCookieUnverified(value) {
  const [, payload] = String(value).split('.');
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
}

/**
 * A valid edge-auth session cookie value (signed, v1) for the benchmark: `session` is the Session record
 * (src/core/session/record.rs; `cid` = connector id), sealed with the first SESSION_KEYS key.
 */
export function sealEdgeAuthSession({ sessionKey, cookieName = 'edge-auth-session', session }) {
  return sealCookie({ key: sessionKey, purpose: 'session', cookieName, payload: session });
}
