// Development OpenID Provider for edge-auth, built on the OpenID-certified npm `oidc-provider` (9.x).
//
//   node dev/idp.mjs                 # http://127.0.0.1:9000, clients from dev/idp.config.json
//   IDP_PORT=9001 node dev/idp.mjs   # another port (the issuer follows the port)
//
// Any login name is accepted at the dev login form (any password). The account's claims are derived from the
// login: sub = login, email = login (when it contains "@"), email_verified = true, name = "Alice Smith" for
// "alice.smith@...". Per-login overrides can be given in `accounts` (a claim set to null is removed).
//
// Library use (tests): `const idp = await startIdp({ port: 0, clients: [...] })` -> { issuer, port, provider,
// jwks, close() }. The server listens on 127.0.0.1 only.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

import * as jose from 'jose';
import Provider from 'oidc-provider';
import { listenTracked } from './listen.mjs';

/** Signing algorithms the dev IdP can put on ID tokens (per client: `id_token_signed_response_alg`). */
export const SIGNING_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'];

/**
 * One private JWKS holding an RSA 2048 key (RS256/PS256), an EC P-256 key (ES256) and an OKP Ed25519 key
 * (EdDSA / Ed25519). Keys carry `use: "sig"` and a thumbprint `kid`, but no `alg`, so the RSA key serves both
 * RS256 and PS256 and the Ed25519 key both "EdDSA" and "Ed25519".
 */
export async function generateSigningJwks() {
  const specs = [
    ['RS256', { modulusLength: 2048 }],
    ['ES256', {}],
    ['Ed25519', {}],
  ];
  const keys = [];
  for (const [alg, opts] of specs) {
    const { privateKey } = await jose.generateKeyPair(alg, { ...opts, extractable: true });
    const jwk = await jose.exportJWK(privateKey);
    jwk.kid = await jose.calculateJwkThumbprint(jwk);
    jwk.use = 'sig';
    keys.push(jwk);
  }
  return { keys };
}

/** "alice.smith@example.com" -> "Alice Smith"; "bob" -> "Bob". */
export function nameFromLogin(login) {
  const local = String(login).split('@')[0] || String(login);
  const words = local.split(/[._+\-\s]+/).filter(Boolean);
  if (words.length === 0) return String(login);
  return words.map((w) => w[0].toUpperCase() + w.slice(1)).join(' ');
}

/** The claims of the account `login` (see the file header); `overrides` may replace or (null) remove claims. */
export function claimsForLogin(login, overrides = {}) {
  const claims = { sub: String(login), name: nameFromLogin(login) };
  if (String(login).includes('@')) {
    claims.email = String(login);
    claims.email_verified = true;
  }
  for (const [k, v] of Object.entries(overrides || {})) {
    if (v === null || v === undefined) delete claims[k];
    else claims[k] = v;
  }
  return claims;
}

/** oidc-provider's outgoing fetch, minus its SSRF guard for loopback targets (the worker in development). */
function loopbackAllowingFetch(url, options) {
  const host = new URL(url).hostname;
  if (host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host)) {
    const { dispatcher: _ssrfGuard, ...rest } = options;
    return globalThis.fetch(url, rest);
  }
  return globalThis.fetch(url, options);
}

const CLIENT_DEFAULTS = {
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: 'RS256',
};

