// A hostile OpenID Provider for edge-auth's attack tests, and the helpers that drive a case end to end
// through the real worker in workerd.
//
// The provider is a plain node:http server (no OpenID library between the test and the wire): it serves
// discovery, a JWKS and a token endpoint, auto-approves every authorization request (302 straight back to the
// redirect URI, no login page) and, at the token endpoint, returns whatever ID token the current *case* asks
// for. Keys are generated and exported with npm `jose`; tokens are put together byte by byte and signed with
// node:crypto, so a case can produce anything a real attacker could (alg "none", HMAC keyed with the public
// key, embedded keys, duplicate JSON members, DER ECDSA signatures, ...). It is still a correct provider where
// a case does not say otherwise: it checks the client authentication it receives (the registered
// `token_endpoint_auth_method` only, right secret), PKCE S256, the redirect URI, and single use of codes.
//
//   const op = await startHostileOp({ clients: [{ client_id, client_secret, token_endpoint_auth_method }] });
//   op.setCase({ claims: { nonce: 'wrong' } });    // the next tokens carry a wrong nonce
//   op.setCase({ header: { alg: 'none' }, signAs: 'none' });
//   op.setCase((ctx) => ({ idToken: ctx.sign({ alg: 'HS256' }, ctx.claims, { key: op.key('RS256').pem }) }));
//   op.setCase(null);                                // back to valid tokens
//   op.rotateKeys({ alg: 'RS256' });                 // a new current RSA key; the old one stays published
//   op.count('/jwks');                               // how many times the worker fetched the JWKS
//   op.setDelay('/token', 15_000);                   // a slow provider: hold token requests 15 s (socket open)
//   op.setCacheControl('/jwks', 'public, max-age=600'); // what discovery/JWKS answers say (default no-store)
//   op.setCacheControl('/userinfo', OMIT);          // ... or no Cache-Control at all
//   op.setDiscovery({ userinfo_endpoint: `${op.issuer}/userinfo` }); // advertise the built-in UserInfo endpoint
//   await op.close();
//
//   const stack = await startHostileStack({ connectors: [{ id: 'main' }, { id: 'post', authMethod: 'client_secret_post' }] });
//   await expectRefused(stack, { connector: 'main', spec: { claims: { aud: 'other' } }, code: 'id_token_invalid', reason: /aud/ });
//   await stack.close();
import assert from 'node:assert/strict';
import {
  constants,
  createHash,
  createHmac,
  generateKeyPairSync,
  hkdfSync,
  KeyObject,
  randomBytes,
  sign as nodeSign,
  timingSafeEqual,
} from 'node:crypto';
import http from 'node:http';

import * as jose from 'jose';

import { assertNoSessionSet, assertRefusal, me } from './assert.mjs';
import { Browserless, freePort, randomKey, SESSION_COOKIE, startWorker, TX_COOKIE, WorkerLog } from './harness.mjs';

export { WorkerLog };

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

function applyOverrides(base, overrides, ctx) {
  if (overrides === undefined || overrides === null) return { ...base };
  if (typeof overrides === 'function') return overrides({ ...base }, ctx);
  const out = { ...base };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === OMIT) delete out[k];
    else out[k] = v;
  }
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------------------------
// The provider
// ------------------------------------------------------------------------------------------------------------

/**
 * Start a hostile OpenID Provider on 127.0.0.1.
 *
 * @param {object} [opts]
 * @param {number} [opts.port=0]
 * @param {string} [opts.name]             for messages
 * @param {object[]} [opts.clients]       { client_id, client_secret, token_endpoint_auth_method
 *        ("client_secret_basic" | "client_secret_post"), redirect_uris?: string[] (exact match when given),
 *        alg?: default ID-token alg (RS256) }
 * @param {object[]} [opts.keys]          key specs for generateKey (default: one RS256 and one ES256 key)
 * @param {boolean} [opts.issParameter=false] advertise authorization_response_iss_parameter_supported and send
 *        `iss` in authorization responses (RFC 9207)
 * @param {object|function} [opts.discovery] overrides of the discovery document (see setDiscovery)
 * @param {object|function} [opts.jwks]   JWKS override (see setJwks)
 * @param {boolean} [opts.codeReuse=false] redeem a code more than once (a broken provider)
 * @param {object} [opts.delays]          { [path]: ms }: hold requests to that path (see setDelay). Default: none
 * @param {object} [opts.cacheControl]    { [path]: value }: the Cache-Control of the discovery document and the JWKS
 *        (see setCacheControl). Default: `no-store`, like every other answer
 * @returns {Promise<HostileOp>}
 */
