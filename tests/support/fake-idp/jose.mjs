// JOSE for the fake identity providers: keys (npm `jose` to generate and export), and compact JWS put together
// byte by byte and signed with node:crypto, so a case can produce anything a real attacker could (alg "none",
// HMAC keyed with a public key, DER ECDSA signatures, duplicate JSON members, ...).
import { constants, createHash, createHmac, generateKeyPairSync, KeyObject, sign as nodeSign } from 'node:crypto';

import * as jose from 'jose';

/** Put in a `claims`/`header`/`authResponse` override to remove that member. */
export const OMIT = Symbol('omit');

export const b64u = (data) => Buffer.from(data).toString('base64url');

/** The JOSE key family an algorithm needs. */
export function familyOf(alg) {
  if (/^(RS|PS)(256|384|512)$/.test(alg)) return 'RSA';
  if (alg === 'ES256' || alg === 'ES256-DER') return 'EC-P-256';
  if (alg === 'ES384') return 'EC-P-384';
  if (alg === 'EdDSA' || alg === 'Ed25519') return 'OKP';
  return undefined;
}

// ------------------------------------------------------------------------------------------------------------
// Keys and raw JWS signing
// ------------------------------------------------------------------------------------------------------------

/**
 * Generate a signing key.
 * @param {object} [spec]
 * @param {string} [spec.alg="RS256"]   RS*, PS*, ES256, ES384, EdDSA
 * @param {string|null} [spec.kid]     default: the RFC 7638 thumbprint; null: the JWK has no kid
 * @param {number} [spec.modulusLength=2048]  RSA only; below 2048 node:crypto is used (jose refuses weak keys)
 * @param {object} [spec.jwk]           extra public-JWK members (e.g. { alg: "RS256" }); `use: "sig"` by default
 * @param {boolean} [spec.published=true] in the served JWKS
 * @returns {Promise<KeyRecord>} { kid, alg, family, privateKey, publicKey (KeyObjects), publicJwk, pem, published }
 */
export async function generateKey({ alg = 'RS256', kid, modulusLength = 2048, jwk = {}, published = true } = {}) {
  const family = familyOf(alg);
  if (!family) throw new Error(`generateKey: unsupported alg ${alg}`);
  let privateKey;
  let publicKey;
  if (family === 'RSA' && modulusLength < 2048) {
    ({ privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength, publicExponent: 0x10001 }));
  } else {
    const joseAlg = alg === 'ES256-DER' ? 'ES256' : alg;
    const pair = await jose.generateKeyPair(joseAlg, { modulusLength, extractable: true });
    privateKey = KeyObject.from(pair.privateKey);
    publicKey = KeyObject.from(pair.publicKey);
  }
  const exported = await jose.exportJWK(publicKey);
  const thumbprint = await jose.calculateJwkThumbprint(exported);
  const resolvedKid = kid === undefined ? thumbprint : kid;
  const publicJwk = { ...exported, ...(resolvedKid === null ? {} : { kid: resolvedKid }), use: 'sig', ...jwk };
  for (const [k, v] of Object.entries(publicJwk)) if (v === OMIT) delete publicJwk[k];
  return {
    kid: resolvedKid,
    alg,
    family,
    bits: family === 'RSA' ? publicKey.asymmetricKeyDetails.modulusLength : undefined,
    privateKey,
    publicKey,
    publicJwk,
    thumbprint,
    pem: publicKey.export({ type: 'spki', format: 'pem' }),
    published,
  };
}

function signingKeyObject(key) {
  if (key && key.privateKey) return key.privateKey;
  return key;
}

/**
 * Sign `signingInput` with `alg`. Beyond the JOSE names: "none" (empty signature), "ES256-DER" (ECDSA with a
 * DER-encoded signature instead of JOSE's raw r||s), HS* with any key bytes (string/Buffer).
 */
