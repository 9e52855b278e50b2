// Test providers shaped like the real ones edge-auth's connector kinds talk to, which cannot be reached from
// the test machine: Microsoft Entra ID (v2.0 endpoints, multi-tenant discovery with the literal `{tenantid}`
// issuer, `tid`/`oid`/`preferred_username` tokens, pairwise `sub`, AADSTS error descriptions), Google (OIDC with
// Workspace `hd`, both `iss` spellings, `at_hash`, the extra redirect parameters `authuser`/`hd`/`prompt`) and
// Facebook Login (the OAuth dialog with its `#_=_` redirect quirk, the access-token endpoint and the Graph API
// `/me`, which checks `appsecret_proof`). Each is a plain node:http server on 127.0.0.1 that behaves as the
// provider documents, checks what a careful provider checks (registered client and redirect URI, client
// authentication, PKCE S256, single-use codes, bearer tokens) and can be scripted per test (`setCase`) to act
// like a provider that got things wrong, or like an attacker's tokens.
//
// Every provider shows a sign-in page (a form with `prompt=login`, `login`, `password`, as Browserless.login in
// harness.mjs expects), so a test chooses *who signs in at the provider* independently of the address typed on
// the worker's login page. `GET <form action>/abort` is the user cancelling (error=access_denied).
//
// The real provider URLs (https://login.microsoftonline.com, https://accounts.google.com,
// https://graph.facebook.com, ...) can be used unchanged in AUTH_CONFIG: `outboundRouter` is a Miniflare
// `outboundService` that hands the worker's fetches of those origins to the local providers (in process, no
// network). The browser-facing authorization endpoints are always the local ones.
//
//   (tests/support/stacks.mjs puts a worker in front of them:)
//   const stack = await startShapeStack(async ({ redirectUri }) => {
//     const entra = await startEntraOp({ clients: [{ client_id, client_secret, redirect_uris: [redirectUri] }], tenants });
//     return { ops: { entra }, connectors: [{ id: 'corp', kind: 'entra', ... }], secrets: {...},
//              routes: { 'https://login.microsoftonline.com': entra.url } };
//   });
//   await expectSignedIn(stack, { email: 'alice@contoso.example', connector: 'corp' });
//   await expectRefusedSignIn(stack, { email: 'alice@contoso.example', login: 'mallory@evil.example', code: 'tenant_not_allowed' });
//
//
// Token signing: ./jose.mjs (generateKey, compactJws, halfHash, OMIT).
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

import { applyOverrides, clientAuthentication, compactJws, generateKey, halfHash, OMIT } from './jose.mjs';
import { listenTracked } from '../../../dev/listen.mjs';


/** Tenant id of personal Microsoft accounts (the `consumers` authority). */
export const ENTRA_CONSUMERS_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';

/** A stable lowercase GUID derived from `seed` (tenant ids, object ids). */
export function guidFrom(seed) {
  const h = createHash('sha256').update(String(seed)).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const rand = (n = 24) => randomBytes(n).toString('base64url');
const b64u = (d) => Buffer.from(d).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Apply `overrides` (object with OMIT, or (base, ctx) => object) to a copy of `base`. */
export const override = applyOverrides;

function sameSecret(a, b) {
  const ha = createHash('sha256').update(String(a ?? '')).digest();
  const hb = createHash('sha256').update(String(b ?? '')).digest();
  return timingSafeEqual(ha, hb) && a !== undefined && a !== null;
}

function pkceOk(verifier, challenge, method = 'S256') {
  if (!challenge) return true;
  if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier || '')) return false;
  if (method === 'plain') return verifier === challenge;
  return b64u(createHash('sha256').update(verifier).digest()) === challenge;
}

// ------------------------------------------------------------------------------------------------------------
// The common part: HTTP server, sign-in page, authorization transactions, codes, keys, scripted cases
// ------------------------------------------------------------------------------------------------------------