export async function startHostileOp({
  port = 0,
  host = '127.0.0.1',
  name = 'hostile-op',
  clients = [],
  keys: keySpecs = [{ alg: 'RS256' }, { alg: 'ES256' }],
  issParameter = false,
  discovery,
  jwks,
  codeReuse = false,
  delays: delaySpecs = {},
  cacheControl: cacheControlSpecs = {},
} = {}) {
  const server = http.createServer();
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = server.address().port;
  const issuer = `http://${host}:${actualPort}`;

  const keys = [];
  for (const spec of keySpecs) keys.push(await generateKey(spec));

  const clientMap = new Map(
    clients.map((c) => [
      c.client_id,
      { token_endpoint_auth_method: 'client_secret_basic', alg: 'RS256', ...c },
    ]),
  );
  const codes = new Map();
  /** Issued access tokens -> the UserInfo answer of their user ({ sub, email, email_verified }). */
  const accessTokens = new Map();
  const statics = new Map();
  let currentCase = null;
  let discoveryOverride = discovery;
  let jwksOverride = jwks;
  const delays = new Map(Object.entries(delaySpecs));
  const cacheControls = new Map(Object.entries(cacheControlSpecs));
  const cacheHeaders = (path) => (cacheControls.has(path) ? { 'cache-control': cacheControls.get(path) } : {});
  const holds = new Set(); // pending hold timers, cancelled by close()
  const holdFor = (ms) =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        holds.delete(t);
        resolve();
      }, ms);
      holds.add(t);
    });

  /** @typedef {object} HostileOp */
  const op = {
    name,
    issuer,
    port: actualPort,
    keys,
    clients: clientMap,
    /** Redeem codes more than once (a provider that does not enforce single use). */
    codeReuse,
    /** Always mint tokens early in a second (see the case's alignClock). */
    alignClock: false,
    issParameter,
    /** Every request received: { method, path, query, headers, body, at } */
    requests: [],
    /** Authorization requests: the query parameters. */
    authRequests: [],
    /** Token requests: { clientId, authMethod, code, outcome, idToken? } */
    tokenRequests: [],

    /**
     * The case for the next token responses (persists until changed; null = valid tokens). Either an object
     * or `(ctx) => object`, with (all optional):
     *   claims      overrides of the default claims (OMIT removes) or (claims, ctx) => claims
     *   header      overrides of the default header {alg, kid, typ} or (header, ctx) => header
     *   rawHeader / rawClaims   exact JSON text for the header / payload (duplicate members, ...)
     *   key         signing key: a key record, KeyObject, HMAC bytes, or an alg name (op.key(alg))
     *   signAs      the algorithm actually used to sign (default header.alg), e.g. "ES256-DER", "none"
     *   signature   (sigBytes, ctx) => Buffer: replace the signature
     *   mangle      (compactToken, ctx) => string: edit the finished token
     *   idToken     a string, or (ctx) => string: the token, verbatim (everything above ignored)
     *   tokenResponse (body, ctx) => body | { status, body } : edit the token endpoint's answer
     *   authResponse  overrides of the authorization response parameters {code, state, iss} (OMIT removes;
     *               object cases only: a function case is only called at the token endpoint)
     *   alignClock  mint early in a second (waits when less than 150 ms of the current second remain), so
     *               that the worker checks in the same second: exact time-edge tests (object cases; or set
     *               op.alignClock)
     * ctx: { op, issuer, client, clientId, nonce, state, code, loginHint, email, now, accessToken, header,
     *        claims, key, sign(header, payload, {alg, key}), keyFor(alg) }
     */
    setCase(spec) {
      currentCase = spec ?? null;
    },
    get currentCase() {
      return currentCase;
    },

    /** Discovery document overrides: an object (OMIT removes), (doc) => doc|string, or null. */
    setDiscovery(override) {
      discoveryOverride = override ?? undefined;
    },
    /** JWKS override: an object, (jwks) => jwks|string, or null (the published keys). */
    setJwks(override) {
      jwksOverride = override ?? undefined;
    },
    /**
     * A slow provider: hold every request to `path` for `ms` milliseconds before handling it (the connection
     * stays open, nothing is sent meanwhile; the request is logged at arrival with `held: ms`). 0 or null:
     * answer at once again. close() cancels pending holds (those requests are never answered).
     */
    setDelay(path, ms) {
      if (ms) delays.set(path, ms);
      else delays.delete(path);
    },
    /**
     * The `Cache-Control` of the answers at `path` (the discovery document, `/jwks` or `/userinfo`); null:
     * `no-store` again; OMIT: no Cache-Control header at all.
     */
    setCacheControl(path, value) {
      if (value) cacheControls.set(path, value);
      else cacheControls.delete(path);
    },
    /** Serve a fixed document at `path` (e.g. an attacker's JWKS for a jku test). */
    serve(path, { status = 200, type = 'application/json', body }) {
      statics.set(path, { status, type, body: typeof body === 'string' ? body : JSON.stringify(body) });
    },

    /** The current (most recently added, published) key for `alg`'s family. */
    key(alg = 'RS256') {
      const family = familyOf(alg);
      const k = keys.filter((x) => x.family === family && x.published).at(-1);
      if (!k) throw new Error(`${name}: no published ${family} key`);
      return k;
    },
    /** Add a key (generateKey spec); it becomes the current key of its family when published. */
    async addKey(spec) {
      const k = await generateKey(spec);
      keys.push(k);
      return k;
    },
    /**
     * Key rotation: a new current key for `alg`'s family. The previous keys stay published unless `retire`.
     * @returns {Promise<{previous: object, current: object}>}
     */
    async rotateKeys({ alg = 'RS256', retire = false, ...spec } = {}) {
      const previous = op.key(alg);
      if (retire) for (const k of keys) if (k.family === familyOf(alg)) k.published = false;
      const current = await op.addKey({ alg, ...spec });
      return { previous, current };
    },
    /** The JWKS as served (before setJwks overrides). */
    publishedJwks() {
      return { keys: keys.filter((k) => k.published).map((k) => k.publicJwk) };
    },
    discoveryDocument() {
      const doc = {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        response_modes_supported: ['query', 'form_post'],
        grant_types_supported: ['authorization_code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256', 'PS256', 'ES256', 'EdDSA'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        code_challenge_methods_supported: ['S256'],
        scopes_supported: ['openid', 'profile', 'email'],
        claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nonce', 'email', 'email_verified', 'name'],
        authorization_response_iss_parameter_supported: op.issParameter,
      };
      if (typeof discoveryOverride === 'function') return discoveryOverride(doc);
      return applyOverrides(doc, discoveryOverride);
    },

    /** How many requests reached `path` (optionally only since `mark()`). */
    count(path, since = 0) {
      return op.requests.slice(since).filter((r) => r.path === path).length;
    },
    /** A position in the request log, for count(path, mark). */
    mark() {
      return op.requests.length;
    },
    async close() {
      for (const t of holds) clearTimeout(t);
      holds.clear();
      server.closeAllConnections?.();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };

  const resolveSigningKey = (key, alg) => {
    if (key === undefined) return familyOf(alg) ? op.key(alg) : undefined;
    if (typeof key === 'string' && familyOf(key)) return op.key(key);
    return key;
  };

  // An object case applies as is; a function case is called at the token endpoint with the full ctx.
  const objectCase = () => (currentCase && typeof currentCase === 'object' ? currentCase : {});

  async function mintIdToken(ctx, spec) {
    if (spec.idToken !== undefined) return typeof spec.idToken === 'function' ? spec.idToken(ctx) : spec.idToken;
    const header = applyOverrides(ctx.header, spec.header, ctx);
    const claims = applyOverrides(ctx.claims, spec.claims, ctx);
    const signAs = spec.signAs ?? (typeof header.alg === 'string' ? header.alg : 'RS256');
    const key = resolveSigningKey(spec.key, familyOf(signAs) ? signAs : ctx.header.alg);
    const h = spec.rawHeader ?? header;
    const p = spec.rawClaims ?? claims;
    let token = compactJws(h, p, { alg: signAs, key });
    if (spec.signature) {
      const [hh, pp, ss] = token.split('.');
      token = `${hh}.${pp}.${b64u(spec.signature(Buffer.from(ss, 'base64url'), ctx))}`;
    }
    if (spec.mangle) token = spec.mangle(token, ctx);
    return token;
  }

  // ---- HTTP -----------------------------------------------------------------------------------------------

  const send = (res, status, type, body, headers = {}) => {
    const all = { 'content-type': type, 'cache-control': 'no-store', ...headers };
    for (const [k, v] of Object.entries(all)) if (v === OMIT) delete all[k];
    res.writeHead(status, all);
    res.end(body);
  };
  const json = (res, status, body, headers) => send(res, status, 'application/json', JSON.stringify(body), headers);
  const oauthError = (res, status, error, description) =>
    json(res, status, { error, error_description: `${name}: ${description}` });

  async function authorize(req, res, url) {
    const q = Object.fromEntries(url.searchParams);
    op.authRequests.push(q);
    const problems = [];
    const client = clientMap.get(q.client_id);
    if (!client) problems.push(`unknown client_id ${q.client_id}`);
    if (q.response_type !== 'code') problems.push(`response_type ${q.response_type}`);
    if (!q.redirect_uri) problems.push('no redirect_uri');
    else if (client?.redirect_uris && !client.redirect_uris.includes(q.redirect_uri)) {
      problems.push(`unregistered redirect_uri ${q.redirect_uri}`);
    }
    if (!String(q.scope || '').split(' ').includes('openid')) problems.push('scope without openid');
    if (q.code_challenge_method !== 'S256' || !q.code_challenge) problems.push('no PKCE S256');
    if (!q.state) problems.push('no state');
    if (!q.nonce) problems.push('no nonce');
    if (problems.length) return send(res, 400, 'text/plain', `${name}: invalid authorization request: ${problems.join('; ')}`);

    const code = randomBytes(24).toString('base64url');
    codes.set(code, {
      clientId: q.client_id,
      redirectUri: q.redirect_uri,
      nonce: q.nonce,
      state: q.state,
      codeChallenge: q.code_challenge,
      loginHint: q.login_hint,
      redemptions: 0,
    });
    const params = applyOverrides(
      { code, state: q.state, ...(op.issParameter ? { iss: issuer } : {}) },
      objectCase().authResponse,
      { op, issuer, authRequest: q },
    );
    if (q.response_mode === 'form_post') {
      const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
      const inputs = Object.entries(params)
        .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
        .join('');
      return send(
        res,
        200,
        'text/html; charset=utf-8',
        `<!doctype html><html><body onload="document.forms[0].submit()"><form method="post" action="${esc(q.redirect_uri)}">${inputs}</form></body></html>`,
      );
    }
    const target = new URL(q.redirect_uri);
    for (const [k, v] of Object.entries(params)) target.searchParams.append(k, v);
    return send(res, 302, 'text/plain', '', { location: target.href });
  }

  function clientAuthentication(req, form) {
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

  const sameSecret = (a, b) => {
    const ha = createHash('sha256').update(String(a)).digest();
    const hb = createHash('sha256').update(String(b)).digest();
    return timingSafeEqual(ha, hb);
  };

  async function token(req, res, body) {
    const form = new URLSearchParams(body);
    const record = { clientId: undefined, authMethod: undefined, code: form.get('code'), outcome: 'pending' };
    op.tokenRequests.push(record);
    const refuse = (status, error, why) => {
      record.outcome = `${error}: ${why}`;
      return oauthError(res, status, error, why);
    };
    if (!String(req.headers['content-type'] || '').startsWith('application/x-www-form-urlencoded')) {
      return refuse(400, 'invalid_request', `content-type ${req.headers['content-type']}`);
    }
    const auth = clientAuthentication(req, form);
    if (auth.error) return refuse(401, 'invalid_client', auth.error);
    record.clientId = auth.clientId;
    record.authMethod = auth.method;
    const client = clientMap.get(auth.clientId);
    if (!client) return refuse(401, 'invalid_client', `unknown client ${auth.clientId}`);
    if (auth.method !== client.token_endpoint_auth_method) {
      return refuse(401, 'invalid_client', `client authenticated with ${auth.method}, registered ${client.token_endpoint_auth_method}`);
    }
    if (!sameSecret(auth.secret, client.client_secret)) return refuse(401, 'invalid_client', 'wrong client secret');
    if (form.get('grant_type') !== 'authorization_code') return refuse(400, 'unsupported_grant_type', form.get('grant_type'));
    const code = codes.get(form.get('code'));
    if (!code) return refuse(400, 'invalid_grant', 'unknown code');
    if (code.clientId !== auth.clientId) return refuse(400, 'invalid_grant', 'code issued to another client');
    if (code.redemptions > 0 && !op.codeReuse) return refuse(400, 'invalid_grant', 'code already redeemed');
    if (form.get('redirect_uri') !== code.redirectUri) return refuse(400, 'invalid_grant', 'redirect_uri differs');
    const verifier = form.get('code_verifier') || '';
    if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier) || b64u(createHash('sha256').update(verifier).digest()) !== code.codeChallenge) {
      return refuse(400, 'invalid_grant', 'PKCE verification failed');
    }
    code.redemptions += 1;

    if (objectCase().alignClock || op.alignClock) {
      // Exact time-edge cases: mint at the start of a second, so that the worker checks within the same second.
      const ms = Date.now() % 1000;
      if (ms > 850) await sleep(1000 - ms + 5);
    }
    const now = Math.floor(Date.now() / 1000);
    const email = code.loginHint || `alice@${name}.example`;
    const accessToken = randomBytes(24).toString('base64url');
    const alg = client.alg || 'RS256';
    const defaultKey = op.key(alg);
    const ctx = {
      op,
      issuer,
      client,
      clientId: client.client_id,
      nonce: code.nonce,
      state: code.state,
      code: form.get('code'),
      loginHint: code.loginHint,
      email,
      now,
      accessToken,
      key: defaultKey,
      header: { alg, ...(defaultKey.kid === null ? {} : { kid: defaultKey.kid }), typ: 'JWT' },
      claims: {
        iss: issuer,
        sub: `sub-${email}`,
        aud: client.client_id,
        exp: now + 300,
        iat: now,
        nonce: code.nonce,
        email,
        email_verified: true,
        name: 'Alice Hostile',
      },
      sign: (header, payload, opts = {}) => compactJws(header, payload, { ...opts, key: resolveSigningKey(opts.key, opts.alg ?? header.alg) }),
      keyFor: (a) => op.key(a),
    };
    const spec = typeof currentCase === 'function' ? currentCase(ctx) || {} : objectCase();
    let idToken;
    try {
      idToken = await mintIdToken(ctx, spec);
    } catch (err) {
      return refuse(500, 'server_error', `the case threw: ${err.stack || err}`);
    }
    record.idToken = idToken;
    accessTokens.set(accessToken, { sub: ctx.claims.sub, email, email_verified: true });
    let out = { status: 200, body: { access_token: accessToken, token_type: 'Bearer', expires_in: 300, id_token: idToken } };
    if (spec.tokenResponse) {
      const edited = spec.tokenResponse(out.body, ctx);
      out = edited && 'status' in edited && 'body' in edited ? edited : { status: 200, body: edited };
    }
    record.outcome = `issued (${out.status})`;
    const text = typeof out.body === 'string' ? out.body : JSON.stringify(out.body);
    return send(res, out.status, 'application/json', text);
  }

  server.on('request', (req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url, issuer);
      const entry = { method: req.method, path: url.pathname, query: url.search, headers: req.headers, body, at: Date.now() };
      op.requests.push(entry);
      const hold = delays.get(url.pathname);
      if (hold) {
        entry.held = hold;
        await holdFor(hold);
        if (req.socket.destroyed) return; // the client gave up meanwhile
      }
      try {
        const path = url.pathname;
        if (statics.has(path)) {
          const s = statics.get(path);
          return send(res, s.status, s.type, s.body);
        }
        if (path === '/.well-known/openid-configuration' && req.method === 'GET') {
          const doc = op.discoveryDocument();
          return send(res, 200, 'application/json', typeof doc === 'string' ? doc : JSON.stringify(doc), cacheHeaders(path));
        }
        if (path === '/jwks' && req.method === 'GET') {
          let set = op.publishedJwks();
          if (typeof jwksOverride === 'function') set = jwksOverride(set);
          else if (jwksOverride !== undefined) set = jwksOverride;
          return send(res, 200, 'application/json', typeof set === 'string' ? set : JSON.stringify(set), cacheHeaders(path));
        }
        if (path === '/userinfo' && req.method === 'GET') {
          // The user the access token was issued for (not advertised in discovery unless a test says so).
          const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization || '');
          const user = m && accessTokens.get(m[1]);
          if (!user) return send(res, 401, 'application/json', JSON.stringify({ error: 'invalid_token' }), { 'www-authenticate': 'Bearer error="invalid_token"' });
          return send(res, 200, 'application/json', JSON.stringify(user), cacheHeaders(path));
        }
        if (path === '/authorize' && req.method === 'GET') return await authorize(req, res, url);
        if (path === '/token' && req.method === 'POST') return await token(req, res, body);
        return send(res, 404, 'text/plain', `${name}: nothing at ${req.method} ${path}`);
      } catch (err) {
        return send(res, 500, 'text/plain', `${name}: ${err.stack || err}`);
      }
    });
  });

  return op;
}