function htmlEscape(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${htmlEscape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}
button{font-size:1rem;padding:.5rem 1rem;margin:.25rem 0;display:block;width:100%}pre{white-space:pre-wrap}</style>
</head><body><p><em>edge-auth development IdP</em></p>${body}</body></html>`;
}

/**
 * Start a development OpenID Provider.
 *
 * @param {object} [opts]
 * @param {number} [opts.port=0]        port on 127.0.0.1 (0 = any free port)
 * @param {string} [opts.host="127.0.0.1"]
 * @param {object[]} [opts.clients=[]] oidc-provider client metadata (client_id, client_secret, redirect_uris,
 *        post_logout_redirect_uris, id_token_signed_response_alg, token_endpoint_auth_method, ...)
 * @param {object|function} [opts.accounts] per-login claim overrides: { "login": { email_verified: false } }
 *        or (login) => overrides
 * @param {{keys: object[]}} [opts.jwks] private signing JWKS (default: generated, see generateSigningJwks)
 * @param {object} [opts.ttl] oidc-provider ttl overrides (seconds)
 * @param {object} [opts.claims] extra oidc-provider `claims` entries; a scope mapped to claims
 *        (`{ groups: ['groups'] }`) is also added to `scopes`; the values come from `accounts` overrides
 * @param {object} [opts.features] extra oidc-provider `features`, merged over the defaults (for example
 *        `{ backchannelLogout: { enabled: true } }`: clients then take `backchannel_logout_uri` and
 *        `backchannel_logout_session_required`, which also puts `sid` in their ID tokens). oidc-provider refuses
 *        to post to special-use addresses (SSRF protection); with back-channel logout enabled, loopback URLs
 *        (a worker on 127.0.0.1) are allowed, unless `configuration.fetch` says otherwise
 * @param {object} [opts.configuration] extra oidc-provider configuration, shallow-merged last
 * @param {function[]} [opts.middleware] Koa middleware run before oidc-provider's own (`provider.use`), e.g. to
 *        record requests and responses in tests
 * @returns {Promise<{issuer: string, port: number, provider: Provider, server: http.Server,
 *          jwks: {keys: object[]}, publicJwks: {keys: object[]}, close(): Promise<void>}>}
 */
export async function startIdp({
  port = 0,
  host = '127.0.0.1',
  clients = [],
  accounts = {},
  jwks,
  ttl = {},
  claims: extraClaims = {},
  features: extraFeatures = {},
  configuration = {},
  middleware = [],
} = {}) {
  const signingJwks = jwks || (await generateSigningJwks());

  const { server, sockets, port: actualPort } = await listenTracked(port, host);
  const issuer = `http://${host}:${actualPort}`;

  const overridesFor = (login) =>
    typeof accounts === 'function' ? accounts(login) : (accounts && accounts[login]) || {};

  const config = {
    clients: clients.map((c) => ({ ...CLIENT_DEFAULTS, ...c })),
    jwks: signingJwks,
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    // Put the scope-requested claims (email, name) in the ID token even though an access token is issued too.
    conformIdTokenClaims: false,
    claims: {
      acr: null,
      sid: null,
      auth_time: null,
      iss: null,
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      ...extraClaims,
    },
    scopes: [
      ...new Set([
        'openid',
        'offline_access',
        'email',
        'profile',
        ...Object.entries(extraClaims)
          .filter(([, v]) => Array.isArray(v))
          .map(([k]) => k),
      ]),
    ],
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = page(
            'Sign out',
            `<h1>Sign out of the dev IdP?</h1>${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`,
          );
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = page('Signed out', '<h1>Signed out</h1><p>You are signed out of the dev IdP.</p>');
        },
      },
      ...extraFeatures,
    },
    enabledJWA: {
      idTokenSigningAlgValues: [...SIGNING_ALGS],
    },
    async findAccount(_ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          return claimsForLogin(sub, overridesFor(sub));
        },
      };
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page(
        'Error',
        `<h1>Error</h1>${Object.entries(out)
          .map(([k, v]) => `<pre><strong>${htmlEscape(k)}</strong>: ${htmlEscape(v)}</pre>`)
          .join('')}`,
      );
    },
    clientBasedCORS(_ctx, origin, client) {
      return client.redirectUris.some((uri) => URL.parse(uri)?.origin === origin);
    },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      ClientCredentials: 600,
      DeviceCode: 600,
      BackchannelAuthenticationRequest: 600,
      PreAuthorizedCode: 600,
      IdToken: 3600,
      RefreshToken: 86400,
      Interaction: 3600,
      Session: 86400,
      Grant: 86400,
      ...ttl,
    },
    ...(extraFeatures.backchannelLogout?.enabled ? { fetch: loopbackAllowingFetch } : {}),
    ...configuration,
  };

  let provider;
  try {
    provider = new Provider(issuer, config);
  } catch (err) {
    server.close();
    throw err;
  }
  provider.on('server_error', (_ctx, err) => {
    console.error('[dev-idp] server_error:', err);
  });
  for (const fn of middleware) provider.use(fn);
  server.on('request', provider.callback());

  const publicJwks = {
    keys: signingJwks.keys.map(({ d, p, q, dp, dq, qi, ...pub }) => pub),
  };

  let closed = false;
  return {
    issuer,
    port: actualPort,
    provider,
    server,
    jwks: signingJwks,
    publicJwks,
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

/** Read dev/idp.config.json (or the file at `path`). */
export function readDevConfig(path = fileURLToPath(new URL('./idp.config.json', import.meta.url))) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

async function main() {
  const cfgPath = process.env.IDP_CONFIG || fileURLToPath(new URL('./idp.config.json', import.meta.url));
  const cfg = readDevConfig(cfgPath);
  const port = Number(process.env.IDP_PORT || cfg.port || 9000);
  const idp = await startIdp({ port, clients: cfg.clients || [], accounts: cfg.accounts || {} });
  console.log(`[dev-idp] OpenID Provider ready: ${idp.issuer}`);
  console.log(`[dev-idp] discovery: ${idp.issuer}/.well-known/openid-configuration`);
  console.log(`[dev-idp] clients: ${(cfg.clients || []).map((c) => `${c.client_id} (${c.id_token_signed_response_alg || 'RS256'})`).join(', ')}`);
  console.log('[dev-idp] any login name and any password are accepted at the login form');
  const stop = async () => {
    await idp.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === (await import('node:fs')).realpathSync(process.argv[1])) {
  main().catch((err) => {
    console.error('[dev-idp] failed to start:', err);
    process.exit(1);
  });
}