async function baseProvider({ name, port = 0, host = '127.0.0.1', keySpecs = [{ alg: 'RS256' }] }) {
  const { server, sockets } = await listenTracked(port, host);
  const url = `http://${host}:${server.address().port}`;
  const keys = [];
  for (const spec of keySpecs) keys.push(await generateKey(spec));
  let currentCase = null;
  const routes = [];

  const op = {
    name,
    url,
    port: server.address().port,
    keys,
    /** every request: { method, path, query (object), headers, body, at } */
    requests: [],
    /** authorization requests: their query parameters */
    authRequests: [],
    /** token requests: { clientId, authMethod, outcome } */
    tokenRequests: [],
    /** pending sign-ins (authorization transactions) by id */
    transactions: new Map(),
    /** issued codes */
    codes: new Map(),
    /** issued access tokens -> { account, clientId, scope } */
    accessTokens: new Map(),
    /**
     * The script for the next sign-ins (persists until changed; null = behave). Fields used by every shape:
     *   user          who signs in at the provider, whatever is typed in its form (a login name)
     *   account       overrides of the signed-in account's attributes (OMIT removes), or (account) => account
     *   authError     { error, error_description, ... } answered instead of the sign-in page (the provider
     *                 refuses the request straight away, as for a disabled app or an outage)
     *   authResponse  overrides of the parameters sent back to the redirect URI (OMIT removes)
     *   claims        ID-token claim overrides (OMIT removes) or (claims, ctx) => claims
     *   header        ID-token header overrides
     *   key           signing key record (default: the provider's current key)
     *   tokenResponse (body, ctx) => body | { status, body }
     *   userinfo      UserInfo / Graph answer overrides, or (body, ctx) => body | { status, body }
     */
    setCase(spec) {
      currentCase = spec ?? null;
    },
    get currentCase() {
      return currentCase;
    },
    caseValue(field) {
      return currentCase && typeof currentCase === 'object' ? currentCase[field] : undefined;
    },
    /** The current signing key. */
    key() {
      return keys.filter((k) => k.published).at(-1);
    },
    publishedJwks(extra = {}) {
      return { keys: keys.filter((k) => k.published).map((k) => ({ ...k.publicJwk, ...extra })) };
    },
    sign(header, claims, key = op.key()) {
      return compactJws(header, claims, { key });
    },
    /** How many requests reached `path` (a string or RegExp), optionally since `mark()`. */
    count(path, since = 0) {
      return op.requests.slice(since).filter((r) => (path instanceof RegExp ? path.test(r.path) : r.path === path)).length;
    },
    mark() {
      return op.requests.length;
    },
    route(method, pattern, handler) {
      routes.push({ method, pattern, handler });
    },
    async close() {
      server.closeAllConnections?.();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };

  const send = (res, status, type, body, headers = {}) => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
    res.end(body);
  };
  op.send = send;
  op.json = (res, status, body, headers) => send(res, status, 'application/json; charset=utf-8', typeof body === 'string' ? body : JSON.stringify(body), headers);
  op.html = (res, status, title, body) =>
    send(res, status, 'text/html; charset=utf-8', `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head><body>${body}</body></html>`);

  /** The sign-in page for a pending authorization (a login form Browserless.login can fill in). */
  op.signInPage = (res, txnId, { title, hint = '' }) =>
    op.html(
      res,
      200,
      title,
      `<h1>${esc(title)}</h1><form method="post" action="${esc(`${url}/login/${txnId}`)}">` +
        `<input type="hidden" name="prompt" value="login">` +
        `<input name="login" value="${esc(hint)}"><input type="password" name="password" value="">` +
        `<button type="submit">Sign in</button></form><p><a href="${esc(`${url}/login/${txnId}/abort`)}">Cancel</a></p>`,
    );

  /** Send `params` back to the client: a 302 with a query, or an auto-submitting form (form_post). */
  op.respond = (res, redirectUri, params, { responseMode = 'query', fragment = '' } = {}) => {
    if (responseMode === 'form_post') {
      const inputs = Object.entries(params)
        .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}" />`)
        .join('');
      return send(
        res,
        200,
        'text/html; charset=utf-8',
        `<html><head><title>Working...</title></head><body><form method="POST" name="hiddenform" action="${esc(redirectUri)}">${inputs}` +
          `<noscript><p>Script is disabled. Click Submit to continue.</p><input type="submit" value="Submit" /></noscript></form>` +
          `<script>document.forms[0].submit();</script></body></html>`,
      );
    }
    const target = new URL(redirectUri);
    for (const [k, v] of Object.entries(params)) target.searchParams.append(k, v);
    return send(res, 302, 'text/plain', '', { location: target.href + fragment });
  };

  /** The authorization response parameters after the case's `authResponse` overrides. */
  op.authParams = (params, ctx) => override(params, op.caseValue('authResponse'), ctx);

  op.newTransaction = (data) => {
    const id = rand(12);
    op.transactions.set(id, { ...data, createdAt: Date.now() });
    return id;
  };

  op.newCode = (data) => {
    const code = rand(32);
    op.codes.set(code, { ...data, redemptions: 0 });
    return code;
  };

  server.on('request', (req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const u = new URL(req.url, url);
      const entry = { method: req.method, path: u.pathname, query: Object.fromEntries(u.searchParams), headers: req.headers, body, at: Date.now() };
      op.requests.push(entry);
      try {
        for (const r of routes) {
          if (r.method !== '*' && r.method !== req.method) continue;
          const m = typeof r.pattern === 'string' ? (u.pathname === r.pattern ? [] : null) : r.pattern.exec(u.pathname);
          if (!m) continue;
          const form = new URLSearchParams(String(req.headers['content-type'] || '').startsWith('application/x-www-form-urlencoded') ? body : '');
          return await r.handler({ req, res, url: u, query: u.searchParams, form, body, params: m, entry });
        }
        return send(res, 404, 'text/plain', `${name}: nothing at ${req.method} ${u.pathname}`);
      } catch (err) {
        return send(res, 500, 'text/plain', `${name}: ${err.stack || err}`);
      }
    });
  });

  /** Common token-request checks; returns { code record, auth } or answers the refusal itself. */
  op.checkTokenRequest = ({ req, res, form, clients, oauthError }) => {
    const record = { clientId: undefined, authMethod: undefined, outcome: 'pending' };
    op.tokenRequests.push(record);
    const refuse = (status, error, why) => {
      record.outcome = `${error}: ${why}`;
      oauthError(res, status, error, why);
      return null;
    };
    if (!String(req.headers['content-type'] || '').startsWith('application/x-www-form-urlencoded')) {
      return refuse(400, 'invalid_request', `content-type ${req.headers['content-type']}`);
    }
    const auth = clientAuthentication(req, form);
    if (auth.error) return refuse(401, 'invalid_client', auth.error);
    record.clientId = auth.clientId;
    record.authMethod = auth.method;
    const client = clients.get(auth.clientId);
    if (!client) return refuse(401, 'invalid_client', `unknown client ${auth.clientId}`);
    if (auth.method === 'none' || !sameSecret(auth.secret, client.client_secret)) return refuse(401, 'invalid_client', 'invalid client secret');
    if (form.get('grant_type') !== 'authorization_code') return refuse(400, 'unsupported_grant_type', String(form.get('grant_type')));
    const code = op.codes.get(form.get('code') || '');
    if (!code) return refuse(400, 'invalid_grant', 'unknown code');
    if (code.redemptions > 0) return refuse(400, 'invalid_grant', 'the code was already redeemed');
    if (Date.now() - code.issuedAt > 10 * 60_000) return refuse(400, 'invalid_grant', 'the code expired');
    if (code.clientId !== auth.clientId) return refuse(400, 'invalid_grant', 'the code was issued to another client');
    if (form.get('redirect_uri') !== code.redirectUri) return refuse(400, 'invalid_grant', 'redirect_uri differs from the authorization request');
    if (code.codeChallenge && !pkceOk(form.get('code_verifier'), code.codeChallenge, code.codeChallengeMethod)) {
      return refuse(400, 'invalid_grant', 'PKCE verification failed');
    }
    code.redemptions += 1;
    return { code, client, record };
  };

  /** Case-driven ID token: header/claims overrides, then sign. */
  op.mintIdToken = (ctx, header, claims) => {
    const spec = currentCase && typeof currentCase === 'object' ? currentCase : {};
    const h = override(header, spec.header, ctx);
    const c = override(claims, spec.claims, ctx);
    if (spec.idToken) return spec.idToken({ ...ctx, header: h, claims: c });
    return compactJws(h, c, { key: spec.key || op.key() });
  };

  /** The token endpoint's answer after the case's `tokenResponse`. */
  op.tokenAnswer = (res, body, ctx, record) => {
    let out = { status: 200, body };
    const edit = op.caseValue('tokenResponse');
    if (edit) {
      const edited = edit(body, ctx);
      out = edited && typeof edited === 'object' && 'status' in edited && 'body' in edited ? edited : { status: 200, body: edited };
    }
    record.outcome = `issued (${out.status})`;
    return op.json(res, out.status, out.body);
  };

  /** Bearer token of a resource request (Authorization header, or access_token query parameter). */
  op.bearer = (req, query) => {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization || '');
    return m ? m[1] : query.get('access_token');
  };

  return op;
}