// ------------------------------------------------------------------------------------------------------------
// The worker in front of hostile providers
// ------------------------------------------------------------------------------------------------------------

/**
 * One worker with one connector per hostile provider.
 *
 * @param {object} opts
 * @param {object[]} opts.connectors  { id, domains=[`${id}.example`], authMethod="client_secret_basic"
 *        (registered at the OP), configAuthMethod (AUTH_CONFIG token_endpoint_auth_method; default: authMethod
 *        when it is not basic; null: leave it out), alg="RS256" (the OP's default ID-token alg),
 *        op: {startHostileOp options}, connector: {extra AUTH_CONFIG connector fields} }
 * @param {object} [opts.config]      extra top-level AUTH_CONFIG fields
 * @param {string} [opts.sessionKeys]
 * @returns {Promise<{worker, origin, ops: Record<string, object>, byId: Record<string, object>, logs: WorkerLog,
 *           config, secrets, sessionKeys, close()}>}
 */
export async function startHostileStack({ connectors, config: configExtra = {}, sessionKeys = randomKey(), worker: workerOpts = {} }) {
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const workerPort = await freePort();
    const redirectUris = [`http://127.0.0.1:${workerPort}/auth/callback`];
    const ops = {};
    const byId = {};
    const secrets = {};
    const cfgConnectors = [];
    try {
      for (const spec of connectors) {
        const id = spec.id;
        const authMethod = spec.authMethod || 'client_secret_basic';
        const clientId = spec.clientId || `edge-auth-${id}`;
        const clientSecret = spec.clientSecret || `secret-${id}-${randomKey(18)}`;
        const binding = `${id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_CLIENT_SECRET`;
        const op = await startHostileOp({
          name: id,
          ...(spec.op || {}),
          clients: [{ client_id: clientId, client_secret: clientSecret, token_endpoint_auth_method: authMethod, redirect_uris: redirectUris, alg: spec.alg || 'RS256' }],
        });
        ops[id] = op;
        const domains = spec.domains || [`${id}.example`];
        const configAuthMethod = spec.configAuthMethod !== undefined ? spec.configAuthMethod : authMethod === 'client_secret_basic' ? null : authMethod;
        cfgConnectors.push({
          id,
          kind: 'oidc',
          issuer: op.issuer,
          client_id: clientId,
          client_secret_binding: binding,
          domains,
          ...(configAuthMethod ? { token_endpoint_auth_method: configAuthMethod } : {}),
          ...(spec.connector || {}),
        });
        secrets[binding] = clientSecret;
        byId[id] = { id, domain: domains[0], domains, clientId, clientSecret, authMethod, op };
      }
    } catch (err) {
      await Promise.allSettled(Object.values(ops).map((o) => o.close()));
      throw err;
    }
    const config = { connectors: cfgConnectors, ...configExtra };
    let worker;
    try {
      worker = await startWorker({ config, secrets, sessionKeys, port: workerPort, ...workerOpts });
    } catch (err) {
      await Promise.allSettled(Object.values(ops).map((o) => o.close()));
      lastErr = err;
      if (/EADDRINUSE|address already in use/i.test(String(err?.message || err))) continue;
      throw err;
    }
    let closed = false;
    return {
      worker,
      origin: worker.url,
      ops,
      byId,
      logs: worker.logs,
      config,
      secrets,
      sessionKeys,
      async close() {
        if (closed) return;
        closed = true;
        const results = await Promise.allSettled([worker.dispose(), ...Object.values(ops).map((o) => o.close())]);
        const failed = results.find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
      },
    };
  }
  throw lastErr;
}

