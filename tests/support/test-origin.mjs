// A test origin for edge-auth's origin mode: an HTTP server on 127.0.0.1 that, like a real backend would,
// verifies the X-Edge-Auth-Assertion JWT with npm `jose` against the worker's GET /auth/jwks.json, and records
// every request it receives (headers, cookies, the verified assertion or why it failed).
//
//   const origin = await startTestOrigin();                 // listen first: the worker's config needs its URL
//   const stack = await startStack({ config: { origin: { url: origin.url } }, ... });
//   origin.setWorker(stack.worker.url);                     // iss of the assertions, and where the JWKS is
//   const r = await b.get(`${stack.worker.url}/x`);          // the origin answers 200 with JSON: what it saw
//   r.json().identity  // { email, user, assertion: {verified claims} } or null; .assertionError when invalid
//   r.json().rawHeaders // every header exactly as received: [[name, value], ...] in order
//   await origin.close();
import { execFileSync } from 'node:child_process';
import path from 'node:path';

import * as jose from 'jose';

import { ROOT, startStack } from './harness.mjs';
import { listenTracked } from '../../dev/listen.mjs';

/**
 * @param {object} [opts]
 * @param {string} [opts.workerOrigin] the worker's origin (or later, with setWorker)
 * @returns {Promise<{url: string, origin: string, port: number, requests: object[], setWorker(url: string): void,
 *          last(): object, close(): Promise<void>}>}
 */