function clientMap(clients) {
  return new Map(clients.map((c) => [c.client_id, { redirect_uris: [], ...c }]));
}

// ------------------------------------------------------------------------------------------------------------
// Microsoft Entra ID (v2.0)
// ------------------------------------------------------------------------------------------------------------

/**
 * An Entra-ID-shaped provider: one "cloud" (authority) with several tenants.
 *
 *   GET  /{tenant}/v2.0/.well-known/openid-configuration   tenant = common | organizations | consumers | GUID | domain
 *        (a domain: the discovery of the tenant where it is verified — its issuer names that tenant's GUID —,
 *        400 AADSTS90002 for a domain verified in no tenant; `op.discoveryDown` (a Set of segments) answers 503
 *        for them: an outage)
 *   GET  /{tenant}/oauth2/v2.0/authorize                   sign-in page (login_hint prefilled), then code
 *   POST /{tenant}/oauth2/v2.0/token                       client_secret_basic or client_secret_post, PKCE
 *   GET  /{tenant}/discovery/v2.0/keys                     JWKS (kid, x5t, issuer members as Entra publishes)
 *   GET  /oidc/userinfo                                    Microsoft Graph's OIDC UserInfo (sub, name, email?)
 *
 * Discovery states the issuer exactly as Entra does: `AUTHORITY/{tenantid}/v2.0` *literally* for common and
 * organizations, `AUTHORITY/9188040d-…/v2.0` for consumers, `AUTHORITY/<tenant GUID>/v2.0` for a tenant given by
 * GUID or by domain (whose endpoints then name the GUID). ID tokens: iss `AUTHORITY/<tid>/v2.0`, `tid`, `oid`,
 * pairwise `sub`, `preferred_username` (the UPN), `email` when the account has one, `ver` "2.0", `aio`/`rh`/`uti`,
 * `sid` (a GUID per sign-in: what Entra's front-channel logout sends, as `?sid=` alone).
 * Authorities gate accounts as Entra does: organizations refuses personal accounts, consumers only takes them,
 * a tenant authority only its own users (AADSTS50020 page otherwise).
 *
 * @param {object} o
 * @param {object[]} o.clients   { client_id, client_secret, redirect_uris }
 * @param {object[]} o.tenants   { id: GUID, name, domains: [user email domains], initialDomain?: "x.onmicrosoft.com" }
 *        (personal accounts: a tenant with id ENTRA_CONSUMERS_TENANT)
 * @param {Record<string, object>|function} [o.accounts]  per-login attribute overrides (OMIT removes):
 *        { email, preferred_username, upn, name, oid, tid }
 * @param {string} [o.authority]  the issuer base (default: this server's URL); e.g. https://login.microsoftonline.com
 *        when the worker reaches this server through outboundRouter
 * @param {string} [o.graph]      UserInfo base (default: the URL when authority is local, else https://graph.microsoft.com)
 * @param {function} [o.discovery] (doc, tenantSegment) => doc: edit discovery documents (abusive providers)
 */