/**
 * The same stack seen through another worker (e.g. a second isolate on a fresh port, sharing a cache directory):
 * every provider also accepts that worker's callback URL, and the returned view drives sign-ins through it.
 * No port is ever freed and bound again.
 */
export function throughWorker(stack, worker) {
  for (const op of Object.values(stack.ops)) {
    for (const client of op.clients.values()) {
      const uri = `${worker.url}/auth/callback`;
      if (client.redirect_uris && !client.redirect_uris.includes(uri)) client.redirect_uris.push(uri);
    }
  }
  return { ...stack, worker, origin: worker.url };
}

// ------------------------------------------------------------------------------------------------------------
// End-to-end case helpers: login -> callback -> /auth/me through the real worker
// ------------------------------------------------------------------------------------------------------------

function describeLogin(res) {
  return res.chain.map((c) => `  ${c.method} ${c.status} ${c.url}${c.errorCode ? ` [${c.errorCode}]` : ''}`).join('\n');
}

/**
 * Run a login through connector `connector` with the current case of its provider. Returns Browserless.login's
 * result plus the Browserless `b`, the worker log lines written meanwhile and the token request(s) the provider saw.
 */
export async function loginThrough(stack, { connector, email, returnTo, b = new Browserless(), loginUrl, stopBeforeCallback } = {}) {
  const c = stack.byId[connector];
  assert.ok(c, `no connector ${connector}`);
  const logMark = stack.logs.mark();
  const opMark = c.op.tokenRequests.length;
  const res = await b.login({
    worker: stack.origin,
    email: loginUrl ? undefined : (email ?? `alice@${c.domain}`),
    login: email ?? `alice@${c.domain}`,
    returnTo,
    loginUrl,
    stopBeforeCallback,
  });
  return { b, ...res, logMark, tokenRequests: c.op.tokenRequests.slice(opMark) };
}

