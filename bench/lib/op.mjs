// A small local OpenID Provider for the benchmark (node:http + node:crypto, no library between us and the
// wire): discovery, JWKS (one RSA-2048 key for RS256, one P-256 key for ES256), an authorization endpoint that
// approves at once (302 back with code, state, iss), and a token endpoint that checks client_secret_basic
// and PKCE S256 and returns a signed ID token. It answers the worker's token request locally, so the
// callback figure is the worker's own work plus one loopback round trip.
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import http from 'node:http';

const b64u = (data) => Buffer.from(data).toString('base64url');

function makeKey(alg) {
  const { privateKey, publicKey } =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const kid = `${alg.toLowerCase()}-${randomBytes(6).toString('hex')}`;
  return { alg, kid, privateKey: createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' })), jwk: { ...jwk, kid, alg, use: 'sig' } };
}

function signJws(key, claims) {
  const header = b64u(JSON.stringify({ alg: key.alg, kid: key.kid, typ: 'JWT' }));
  const payload = b64u(JSON.stringify(claims));
  const input = Buffer.from(`${header}.${payload}`);
  const sig =
    key.alg === 'RS256'
      ? sign('sha256', input, key.privateKey)
      : sign('sha256', input, { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${header}.${payload}.${b64u(sig)}`;
}

/**
 * @param {object} opts
 * @param {{client_id: string, client_secret: string, alg: 'RS256'|'ES256'}[]} opts.clients
 * @returns {Promise<{issuer: string, port: number, counts: Record<string, number>, close(): Promise<void>}>}
 */
export async function startOp({ clients }) {
  const keys = { RS256: makeKey('RS256'), ES256: makeKey('ES256') };
  const clientMap = new Map(clients.map((c) => [c.client_id, c]));
  const codes = new Map();
  const counts = {};
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  const issuer = `http://127.0.0.1:${port}`;
  const discovery = JSON.stringify({
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256', 'ES256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic'],
    code_challenge_methods_supported: ['S256'],
    scopes_supported: ['openid', 'profile', 'email'],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nonce', 'email', 'email_verified', 'name'],
    authorization_response_iss_parameter_supported: true,
  });
  const jwks = JSON.stringify({ keys: [keys.RS256.jwk, keys.ES256.jwk] });

  const send = (res, status, type, body, headers = {}) => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
    res.end(body);
  };
  const oauthError = (res, status, error, description) =>
    send(res, status, 'application/json', JSON.stringify({ error, error_description: description }));

  server.on('request', (req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const url = new URL(req.url, issuer);
      counts[url.pathname] = (counts[url.pathname] || 0) + 1;
      if (url.pathname === '/.well-known/openid-configuration') return send(res, 200, 'application/json', discovery);
      if (url.pathname === '/jwks') return send(res, 200, 'application/json', jwks);
      if (url.pathname === '/authorize') {
        const q = Object.fromEntries(url.searchParams);
        if (!clientMap.has(q.client_id) || q.response_type !== 'code' || q.code_challenge_method !== 'S256' || !q.state || !q.nonce) {
          return send(res, 400, 'text/plain', `bench-op: invalid authorization request ${url.search}`);
        }
        const code = randomBytes(24).toString('base64url');
        codes.set(code, { ...q });
        const target = new URL(q.redirect_uri);
        target.searchParams.set('code', code);
        target.searchParams.set('state', q.state);
        target.searchParams.set('iss', issuer);
        return send(res, 302, 'text/plain', '', { location: target.href });
      }
      if (url.pathname === '/token' && req.method === 'POST') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization || '');
        if (!m) return oauthError(res, 401, 'invalid_client', 'client_secret_basic expected');
        const decoded = Buffer.from(m[1], 'base64').toString('utf8');
        const i = decoded.indexOf(':');
        const unform = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
        const clientId = unform(decoded.slice(0, i));
        const client = clientMap.get(clientId);
        if (!client || client.client_secret !== unform(decoded.slice(i + 1))) return oauthError(res, 401, 'invalid_client', 'bad credentials');
        const code = codes.get(form.get('code'));
        codes.delete(form.get('code'));
        if (!code || code.client_id !== clientId || code.redirect_uri !== form.get('redirect_uri')) {
          return oauthError(res, 400, 'invalid_grant', 'unknown code');
        }
        const challenge = b64u(createHash('sha256').update(form.get('code_verifier') || '').digest());
        if (challenge !== code.code_challenge) return oauthError(res, 400, 'invalid_grant', 'PKCE');
        const now = Math.floor(Date.now() / 1000);
        const email = code.login_hint || `alice@${client.domain}`;
        const idToken = signJws(keys[client.alg], {
          iss: issuer,
          sub: `sub-${email}`,
          aud: clientId,
          exp: now + 300,
          iat: now,
          nonce: code.nonce,
          email,
          email_verified: true,
          name: 'Alice Bench',
        });
        return send(
          res,
          200,
          'application/json',
          JSON.stringify({ access_token: randomBytes(24).toString('base64url'), token_type: 'Bearer', expires_in: 300, id_token: idToken }),
        );
      }
      return send(res, 404, 'text/plain', `bench-op: nothing at ${req.method} ${url.pathname}`);
    });
  });

  return {
    issuer,
    port,
    counts,
    async close() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