export function rawSign(alg, key, signingInput) {
  const data = Buffer.from(signingInput);
  let m;
  if (alg === 'none') return Buffer.alloc(0);
  if ((m = /^HS(256|384|512)$/.exec(alg))) return createHmac(`sha${m[1]}`, key).update(data).digest();
  const k = signingKeyObject(key);
  if ((m = /^RS(256|384|512)$/.exec(alg))) return nodeSign(`sha${m[1]}`, data, k);
  if ((m = /^PS(256|384|512)$/.exec(alg))) {
    return nodeSign(`sha${m[1]}`, data, { key: k, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(m[1]) / 8 });
  }
  if (alg === 'ES256') return nodeSign('sha256', data, { key: k, dsaEncoding: 'ieee-p1363' });
  if (alg === 'ES384') return nodeSign('sha384', data, { key: k, dsaEncoding: 'ieee-p1363' });
  if (alg === 'ES256-DER') return nodeSign('sha256', data, { key: k, dsaEncoding: 'der' });
  if (alg === 'EdDSA' || alg === 'Ed25519') return nodeSign(null, data, k);
  throw new Error(`rawSign: unsupported alg ${alg}`);
}

/**
 * A compact JWS. `header`/`payload` are objects (JSON-encoded) or strings (used byte for byte, e.g. JSON
 * with duplicate members). The signature is computed with `alg` (default: header.alg) and `key`.
 * @returns {string}
 */
export function compactJws(header, payload, { alg, key } = {}) {
  const h = typeof header === 'string' ? header : JSON.stringify(header);
  const p = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const input = `${b64u(h)}.${b64u(p)}`;
  const signAlg = alg ?? (typeof header === 'object' ? header.alg : JSON.parse(h).alg);
  return `${input}.${b64u(rawSign(signAlg, key, input))}`;
}

/** `at_hash` / `c_hash` (OIDC Core 3.1.3.6) of `value` for a SHA-2 alg. */
export function halfHash(alg, value) {
  const bits = /(256|384|512)$/.exec(alg)?.[1] ?? '512';
  const d = createHash(`sha${bits}`).update(value).digest();
  return b64u(d.subarray(0, d.length / 2));
}

/** `base` with `overrides` applied (OMIT removes a member; a function gets (base, ctx)). */
export function applyOverrides(base, overrides, ctx) {
  if (overrides === undefined || overrides === null) return { ...base };
  if (typeof overrides === 'function') return overrides({ ...base }, ctx);
  const out = { ...base };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === OMIT) delete out[k];
    else out[k] = v;
  }
  return out;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));


/** Decode a compact JWS's payload (no verification): for assertions on what a provider issued. */
export function jwtPayload(token) {
  return JSON.parse(Buffer.from(String(token).split('.')[1], 'base64url').toString('utf8'));
}

/** RFC 6749 2.3.1 client authentication of a token request: `client_secret_basic`, `client_secret_post` or
 * none; `{ error }` for a malformed header, both methods at once, or a body `client_id` the header contradicts. */
export function clientAuthentication(req, form) {
  const header = req.headers.authorization;
  let basic;
  if (header) {
    const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
    if (!m) return { error: 'malformed Authorization header' };
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) return { error: 'Basic credentials without ":"' };
    // RFC 6749 2.3.1: client_id and secret are form-urlencoded before Basic encoding.
    const unform = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
    basic = { clientId: unform(decoded.slice(0, i)), secret: unform(decoded.slice(i + 1)) };
  }
  const post = form.get('client_secret') !== null ? { clientId: form.get('client_id'), secret: form.get('client_secret') } : undefined;
  if (basic && post) return { error: 'more than one client authentication method' };
  if (basic) {
    if (form.get('client_id') !== null && form.get('client_id') !== basic.clientId) {
      return { error: 'client_id in the body differs from the Basic credentials' };
    }
    return { method: 'client_secret_basic', ...basic };
  }
  if (post) return { method: 'client_secret_post', ...post };
  return { method: 'none', clientId: form.get('client_id') };
}