export async function startEntraOp({ name = 'entra', clients = [], tenants = [], accounts = {}, authority, graph, discovery, port } = {}) {
  const op = await baseProvider({ name, port });
  const A = (authority || op.url).replace(/\/$/, '');
  const G = graph || (A === op.url ? op.url : 'https://graph.microsoft.com');
  const cl = clientMap(clients);
  op.authority = A;
  op.tenants = tenants;
  op.clients = cl;

  const tenantById = (id) => tenants.find((t) => t.id === id);
  const tenantOfDomain = (d) => tenants.find((t) => t.domains.includes(d) || t.initialDomain === d);
  /** The tenant path segment -> { kind: multi|consumers|tenant, tenant, segment (as in endpoints) } or null. */
  const resolveSegment = (seg) => {
    const s = String(seg).toLowerCase();
    if (s === 'common' || s === 'organizations') return { kind: 'multi', segment: s };
    if (s === 'consumers') return { kind: 'consumers', segment: s, tenant: tenantById(ENTRA_CONSUMERS_TENANT) };
    const t = tenantById(s) || tenantOfDomain(s);
    return t ? { kind: 'tenant', segment: t.id, tenant: t } : null;
  };
  const issuerFor = (r) =>
    r.kind === 'multi' ? `${A}/{tenantid}/v2.0` : r.kind === 'consumers' ? `${A}/${ENTRA_CONSUMERS_TENANT}/v2.0` : `${A}/${r.tenant.id}/v2.0`;

  /** The directory entry of a login name. */
  op.account = (login) => {
    const l = String(login).trim().toLowerCase();
    const domain = l.split('@')[1] || '';
    const tenant = tenantOfDomain(domain);
    const base = {
      login: l,
      tid: tenant?.id,
      oid: guidFrom(`oid:${l}`),
      name: l.split('@')[0].split(/[._-]/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join(' '),
      preferred_username: l,
      email: l,
    };
    const o = typeof accounts === 'function' ? accounts(l) : accounts[l];
    return override(override(base, o), op.caseValue('account'));
  };

  const aadError = (res, status, error, description) =>
    op.json(res, status, {
      error,
      error_description: `${description}\r\nTrace ID: ${guidFrom(rand())}\r\nCorrelation ID: ${guidFrom(rand())}\r\nTimestamp: ${new Date().toISOString()}`,
      error_codes: [Number(/AADSTS(\d+)/.exec(description)?.[1] || 0)],
      timestamp: new Date().toISOString(),
      trace_id: guidFrom(rand()),
      correlation_id: guidFrom(rand()),
    });
  const errorPage = (res, code, text) => op.html(res, 400, 'Sign in to your account', `<h1>Sorry, but we're having trouble signing you in.</h1><p>${esc(`AADSTS${code}: ${text}`)}</p>`);

  op.discoveryDocument = (seg) => {
    const r = resolveSegment(seg);
    if (!r) return null;
    const s = r.segment;
    const doc = {
      token_endpoint: `${A}/${s}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${A}/${s}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: issuerFor(r),
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${G}/oidc/userinfo`,
      authorization_endpoint: `${op.url}/${s}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${A}/${s}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${op.url}/${s}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'cloud_instance_name', 'cloud_instance_host_name', 'cloud_graph_host_name', 'msgraph_host', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'nonce', 'preferred_username', 'name', 'tid', 'ver', 'at_hash', 'c_hash', 'email'],
      kerberos_endpoint: `${A}/${s}/kerberos`,
      tenant_region_scope: r.kind === 'tenant' ? 'EU' : null,
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    };
    return discovery ? discovery(doc, s) : doc;
  };

  op.discoveryDown = new Set();
  op.route('GET', /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/, ({ res, params }) => {
    if (op.discoveryDown.has(decodeURIComponent(params[1]).toLowerCase())) return op.json(res, 503, { error: 'temporarily_unavailable' });
    const doc = op.discoveryDocument(decodeURIComponent(params[1]));
    if (!doc) return aadError(res, 400, 'invalid_tenant', `AADSTS90002: Tenant '${params[1]}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
    return op.json(res, 200, doc);
  });

  op.route('GET', /^\/([^/]+)\/discovery\/v2\.0\/keys$/, ({ res, params }) => {
    const r = resolveSegment(decodeURIComponent(params[1]));
    if (!r) return aadError(res, 400, 'invalid_tenant', `AADSTS90002: Tenant '${params[1]}' not found.`);
    return op.json(res, 200, { keys: op.publishedJwks({ issuer: issuerFor(r) }).keys.map((k) => ({ ...k, x5t: k.kid })) });
  });

  op.route('GET', /^\/([^/]+)\/oauth2\/v2\.0\/authorize$/, ({ res, params, query }) => {
    const q = Object.fromEntries(query);
    op.authRequests.push(q);
    const r = resolveSegment(decodeURIComponent(params[1]));
    if (!r) return errorPage(res, 90002, `Tenant '${params[1]}' not found.`);
    const client = cl.get(q.client_id);
    if (!client) return errorPage(res, 700016, `Application with identifier '${q.client_id}' was not found in the directory.`);
    if (!client.redirect_uris.includes(q.redirect_uri)) {
      return errorPage(res, 50011, `The redirect URI '${q.redirect_uri}' specified in the request does not match the redirect URIs configured for the application '${q.client_id}'.`);
    }
    const mode = q.response_mode || 'query';
    const back = (params2) => op.respond(res, q.redirect_uri, op.authParams({ ...params2, ...(q.state !== undefined ? { state: q.state } : {}) }, { op, authRequest: q }), { responseMode: mode });
    const authError = op.caseValue('authError');
    if (authError) return back(authError);
    if (q.response_type !== 'code') return back({ error: 'unsupported_response_type', error_description: `AADSTS700054: response_type '${q.response_type}' is not enabled for the application.` });
    if (!String(q.scope || '').split(' ').includes('openid')) return back({ error: 'invalid_scope', error_description: 'AADSTS70011: The provided value for the input parameter \'scope\' is not valid.' });
    if (q.code_challenge && q.code_challenge_method !== 'S256') return back({ error: 'invalid_request', error_description: 'AADSTS501491: Invalid code_challenge_method.' });
    if (q.prompt === 'none') return back({ error: 'login_required', error_description: 'AADSTS50058: A silent sign-in request was sent but no user is signed in.' });
    const txn = op.newTransaction({ q, r, client });
    return op.signInPage(res, txn, { title: 'Sign in to your account', hint: q.login_hint || '' });
  });

  op.route('GET', /^\/login\/([^/]+)\/abort$/, ({ res, params }) => {
    const t = op.transactions.get(params[1]);
    if (!t) return errorPage(res, 90014, 'The request has expired.');
    op.transactions.delete(params[1]);
    return op.respond(res, t.q.redirect_uri, op.authParams({ error: 'access_denied', error_description: 'AADSTS65004: User declined to consent to access the app.', state: t.q.state }, { op }), { responseMode: t.q.response_mode || 'query' });
  });

  op.route('POST', /^\/login\/([^/]+)$/, ({ res, params, form }) => {
    const t = op.transactions.get(params[1]);
    if (!t) return errorPage(res, 90014, 'The request has expired.');
    op.transactions.delete(params[1]);
    const login = op.caseValue('user') || form.get('login') || '';
    const account = op.account(login);
    if (!account.tid) return errorPage(res, 50034, `The user account ${login} does not exist in the directory.`);
    if (t.r.kind === 'multi' && t.r.segment === 'organizations' && account.tid === ENTRA_CONSUMERS_TENANT) {
      return errorPage(res, 50020, 'Microsoft Account users cannot sign in to this application (organizations endpoint).');
    }
    if (t.r.kind === 'consumers' && account.tid !== ENTRA_CONSUMERS_TENANT) {
      return errorPage(res, 50020, `User account '${login}' from identity provider does not exist in tenant 'Microsoft Accounts'.`);
    }
    if (t.r.kind === 'tenant' && account.tid !== t.r.tenant.id && !account.guestOf?.includes(t.r.tenant.id)) {
      return errorPage(res, 50020, `User account '${login}' from identity provider does not exist in tenant '${t.r.tenant.name}' and cannot access the application.`);
    }
    const code = op.newCode({
      clientId: t.q.client_id,
      redirectUri: t.q.redirect_uri,
      nonce: t.q.nonce,
      codeChallenge: t.q.code_challenge,
      codeChallengeMethod: t.q.code_challenge_method,
      scope: t.q.scope,
      account,
      tenantId: t.r.kind === 'tenant' ? t.r.tenant.id : account.tid,
      sessionId: guidFrom(`session:${rand()}`),
      issuedAt: Date.now(),
      authTime: nowSeconds(),
    });
    return op.respond(res, t.q.redirect_uri, op.authParams({ code, state: t.q.state, session_state: guidFrom(rand()) }, { op, authRequest: t.q }), { responseMode: t.q.response_mode || 'query' });
  });

  op.route('POST', /^\/([^/]+)\/oauth2\/v2\.0\/token$/, ({ req, res, form }) => {
    const ok = op.checkTokenRequest({
      req,
      res,
      form,
      clients: cl,
      oauthError: (r, status, error, why) => aadError(r, status, error, `AADSTS70000: ${why}`),
    });
    if (!ok) return undefined;
    const { code, client, record } = ok;
    const now = nowSeconds();
    const a = code.account;
    const tid = code.tenantId;
    const accessToken = rand(48);
    op.accessTokens.set(accessToken, { account: a, clientId: client.client_id });
    const sub = b64u(createHash('sha256').update(`${a.oid}:${client.client_id}`).digest()).slice(0, 43);
    const claims = {
      aud: client.client_id,
      iss: `${A}/${tid}/v2.0`,
      iat: now,
      nbf: now,
      exp: now + 3600,
      aio: rand(40),
      ...(a.email ? { email: a.email } : {}),
      name: a.name,
      nonce: code.nonce,
      oid: a.oid,
      ...(a.preferred_username ? { preferred_username: a.preferred_username } : {}),
      rh: `0.${rand(30)}.`,
      // The sign-in session's id, as Entra sends it for front-channel logout (`?sid=` on the registered URL).
      sid: code.sessionId,
      sub,
      tid,
      ...(a.upn ? { upn: a.upn } : {}),
      uti: rand(16),
      ver: '2.0',
    };
    const key = op.key();
    const header = { typ: 'JWT', alg: 'RS256', kid: key.kid };
    const ctx = { op, client, code, account: a, now, tid, accessToken, authority: A };
    const idToken = op.mintIdToken(ctx, header, claims);
    return op.tokenAnswer(res, { token_type: 'Bearer', scope: 'openid profile email', expires_in: 3599, ext_expires_in: 3599, access_token: accessToken, id_token: idToken }, ctx, record);
  });

  op.route('GET', '/oidc/userinfo', ({ req, res, query }) => {
    const t = op.accessTokens.get(op.bearer(req, query) || '');
    if (!t) return op.json(res, 401, { error: { code: 'InvalidAuthenticationToken', message: 'Access token validation failure.' } }, { 'www-authenticate': 'Bearer error="invalid_token"' });
    const a = t.account;
    const sub = b64u(createHash('sha256').update(`${a.oid}:${t.clientId}`).digest()).slice(0, 43);
    const [given, ...family] = String(a.name || '').split(' ');
    let out = { status: 200, body: { sub, name: a.name, family_name: family.join(' '), given_name: given, picture: 'https://graph.microsoft.com/v1.0/me/photo/$value', ...(a.email ? { email: a.email } : {}) } };
    const edit = op.caseValue('userinfo');
    if (typeof edit === 'function') {
      const e = edit(out.body, { op, account: a });
      out = e && 'status' in e && 'body' in e ? e : { status: 200, body: e };
    } else if (edit) out.body = override(out.body, edit);
    return op.json(res, out.status, out.body);
  });

  return op;
}

// ------------------------------------------------------------------------------------------------------------
// Google
// ------------------------------------------------------------------------------------------------------------

/**
 * A Google-shaped OpenID Provider.
 *
 *   GET  /.well-known/openid-configuration     as accounts.google.com publishes it
 *   GET  /o/oauth2/v2/auth                      sign-in page, then code (+ authuser, hd, prompt, scope)
 *   POST /token                                 (oauth2.googleapis.com/token)
 *   GET  /oauth2/v3/certs                       two RS256 keys (www.googleapis.com/oauth2/v3/certs)
 *   GET  /v1/userinfo                           (openidconnect.googleapis.com/v1/userinfo)
 *
 * Accounts: an address in one of `workspaces` is a Google Workspace account (`hd` = its domain); any other is
 * a consumer account (no `hd`). ID tokens: iss, azp, aud, sub (numeric), hd?, email, email_verified, at_hash,
 * nonce, name, picture, given_name, family_name, iat, exp. Like Google, the `hd` request parameter only
 * narrows the account chooser: it is not enforced, so a user (or attacker) can sign in with any account.
 *
 * @param {object} o
 * @param {object[]} o.clients        { client_id, client_secret, redirect_uris }
 * @param {string[]} [o.workspaces]   Workspace domains
 * @param {Record<string, object>|function} [o.accounts] per-login overrides { email, email_verified, hd, sub, name }
 * @param {string} [o.issuer]         default: this server's URL; "https://accounts.google.com" behind outboundRouter
 *        (the back-channel endpoints then use Google's real API hosts: route them too, see GOOGLE_API_ORIGINS)
 */
export const GOOGLE_API_ORIGINS = ['https://accounts.google.com', 'https://oauth2.googleapis.com', 'https://www.googleapis.com', 'https://openidconnect.googleapis.com'];

export async function startGoogleOp({ name = 'google', clients = [], workspaces = [], accounts = {}, issuer, port } = {}) {
  const op = await baseProvider({ name, port, keySpecs: [{ alg: 'RS256', jwk: { alg: 'RS256' } }, { alg: 'RS256', jwk: { alg: 'RS256' } }] });
  // Google signs with one of its published keys; sign with the first (the second is the next rotation).
  op.key = () => op.keys[0];
  const I = (issuer || op.url).replace(/\/$/, '');
  const local = I === op.url;
  const cl = clientMap(clients);
  op.issuer = I;
  op.clients = cl;

  op.account = (login) => {
    const l = String(login).trim().toLowerCase();
    const domain = l.split('@')[1] || '';
    const local2 = l.split('@')[0];
    const base = {
      sub: BigInt(`0x${createHash('sha256').update(`google:${l}`).digest('hex').slice(0, 16)}`).toString().padStart(21, '1').slice(0, 21),
      email: l,
      email_verified: true,
      ...(workspaces.includes(domain) ? { hd: domain } : {}),
      name: local2.split(/[._-]/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join(' '),
    };
    const o = typeof accounts === 'function' ? accounts(l) : accounts[l];
    return override(override(base, o), op.caseValue('account'));
  };

  op.discoveryDocument = () => ({
    issuer: I,
    authorization_endpoint: `${op.url}/o/oauth2/v2/auth`,
    device_authorization_endpoint: local ? `${op.url}/device/code` : 'https://oauth2.googleapis.com/device/code',
    token_endpoint: local ? `${op.url}/token` : 'https://oauth2.googleapis.com/token',
    userinfo_endpoint: local ? `${op.url}/v1/userinfo` : 'https://openidconnect.googleapis.com/v1/userinfo',
    revocation_endpoint: local ? `${op.url}/revoke` : 'https://oauth2.googleapis.com/revoke',
    jwks_uri: local ? `${op.url}/oauth2/v3/certs` : 'https://www.googleapis.com/oauth2/v3/certs',
    response_types_supported: ['code', 'token', 'id_token', 'code token', 'code id_token', 'token id_token', 'code token id_token', 'none'],
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    scopes_supported: ['openid', 'email', 'profile'],
    token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    claims_supported: ['aud', 'email', 'email_verified', 'exp', 'family_name', 'given_name', 'iat', 'iss', 'name', 'picture', 'sub'],
    code_challenge_methods_supported: ['plain', 'S256'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:jwt-bearer'],
  });

  const googleError = (res, status, error, description) => op.json(res, status, { error, error_description: description });
  const errorPage = (res, code, text) => op.html(res, 400, 'Error', `<h1>Access blocked: Authorization Error</h1><p>${esc(text)}</p><p>Error ${esc(code)}</p>`);

  op.route('GET', '/.well-known/openid-configuration', ({ res }) => op.json(res, 200, op.discoveryDocument()));
  op.route('GET', '/oauth2/v3/certs', ({ res }) => op.json(res, 200, op.publishedJwks(), { 'cache-control': 'public, max-age=21600' }));

  op.route('GET', '/o/oauth2/v2/auth', ({ res, query }) => {
    const q = Object.fromEntries(query);
    op.authRequests.push(q);
    const client = cl.get(q.client_id);
    if (!client) return errorPage(res, '401: invalid_client', 'The OAuth client was not found.');
    if (!client.redirect_uris.includes(q.redirect_uri)) return errorPage(res, '400: redirect_uri_mismatch', `You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy. redirect_uri=${q.redirect_uri}`);
    const mode = q.response_mode || 'query';
    const back = (p) => op.respond(res, q.redirect_uri, op.authParams({ ...p, ...(q.state !== undefined ? { state: q.state } : {}) }, { op, authRequest: q }), { responseMode: mode });
    const authError = op.caseValue('authError');
    if (authError) return back(authError);
    if (q.response_type !== 'code') return back({ error: 'unsupported_response_type' });
    if (!String(q.scope || '').split(' ').includes('openid')) return back({ error: 'invalid_scope' });
    if (q.code_challenge && !['S256', 'plain'].includes(q.code_challenge_method || 'plain')) return back({ error: 'invalid_request' });
    if (q.prompt === 'none') return back({ error: 'interaction_required' });
    const txn = op.newTransaction({ q, client });
    return op.signInPage(res, txn, { title: 'Sign in - Google Accounts', hint: q.login_hint || '' });
  });

  op.route('GET', /^\/login\/([^/]+)\/abort$/, ({ res, params }) => {
    const t = op.transactions.get(params[1]);
    if (!t) return errorPage(res, '400: invalid_request', 'The request expired.');
    op.transactions.delete(params[1]);
    return op.respond(res, t.q.redirect_uri, op.authParams({ error: 'access_denied', state: t.q.state }, { op }), { responseMode: t.q.response_mode || 'query' });
  });

  op.route('POST', /^\/login\/([^/]+)$/, ({ res, params, form }) => {
    const t = op.transactions.get(params[1]);
    if (!t) return errorPage(res, '400: invalid_request', 'The request expired.');
    op.transactions.delete(params[1]);
    const account = op.account(op.caseValue('user') || form.get('login') || '');
    const scopes = String(t.q.scope).split(' ');
    const code = op.newCode({
      clientId: t.q.client_id,
      redirectUri: t.q.redirect_uri,
      nonce: t.q.nonce,
      codeChallenge: t.q.code_challenge,
      codeChallengeMethod: t.q.code_challenge_method || 'plain',
      scope: t.q.scope,
      account,
      issuedAt: Date.now(),
    });
    const grantedScope = [
      ...(scopes.includes('email') ? ['email'] : []),
      ...(scopes.includes('profile') ? ['profile'] : []),
      ...(scopes.includes('email') ? ['https://www.googleapis.com/auth/userinfo.email'] : []),
      ...(scopes.includes('profile') ? ['https://www.googleapis.com/auth/userinfo.profile'] : []),
      'openid',
    ].join(' ');
    return op.respond(
      res,
      t.q.redirect_uri,
      op.authParams({ state: t.q.state, code, scope: grantedScope, authuser: '0', ...(account.hd ? { hd: account.hd } : {}), prompt: 'consent' }, { op, authRequest: t.q }),
      { responseMode: t.q.response_mode || 'query' },
    );
  });

  op.route('POST', '/token', ({ req, res, form }) => {
    const ok = op.checkTokenRequest({ req, res, form, clients: cl, oauthError: googleError });
    if (!ok) return undefined;
    const { code, client, record } = ok;
    const a = code.account;
    const now = nowSeconds();
    const accessToken = `ya29.${rand(60)}`;
    op.accessTokens.set(accessToken, { account: a, clientId: client.client_id });
    const [given, ...family] = String(a.name || '').split(' ');
    const claims = {
      iss: I,
      azp: client.client_id,
      aud: client.client_id,
      sub: a.sub,
      ...(a.hd ? { hd: a.hd } : {}),
      ...(a.email ? { email: a.email, email_verified: a.email_verified } : {}),
      at_hash: halfHash('RS256', accessToken),
      nonce: code.nonce,
      name: a.name,
      picture: `https://lh3.googleusercontent.com/a/${rand(20)}=s96-c`,
      given_name: given,
      family_name: family.join(' ') || undefined,
      iat: now,
      exp: now + 3599,
    };
    if (claims.family_name === undefined) delete claims.family_name;
    const key = op.key();
    const ctx = { op, client, code, account: a, now, accessToken, issuer: I };
    const idToken = op.mintIdToken(ctx, { alg: 'RS256', kid: key.kid, typ: 'JWT' }, claims);
    return op.tokenAnswer(res, { access_token: accessToken, expires_in: 3599, scope: code.scope, token_type: 'Bearer', id_token: idToken }, ctx, record);
  });

  op.route('GET', '/v1/userinfo', ({ req, res, query }) => {
    const t = op.accessTokens.get(op.bearer(req, query) || '');
    if (!t) return op.json(res, 401, { error: 'invalid_request', error_description: 'Invalid Credentials' });
    const a = t.account;
    let body = { sub: a.sub, name: a.name, ...(a.email ? { email: a.email, email_verified: a.email_verified } : {}), ...(a.hd ? { hd: a.hd } : {}) };
    const edit = op.caseValue('userinfo');
    if (edit) body = override(body, edit, { op, account: a });
    return op.json(res, 200, body);
  });

  return op;
}

// ------------------------------------------------------------------------------------------------------------
// Facebook Login + Graph API
// ------------------------------------------------------------------------------------------------------------

export const FACEBOOK_API_ORIGINS = ['https://graph.facebook.com', 'https://www.facebook.com'];

/**
 * A Facebook-shaped OAuth 2.0 provider with the Graph API.
 *
 *   GET      /{v}/dialog/oauth        the login dialog (client_id, redirect_uri exact, state, scope, PKCE), then
 *                                     `redirect_uri?code=…&state=…#_=_` (Facebook appends `#_=_`)
 *   GET|POST /{v}/oauth/access_token  client_id, client_secret, redirect_uri, code, code_verifier ->
 *                                     { access_token, token_type: "bearer", expires_in }
 *   GET      /{v}/me, /me             fields=id,name,email; the token as `Authorization: Bearer` or
 *                                     `access_token`; `appsecret_proof` = hex HMAC-SHA256(app_secret, token),
 *                                     required ("Require App Secret") and verified: a missing or wrong proof is
 *                                     refused with a GraphMethodException, code 100, as Facebook does
 *
 * Errors have Facebook's shape: `{ error: { message, type, code, error_subcode?, fbtrace_id } }`; the dialog's
 * refusals are `error=access_denied&error_code=200&error_description=Permissions+error&error_reason=user_denied`.
 * Accounts: id (app-scoped, numeric), name, and email only when the account has a confirmed address and the
 * `email` permission was granted (accounts[login].email = OMIT: a phone-only account, or the permission declined).
 *
 * @param {object} o
 * @param {object[]} o.apps   { app_id, app_secret, redirect_uris, requireProof = true }
 * @param {Record<string, object>|function} [o.accounts]
 * @param {string} [o.version="v21.0"]
 * Case fields (setCase) besides the common ones: `graphSecret` (the app secret the Graph API believes in, to
 * make the worker's proof wrong), `graph` (overrides of /me's answer, or (body) => body | {status, body}),
 * `tokenError` ({status, body}: the access-token endpoint's refusal).
 */
export async function startFacebookOp({ name = 'facebook', apps = [], accounts = {}, version = 'v21.0', port } = {}) {
  const op = await baseProvider({ name, port, keySpecs: [] });
  const appMap = new Map(apps.map((a) => [a.app_id, { requireProof: true, redirect_uris: [], ...a }]));
  op.apps = appMap;
  op.version = version;
  op.graphRequests = [];
  const fbtrace = () => rand(8);
  const graphError = (res, status, message, type, code, extra = {}) =>
    op.json(res, status, { error: { message, type, code, ...extra, fbtrace_id: fbtrace() } }, { 'www-authenticate': `OAuth "Facebook Platform" "${type === 'OAuthException' ? 'invalid_token' : 'invalid_request'}" "${message}"` });
  const dialogError = (res, text) => op.html(res, 200, 'Error', `<h1>Error</h1><p>${esc(text)}</p>`);

  op.account = (login) => {
    const l = String(login).trim().toLowerCase();
    const base = {
      id: BigInt(`0x${createHash('sha256').update(`fb:${l}`).digest('hex').slice(0, 14)}`).toString(),
      name: l.split('@')[0].split(/[._-]/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join(' '),
      ...(l.includes('@') ? { email: l } : {}),
    };
    const o = typeof accounts === 'function' ? accounts(l) : accounts[l];
    return override(override(base, o), op.caseValue('account'));
  };

  /** appsecret_proof for `token` with `secret` (what a correct client computes). */
  op.proof = (secret, token) => createHmac('sha256', secret).update(token).digest('hex');

  op.route('GET', new RegExp(`^/${version.replace('.', '\\.')}/dialog/oauth$`), ({ res, query }) => {
    const q = Object.fromEntries(query);
    op.authRequests.push(q);
    const app = appMap.get(q.client_id);
    if (!app) return dialogError(res, 'Invalid App ID: The provided app ID does not look like a valid app ID.');
    if (!app.redirect_uris.includes(q.redirect_uri)) {
      return dialogError(res, "URL blocked: This redirect failed because the redirect URI is not whitelisted in the app's Client OAuth Settings.");
    }
    const back = (p) => op.respond(res, q.redirect_uri, op.authParams({ ...p, ...(q.state !== undefined ? { state: q.state } : {}) }, { op, authRequest: q }), { fragment: '#_=_' });
    const authError = op.caseValue('authError');
    if (authError) return back(authError);
    if (q.code_challenge && !['S256', 'plain'].includes(q.code_challenge_method || 'plain')) {
      return back({ error: 'invalid_request', error_code: '100', error_description: 'Invalid code_challenge_method', error_reason: 'invalid_request' });
    }
    const txn = op.newTransaction({ q, app });
    return op.signInPage(res, txn, { title: 'Log in to Facebook', hint: q.login_hint || '' });
  });

  op.route('GET', /^\/login\/([^/]+)\/abort$/, ({ res, params }) => {
    const t = op.transactions.get(params[1]);
    if (!t) return dialogError(res, 'The request expired.');
    op.transactions.delete(params[1]);
    return op.respond(
      res,
      t.q.redirect_uri,
      op.authParams({ error: 'access_denied', error_code: '200', error_description: 'Permissions error', error_reason: 'user_denied', state: t.q.state }, { op }),
      { fragment: '#_=_' },
    );
  });

  op.route('POST', /^\/login\/([^/]+)$/, ({ res, params, form }) => {
    const t = op.transactions.get(params[1]);
    if (!t) return dialogError(res, 'The request expired.');
    op.transactions.delete(params[1]);
    const account = op.account(op.caseValue('user') || form.get('login') || '');
    const scopes = String(t.q.scope || '').split(/[ ,]+/);
    const code = op.newCode({
      clientId: t.q.client_id,
      redirectUri: t.q.redirect_uri,
      codeChallenge: t.q.code_challenge,
      codeChallengeMethod: t.q.code_challenge_method || 'plain',
      account,
      granted: ['public_profile', ...(scopes.includes('email') ? ['email'] : [])],
      issuedAt: Date.now(),
    });
    return op.respond(res, t.q.redirect_uri, op.authParams({ code, state: t.q.state }, { op, authRequest: t.q }), { fragment: '#_=_' });
  });

  op.route('*', new RegExp(`^/${version.replace('.', '\\.')}/oauth/access_token$`), ({ req, res, query, form }) => {
    const p = req.method === 'POST' ? form : query;
    const record = { clientId: p.get('client_id'), method: req.method, outcome: 'pending', params: Object.fromEntries(p) };
    op.tokenRequests.push(record);
    const refuse = (message, code, subcode) => {
      record.outcome = message;
      return graphError(res, 400, message, 'OAuthException', code, subcode ? { error_subcode: subcode } : {});
    };
    const forced = op.caseValue('tokenError');
    if (forced) {
      record.outcome = 'case tokenError';
      return op.json(res, forced.status ?? 400, forced.body);
    }
    const app = appMap.get(p.get('client_id') || '');
    if (!app) return refuse('Error validating application. Invalid application ID.', 101);
    if (!sameSecret(p.get('client_secret'), app.app_secret)) return refuse('Error validating client secret.', 1);
    const code = op.codes.get(p.get('code') || '');
    if (!code || code.clientId !== app.app_id) return refuse('Invalid verification code format.', 100);
    if (code.redemptions > 0) return refuse('This authorization code has been used.', 100, 36009);
    if (Date.now() - code.issuedAt > 10 * 60_000) return refuse('This authorization code has expired.', 100, 36007);
    if (p.get('redirect_uri') !== code.redirectUri) {
      return refuse('Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request', 100, 36008);
    }
    if (code.codeChallenge && !pkceOk(p.get('code_verifier'), code.codeChallenge, code.codeChallengeMethod)) {
      return refuse('Invalid code verifier.', 100);
    }
    code.redemptions += 1;
    const accessToken = `EAA${rand(90)}`;
    op.accessTokens.set(accessToken, { account: code.account, appId: app.app_id, granted: code.granted });
    record.outcome = 'issued';
    return op.json(res, 200, { access_token: accessToken, token_type: 'bearer', expires_in: 5183944 });
  });

  const me = ({ req, res, query }) => {
    const token = op.bearer(req, query);
    const proof = query.get('appsecret_proof');
    const rec = { token, proof, fields: query.get('fields'), authorization: req.headers.authorization, outcome: 'pending' };
    op.graphRequests.push(rec);
    const fail = (...args) => {
      rec.outcome = args[1];
      return graphError(res, ...args);
    };
    if (!token) return fail(400, 'An active access token must be used to query information about the current user.', 'OAuthException', 2500);
    const t = op.accessTokens.get(token);
    if (!t) return fail(400, 'Invalid OAuth access token - Cannot parse access token', 'OAuthException', 190);
    const app = appMap.get(t.appId);
    const secret = op.caseValue('graphSecret') ?? app.app_secret;
    if (app.requireProof && !proof) return fail(400, 'API calls from the server require an appsecret_proof argument', 'GraphMethodException', 100);
    if (proof !== undefined && proof !== null) {
      const expected = Buffer.from(op.proof(secret, token));
      const given = Buffer.from(String(proof));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return fail(400, 'Invalid appsecret_proof provided in the API argument', 'GraphMethodException', 100);
      }
    }
    const fields = String(query.get('fields') || 'id,name').split(',').map((f) => f.trim());
    const a = t.account;
    const full = { id: a.id, name: a.name, ...(a.email && t.granted.includes('email') ? { email: a.email } : {}) };
    let body = Object.fromEntries(fields.filter((f) => f in full).map((f) => [f, full[f]]));
    let status = 200;
    const edit = op.caseValue('graph');
    if (typeof edit === 'function') {
      const e = edit(body, { op, account: a });
      if (e && 'status' in e && 'body' in e) ({ status, body } = e);
      else body = e;
    } else if (edit) body = override(body, edit);
    rec.outcome = `answered ${status}`;
    return op.json(res, status, body);
  };
  op.route('GET', new RegExp(`^/${version.replace('.', '\\.')}/me$`), me);
  op.route('GET', '/me', me);

  return op;
}