/**
 * A valid sign-in must succeed: 302 to a same-origin path, a session cookie, /auth/me 200 with the email.
 * `spec` (optional) is the provider case for this login only.
 */
export async function expectAccepted(stack, { connector, spec, email, returnTo, check } = {}) {
  const op = stack.byId[connector].op;
  const previous = op.currentCase;
  if (spec !== undefined) op.setCase(spec);
  try {
    const res = await loginThrough(stack, { connector, email, returnTo });
    const r = res.response;
    const lines = stack.logs.since(res.logMark).join('\n');
    assert.equal(r.status, 302, `expected the sign-in to be accepted\n${describeLogin(res)}\n${r.describe(600)}\nworker log:\n${lines}\nprovider token requests: ${JSON.stringify(res.tokenRequests.map((t) => t.outcome))}`);
    const landed = new URL(r.location);
    assert.equal(landed.origin, stack.origin, r.describe());
    assert.ok(r.setCookie(SESSION_COOKIE)?.value, `a session cookie is set\n${r.describe()}`);
    const session = await me(res.b, stack.origin, 200);
    const expectedEmail = (email ?? `alice@${stack.byId[connector].domain}`).toLowerCase();
    assert.equal(session.email, expectedEmail, JSON.stringify(session));
    assert.equal(session.connector, connector, JSON.stringify(session));
    if (check) await check({ ...res, session });
    return { ...res, session };
  } finally {
    if (spec !== undefined) op.setCase(previous);
  }
}

