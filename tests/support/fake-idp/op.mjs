// A scriptable ("hostile") OpenID Provider: the attack suites' provider, and the benchmark's local OP.
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
// The worker in front of it (tests/support/stacks.mjs):
//   const stack = await startHostileStack({ connectors: [{ id: 'main' }, { id: 'post', authMethod: 'client_secret_post' }] });
//   await expectRefused(stack, { connector: 'main', spec: { claims: { aud: 'other' } }, code: 'id_token_invalid', reason: /aud/ });
//   await stack.close();
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

import { applyOverrides, b64u, clientAuthentication, compactJws, familyOf, generateKey, OMIT, sleep } from './jose.mjs';
import { listenTracked } from '../../../dev/listen.mjs';

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
 *        alg?: default ID-token alg (RS256), domain?: the signed-in user's domain when the authorization request
 *        has no login_hint (default `${name}.example`) }
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
  const { server, sockets, port: actualPort } = await listenTracked(port, host);
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
    const email = code.loginHint || `alice@${client.domain ?? `${name}.example`}`;
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