export async function startTestOrigin({ workerOrigin } = {}) {
  let worker;
  let jwks;
  const setWorker = (url) => {
    worker = new URL(url).origin;
    jwks = jose.createRemoteJWKSet(new URL('/auth/jwks.json', worker));
  };
  if (workerOrigin) setWorker(workerOrigin);
  const requests = [];
  const { server, sockets, port } = await listenTracked(0, '127.0.0.1');
  const origin = `http://127.0.0.1:${port}`;

  /** Verify the assertion as an origin should: signature (worker JWKS), alg, iss, aud, exp; identity headers match. */
  async function verify(headers) {
    const token = headers['x-edge-auth-assertion'];
    const email = headers['x-auth-request-email'];
    const user = headers['x-auth-request-user'];
    const groups = headers['x-auth-request-groups'];
    const connector = headers['x-edge-auth-connector'];
    const issuer = headers['x-edge-auth-issuer'];
    const serviceToken = headers['x-edge-auth-service-token'];
    if ([token, email, user, groups, connector, issuer, serviceToken].every((v) => v === undefined)) return { identity: null };
    if (!worker) return { identity: null, assertionError: 'setWorker() was not called' };
    try {
      if (typeof token !== 'string') throw new Error('identity headers without an assertion');
      const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, {
        issuer: worker,
        audience: origin,
        algorithms: ['ES256'],
        requiredClaims: ['iat', 'exp', 'sub'],
      });
      if (payload.service_token !== undefined) {
        // A machine client's service token: its own identity, never a user's (no email, connector, issuer, groups).
        if (payload.sub !== `service-token:${payload.service_token}` || payload.sub !== decodeURIComponent(user ?? '')) {
          throw new Error(`X-Auth-Request-User ${user} / sub ${payload.sub} do not name service token ${payload.service_token}`);
        }
        if (decodeURIComponent(serviceToken ?? '') !== payload.service_token) {
          throw new Error(`X-Edge-Auth-Service-Token ${serviceToken} is not the assertion's ${payload.service_token}`);
        }
        for (const [name, v] of [['email', email], ['groups', groups], ['connector', connector], ['issuer', issuer]]) {
          if (v !== undefined) throw new Error(`a service token's request carries a ${name} header`);
        }
        for (const claim of ['email', 'name', 'connector', 'idp', 'groups']) {
          if (payload[claim] !== undefined) throw new Error(`a service token's assertion carries ${claim}`);
        }
        return { identity: { user: payload.sub, serviceToken: payload.service_token, assertion: payload, header: protectedHeader } };
      }
      if (serviceToken !== undefined) throw new Error('X-Edge-Auth-Service-Token on a user request');
      if (typeof payload.email !== 'string') throw new Error('the assertion has no email');
      if (payload.email !== decodeURIComponent(email ?? '')) {
        throw new Error(`X-Auth-Request-Email ${email} is not the assertion's email ${payload.email}`);
      }
      if (payload.sub !== decodeURIComponent(user ?? '')) {
        throw new Error(`X-Auth-Request-User ${user} is not the assertion's sub ${payload.sub}`);
      }
      // oauth2-proxy's comma-separated list, each element percent-encoded; absent when there are no groups.
      const headerGroups = groups === undefined ? [] : groups.split(',').map(decodeURIComponent);
      if (JSON.stringify(headerGroups) !== JSON.stringify(payload.groups ?? [])) {
        throw new Error(`X-Auth-Request-Groups ${groups} is not the assertion's groups ${JSON.stringify(payload.groups)}`);
      }
      if (payload.connector !== decodeURIComponent(connector ?? '')) {
        throw new Error(`X-Edge-Auth-Connector ${connector} is not the assertion's connector ${payload.connector}`);
      }
      if (payload.idp !== decodeURIComponent(issuer ?? '')) {
        throw new Error(`X-Edge-Auth-Issuer ${issuer} is not the assertion's idp ${payload.idp}`);
      }
      return { identity: { email: payload.email, user: payload.sub, assertion: payload, header: protectedHeader } };
    } catch (err) {
      return { identity: null, assertionError: `${err.code ?? err.name}: ${err.message}` };
    }
  }

  server.on('request', (req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const { identity, assertionError } = await verify(req.headers);
      const cookies = {};
      for (const part of String(req.headers.cookie ?? '').split(';')) {
        const i = part.indexOf('=');
        if (i > 0) cookies[part.slice(0, i).trim()] = part.slice(i + 1).trim();
      }
      const seen = {
        method: req.method,
        path: req.url,
        headers: req.headers,
        rawHeaderNames: req.rawHeaders.filter((_, i) => i % 2 === 0).map((h) => h.toLowerCase()),
        rawHeaders: req.rawHeaders.flatMap((h, i) => (i % 2 === 0 ? [[h, req.rawHeaders[i + 1]]] : [])),
        cookies,
        body,
        identity,
        assertionError,
      };
      requests.push(seen);
      const text = JSON.stringify(seen);
      // An origin with CORS of its own that reflects any Origin with credentials (what the worker must not let
      // through on a path its CORS rules cover): asked for by the test with `x-test-origin-cors: reflect`.
      const ownCors =
        req.headers['x-test-origin-cors'] === 'reflect' && req.headers.origin
          ? { 'access-control-allow-origin': req.headers.origin, 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'x-secret' }
          : {};
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-test-origin': '1', ...ownCors });
      res.end(text);
    });
  });

  let closed = false;
  return {
    url: origin,
    origin,
    port,
    requests,
    setWorker,
    last() {
      return requests[requests.length - 1];
    },
    async close() {
      if (closed) return;
      closed = true;
      await new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}

/**
 * A worker in origin mode in front of a fresh test origin: a new assertion signing key
 * (scripts/generate-assertion-key.mjs), `config.origin.url` = the test origin, `policies`, and the rest of
 * `stackOpts` for startStack (algs default to none). Returns { stack, backend, site, close() }.
 */
export async function startOriginStack({ policies, config = {}, worker = {}, ...stackOpts }) {
  const assertionKey = execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'generate-assertion-key.mjs')], { encoding: 'utf8' }).trim();
  const backend = await startTestOrigin();
  let stack;
  try {
    stack = await startStack({
      algs: [],
      ...stackOpts,
      config: { ...config, origin: { url: backend.url }, policies },
      worker: { ...worker, secrets: { ...(worker.secrets || {}), ASSERTION_SIGNING_KEY: assertionKey } },
    });
  } catch (err) {
    await backend.close();
    throw err;
  }
  const site = stack.worker.url;
  backend.setWorker(site);
  return { stack, backend, site, close: () => Promise.allSettled([stack.close(), backend.close()]) };
}