/**
 * A refused sign-in: the page of X-Edge-Auth-Error `code` (one code) with `status` (default: that code's status,
 * see assert.mjs STATUS_OF_CODE), no session cookie set, /auth/me stays 401, and the worker logged why: `reason`
 * (a RegExp on its log line; default: the refusal's own line `<path>: <code> (`); with `at`, the path of the
 * refusing response (e.g. "/auth/callback").
 * Then the very next valid sign-in through the same connector must succeed (nothing poisoned), unless
 * `recover: false`.
 */
export async function expectRefused(stack, { connector, spec, code, status, reason, email, recover = true, at } = {}) {
  const op = stack.byId[connector].op;
  const previous = op.currentCase;
  if (spec !== undefined) op.setCase(spec);
  let res;
  try {
    res = await loginThrough(stack, { connector, email });
  } finally {
    if (spec !== undefined) op.setCase(previous);
  }
  const r = res.response;
  const lines = stack.logs.since(res.logMark);
  const context = `\n${describeLogin(res)}\nworker log:\n${lines.join('\n')}\nprovider token requests: ${JSON.stringify(res.tokenRequests.map((t) => t.outcome))}`;
  try {
    assertRefusal(r, { status, code });
  } catch (err) {
    err.message += context;
    throw err;
  }
  if (at) assert.equal(new URL(r.url).pathname, at, `refused at ${at}${context}`);
  assertNoSessionSet(r);
  assert.equal(res.b.getCookie(SESSION_COOKIE, stack.origin), undefined, `no session cookie in the jar${context}`);
  const body = await me(res.b, stack.origin, 401);
  assert.equal(body.error, 'unauthenticated');
  const why = reason ?? new RegExp(`: ${code} \\(`);
  const line = await stack.logs.waitFor(why, res.logMark);
  assert.ok(line, `the worker log explains the refusal with ${why}${context}\n(log now: ${stack.logs.since(res.logMark).join(' | ')})`);
  if (recover) await expectAccepted(stack, { connector, email });
  return { ...res, logLines: lines };
}

// ------------------------------------------------------------------------------------------------------------
// The cookie codec (src/core/session/codec.rs), reimplemented to forge cookies
// ------------------------------------------------------------------------------------------------------------

const HKDF_SALT = 'edge-auth cookie keys';
const MAC_CONTEXT = Buffer.from('edge-auth\0v1\0', 'binary');
const PURPOSES = { session: 'session', 'login-transaction': 'login-transaction' };

function keyBytes(key) {
  // SESSION_KEYS entries: base64url or base64, padding optional.
  return Buffer.from(String(key).trim().replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'), 'base64url');
}

/** The MAC key for `purpose` ("session" | "login-transaction") derived from one SESSION_KEYS entry. */
export async function derivePurposeKey(key, purpose) {
  assert.ok(PURPOSES[purpose], `purpose ${purpose}`);
  return Buffer.from(hkdfSync('sha256', keyBytes(key), HKDF_SALT, `edge-auth v1 ${purpose} mac`, 32));
}

/**
 * Seal `payload` (object or string) as the worker does: `v1.<b64u(payload)>.<b64u(HMAC)>` with
 * HMAC = HMAC-SHA256(k_purpose, "edge-auth\0v1\0" || purpose || "\0" || cookieName || "\0" || payload_b64).
 */
export async function sealCookie({ key, purpose, cookieName, payload }) {
  const k = await derivePurposeKey(key, purpose);
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

export { SESSION_COOKIE, TX_COOKIE };
