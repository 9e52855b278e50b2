// A real WS-Federation passive STS (Identity Provider) for the end-to-end tests: npm `wsfed` (auth0's
// WS-Federation IdP middleware for express) answers `wa=wsignin1.0` with a SAML 1.1 token signed by its `saml`
// dependency (its own XML-DSig code: xml-crypto 2 under the hood), wrapped in a WS-Trust 2005/02
// RequestSecurityTokenResponse and posted back by its own auto-submit form; its metadata middleware serves the
// federation metadata (RoleDescriptor fed:SecurityTokenServiceType: signing KeyDescriptor,
// PassiveRequestorEndpoint) at the AD FS / Entra path. `wsfed` 6 issues SAML 1.1 only: with `token: 'saml2'`
// the same `saml` package (its Saml20) signs a SAML 2.0 assertion, wrapped and posted the way `wsfed` does it
// (and as Entra does with the SAML 2.0 token type). Nothing here is edge-auth's code: what edge-auth accepts
// from it, it accepts from a third party.
//
//   const idp = await startWsFedIdp();                 // keys: the TEST-ONLY pair in tests/fixtures/xml/dsig
//   idp.issuer, idp.ssoUrl, idp.metadataUrl, idp.certificatePem, idp.certificateBase64
//   idp.trustRp({ realm: `${worker}/auth/wsfed/corp`, replyUrl: `${worker}/auth/wsfed/corp` });
//   const { response } = await wsfedLogin(b, { worker, email: 'alice@wsfed.example' });
//   await idp.close();
//
// Routes (AD FS's paths):
//   GET  /FederationMetadata/2007-06/FederationMetadata.xml   wsfed.metadata()
//   GET  /adfs/ls/?wa=wsignin1.0&wtrealm&wctx&wreply          checks the realm is a trusted relying party and
//        wreply is its reply URL (AD FS refuses other reply URLs); answers a login page (a form: the user)
//   POST /adfs/ls/login                                       the login form: wsfed.auth() answers the
//        auto-submit form (wa=wsignin1.0, wresult, wctx) to wreply
//   GET  /adfs/ls/?wa=wsignout1.0&wreply                      signs the IdP session out: a page that loads
//        `{reply URL}?wa=wsignoutcleanup1.0` (an <img>) for every relying party this IdP session signed in to,
//        then links to wreply when it belongs to a trusted relying party
// The IdP never authenticates anyone: the e2e tests are about the relying party. Every sign-in request it read
// is kept in `idp.requests`, every sign-out in `idp.signouts`.
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';

import { parseForms } from './harness.mjs';
import { certificateBase64, SAML_WORKER_SCRIPT, testKeyPair } from './saml-idp.mjs';

const require = createRequire(import.meta.url);
const express = require('express');
const wsfed = require('wsfed');
// wsfed's own dependencies, resolved from wsfed (its SAML signer and its form template).
const fromWsfed = createRequire(require.resolve('wsfed'));
const { Saml20 } = fromWsfed('saml');
const wsfedTemplates = fromWsfed('./templates');

/** The SAML build of the worker includes WS-Federation (EDGE_AUTH_FEATURES=saml,wsfed). */
export const WSFED_WORKER_SCRIPT = process.env.EDGE_AUTH_WSFED_WORKER_SCRIPT || SAML_WORKER_SCRIPT;

export const TRUST_2005_NS = 'http://schemas.xmlsoap.org/ws/2005/02/trust';
export const SAML11_TOKEN_TYPE = 'urn:oasis:names:tc:SAML:1.0:assertion';
export const SAML2_TOKEN_TYPE = 'urn:oasis:names:tc:SAML:2.0:assertion';
export const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
export const NAMEID_UNSPECIFIED = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';

/** The claim types AD FS and Entra send (src/core/wsfed/identity.rs reads them). */
export const CLAIM = {
  email: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
  upn: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn',
  name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
  givenName: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname',
  surname: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname',
  // Microsoft 365 / Entra federation: the on-premises objectGUID, base64 (the guide's ImmutableID).
  immutableId: 'http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID',
  // Entra's object ID of the user.
  objectId: 'http://schemas.microsoft.com/identity/claims/objectidentifier',
  // AD FS "Token-Groups" (the SAML-style group claim) and "as Roles".
  groups: 'http://schemas.xmlsoap.org/claims/Group',
  role: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role',
};

/** A base64 objectGUID (16 random bytes), the form of an ImmutableID. */
export const newObjectGuid = () => Buffer.from(randomUUID().replaceAll('-', ''), 'hex').toString('base64');

/**
 * The claims of a test user, by the CLAIM names. `user`: { email, name, upn, immutableId, objectId, groups,
 * roles, claims: {extra claim URI: value(s)} }; a field set to null is left out.
 */
export function claimsOf(user) {
  const claims = {};
  const put = (uri, value) => {
    if (value === undefined || value === null) return;
    if (Array.isArray(value) && value.length === 0) return;
    claims[uri] = value;
  };
  put(CLAIM.email, user.email);
  put(CLAIM.upn, user.upn);
  put(CLAIM.name, user.name);
  put(CLAIM.immutableId, user.immutableId);
  put(CLAIM.objectId, user.objectId);
  put(CLAIM.groups, user.groups);
  put(CLAIM.role, user.roles);
  for (const [uri, value] of Object.entries(user.claims ?? {})) put(uri, value);
  return claims;
}

/** A `wsfed` profile mapper (its PassportProfileMapper interface) for the users of claimsOf(). */
function ProfileMapper(user) {
  if (!(this instanceof ProfileMapper)) return new ProfileMapper(user);
  this.user = user;
}
ProfileMapper.prototype.getClaims = function getClaims() {
  return claimsOf(this.user);
};
ProfileMapper.prototype.getNameIdentifier = function getNameIdentifier() {
  return { nameIdentifier: this.user.nameIdentifier, nameIdentifierFormat: this.user.nameIdentifierFormat };
};
// What the metadata's ClaimTypesOffered lists.
ProfileMapper.prototype.metadata = Object.entries(CLAIM).map(([key, id]) => ({
  id,
  optional: true,
  displayName: key,
  description: `the ${key} claim`,
}));

const escapeHtml = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

/**
 * Start the IdP.
 * @param {object} [opts]
 * @param {string} [opts.issuer='http://adfs.wsfed.test/adfs/services/trust'] AD FS's issuer shape (Entra's is
 *        `https://sts.windows.net/{tenant}/`); the token's Issuer and the metadata's entityID
 * @param {{privateKey: string, certificate: string}} [opts.keys] PEMs (default: the TEST-ONLY rsa pair)
 * @param {number} [opts.lifetimeSeconds=600] of the token
 * @param {'saml11'|'saml2'} [opts.token='saml11'] the token type (a login can choose another)
 * @param {'rsa-sha256'|'rsa-sha1'} [opts.signatureAlgorithm='rsa-sha256'] (wsfed's option; its digest follows)
 * @param {string} [opts.publicHost='127.0.0.1'] the host name in the IdP's URLs (it listens on 127.0.0.1):
 *        'localhost' makes the IdP another site than a worker on 127.0.0.1
 */
export async function startWsFedIdp({
  issuer = 'http://adfs.wsfed.test/adfs/services/trust',
  keys: initialKeys = testKeyPair('rsa'),
  lifetimeSeconds = 600,
  token: defaultToken = 'saml11',
  signatureAlgorithm = 'rsa-sha256',
  publicHost = '127.0.0.1',
} = {}) {
  const app = express();
  app.disable('x-powered-by');
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const base = `http://${publicHost}:${server.address().port}`;
  const passivePath = '/adfs/ls/';
  const ssoUrl = `${base}${passivePath}`;
  const metadataPath = '/FederationMetadata/2007-06/FederationMetadata.xml';
  const digestAlgorithm = signatureAlgorithm === 'rsa-sha1' ? 'sha1' : 'sha256';
  // The signing pair, and the certificates the metadata publishes (a rollover publishes two).
  let keys = initialKeys;
  let published = [initialKeys.certificate];

  /** Trusted relying parties by realm: { realm, replyUrl }. */
  const rps = new Map();
  /** IdP sessions (cookie `wsfed-idp-session`): the relying parties each signed in to. */
  const sessions = new Map();
  const requests = [];
  const signouts = [];
  const handle = {
    url: base,
    issuer,
    ssoUrl,
    metadataUrl: `${base}${metadataPath}`,
    certificatePem: initialKeys.certificate,
    certificateBase64: certificateBase64(initialKeys.certificate),
    /** Every wsignin1.0 request read: { wa, wtrealm, wctx, wreply, url } */
    requests,
    /** Every wsignout1.0 / wsignout cleanup request: { wa, wreply, cleanup: [urls] } */
    signouts,
    metadataFetches: 0,
    /** Trust a relying party: its realm (wtrealm, the token's audience) and its reply URL (wreply). */
    trustRp({ realm, replyUrl }) {
      rps.set(realm, { realm, replyUrl });
      return { realm, replyUrl };
    },
    /**
     * Certificate rollover, as AD FS does it: sign with `signWith` from now on, and publish `publish` (PEMs; the
     * signing certificate first) in the metadata.
     */
    rollover({ signWith, publish = [signWith.certificate] }) {
      keys = signWith;
      published = publish;
    },
    /** The metadata XML, as served. */
    async metadataXml() {
      const r = await fetch(handle.metadataUrl);
      handle.metadataFetches--;
      return r.text();
    },
    close() {
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };

  // wsfed.metadata() publishes one certificate; a rollover's others are added as KeyDescriptors of their own,
  // the way AD FS lists its primary and secondary token-signing certificates.
  app.get(metadataPath, (req, res) => {
    handle.metadataFetches++;
    const [first, ...others] = published;
    const extra = others.map((pem) => `<KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>${certificateBase64(pem)}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>`).join('');
    const send = res.send.bind(res);
    res.send = (body) => send(extra ? String(body).replace(/(<\/KeyDescriptor>)/, `$1${extra}`) : body);
    wsfed.metadata({ issuer, cert: first, endpointPath: passivePath, profileMapper: ProfileMapper })(req, res);
  });

  // WS-Federation 1.2 §13.2: a relying party is known by its realm; AD FS sends the token only to a reply URL
  // registered for it.
  function checkRp(wtrealm, wreply) {
    if (!wtrealm) return 'no wtrealm';
    const rp = rps.get(wtrealm);
    if (!rp) return `unknown relying party (wtrealm ${wtrealm}; trusted: ${[...rps.keys()].join(', ')})`;
    if (wreply !== undefined && wreply !== null && wreply !== rp.replyUrl) return `wreply ${wreply} is not the reply URL of ${wtrealm} (${rp.replyUrl})`;
    return rp;
  }

  function sessionOf(req, res) {
    const id = /(?:^|;\s*)wsfed-idp-session=([\w-]+)/.exec(req.headers.cookie || '')?.[1];
    if (id && sessions.has(id)) return { id, rps: sessions.get(id) };
    const fresh = randomUUID();
    sessions.set(fresh, new Set());
    res.append('set-cookie', `wsfed-idp-session=${fresh}; Path=/; HttpOnly`);
    return { id: fresh, rps: sessions.get(fresh) };
  }

  function loginPage(q) {
    const hidden = ['wa', 'wtrealm', 'wctx', 'wreply']
      .filter((k) => q[k] !== undefined)
      .map((k) => `<input type="hidden" name="${k}" value="${escapeHtml(q[k])}">`)
      .join('');
    const visible = ['email', 'name', 'upn', 'immutable_id', 'object_id', 'groups', 'roles', 'name_identifier', 'name_identifier_format', 'token']
      .map((k) => `<input name="${k}" value="">`)
      .join('');
    return `<!doctype html><html><body><h1>Test WS-Federation IdP</h1><form method="post" action="${passivePath}login">${hidden}${visible}<button>Sign in</button></form></body></html>`;
  }

  const list = (v) => (v ? String(v).split(',').map((s) => s.trim()).filter(Boolean) : undefined);
  /** The user of a login form: claims from the fields (an empty field: no claim). */
  function userOf(form) {
    const email = form.email || 'alice@wsfed.example';
    const user = {
      email,
      name: form.name || undefined,
      upn: form.upn || undefined,
      immutableId: form.immutable_id || undefined,
      objectId: form.object_id || undefined,
      groups: list(form.groups),
      roles: list(form.roles),
      nameIdentifier: form.name_identifier || email,
      nameIdentifierFormat: form.name_identifier_format || (form.name_identifier ? NAMEID_UNSPECIFIED : NAMEID_EMAIL),
    };
    if (form.email === '-') delete user.email; // no email claim at all
    return user;
  }

  app.get(passivePath, (req, res) => {
    const q = Object.fromEntries(new URL(req.originalUrl, base).searchParams);
    if (q.wa === 'wsignin1.0') {
      const rp = checkRp(q.wtrealm, q.wreply);
      if (typeof rp === 'string') return res.status(400).type('text/plain').send(rp);
      requests.push({ ...q, url: `${base}${req.originalUrl}` });
      return res.status(200).type('text/html').set('cache-control', 'no-store').send(loginPage(q));
    }
    if (q.wa === 'wsignout1.0' || q.wa === 'wsignoutcleanup1.0') {
      const session = sessionOf(req, res);
      const cleanup = [...session.rps].map((realm) => rps.get(realm)?.replyUrl).filter(Boolean).map((u) => {
        const url = new URL(u);
        url.searchParams.set('wa', 'wsignoutcleanup1.0');
        return url.href;
      });
      session.rps.clear();
      // wreply: only to a trusted relying party's origin (an open redirect otherwise).
      const back = q.wreply && [...rps.values()].some((rp) => new URL(rp.replyUrl).origin === safeOrigin(q.wreply)) ? q.wreply : undefined;
      signouts.push({ wa: q.wa, wreply: q.wreply, cleanup, back });
      const imgs = cleanup.map((u) => `<img alt="" class="cleanup" src="${escapeHtml(u)}">`).join('');
      const link = back ? `<a id="continue" href="${escapeHtml(back)}">Continue</a>` : '';
      return res.status(200).type('text/html').set('cache-control', 'no-store')
        .send(`<!doctype html><html><body><h1>You have signed out</h1>${imgs}${link}</body></html>`);
    }
    return res.status(400).type('text/plain').send(`unsupported wa ${q.wa}`);
  });

  app.post(`${passivePath}login`, express.urlencoded({ extended: false }), (req, res, next) => {
    const form = req.body;
    const rp = checkRp(form.wtrealm, form.wreply);
    if (typeof rp === 'string') return res.status(400).type('text/plain').send(rp);
    const user = userOf(form);
    const session = sessionOf(req, res);
    session.rps.add(rp.realm);
    const query = { wa: form.wa, wtrealm: form.wtrealm, wctx: form.wctx, wreply: form.wreply };
    const kind = form.token || defaultToken;
    if (kind === 'saml2') return saml2Response(res, rp, user, query, next);
    // wsfed.auth() reads req.query and the user; it posts to what getPostURL answers (the registered reply URL).
    const middleware = wsfed.auth({
      issuer,
      cert: keys.certificate,
      key: keys.privateKey,
      lifetimeInSeconds: lifetimeSeconds,
      signatureAlgorithm,
      digestAlgorithm,
      profileMapper: ProfileMapper,
      getUserFromRequest: () => user,
      getPostURL: (_wtrealm, _wreply, _req, cb) => cb(null, rp.replyUrl),
    });
    const wsfedReq = Object.create(req, { query: { value: query, enumerable: true } });
    return middleware(wsfedReq, res, next);
  });

  // SAML 2.0 token (Saml20 of wsfed's `saml` dependency), in the envelope wsfed writes, posted by wsfed's form.
  function saml2Response(res, rp, user, query, next) {
    try {
      const assertion = Saml20.create({
        issuer,
        cert: keys.certificate,
        key: keys.privateKey,
        signatureAlgorithm,
        digestAlgorithm,
        lifetimeInSeconds: lifetimeSeconds,
        audiences: query.wtrealm,
        recipient: rp.replyUrl,
        attributes: claimsOf(user),
        nameIdentifier: user.nameIdentifier,
        nameIdentifierFormat: user.nameIdentifierFormat,
        authnContextClassRef: 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
      });
      const context = query.wctx === undefined ? '' : ` Context="${escapeHtml(query.wctx)}"`;
      const wresult = `<t:RequestSecurityTokenResponse${context} xmlns:t="${TRUST_2005_NS}"><t:TokenType>${SAML2_TOKEN_TYPE}</t:TokenType><t:RequestedSecurityToken>${assertion}</t:RequestedSecurityToken></t:RequestSecurityTokenResponse>`;
      res.set('content-type', 'text/html');
      return res.send(wsfedTemplates.form({ callback: rp.replyUrl, wctx: query.wctx, wresult }));
    } catch (e) {
      return next(e);
    }
  }

  app.use((err, _req, res, _next) => {
    res.status(500).type('text/plain').send(`test IdP error: ${err?.stack ?? err}`);
  });

  return handle;
}

function safeOrigin(u) {
  try {
    return new URL(u).origin;
  } catch {
    return undefined;
  }
}

/** The wsignin1.0 parameters of a redirect to the IdP: { url, wa, wtrealm, wctx, wreply, other: [names] }. */
export function signInParams(location) {
  const u = new URL(location);
  const p = Object.fromEntries(u.searchParams);
  return {
    url: `${u.origin}${u.pathname}`,
    wa: p.wa,
    wtrealm: p.wtrealm,
    wctx: p.wctx,
    wreply: p.wreply,
    params: p,
  };
}

/**
 * A browser's sign-in: worker /auth/login?email → 302 to the IdP (wsignin1.0) → the IdP's login form (submitted
 * with the user) → the IdP's auto-submit form (wa, wresult, wctx), POSTed to the worker's reply URL with the
 * jar's cookies, from the IdP's origin. Returns the worker's answer to that POST (not followed) and the steps.
 * @param {import('./harness.mjs').Browserless} b
 * @param {object} o
 * @param {string} o.worker
 * @param {string} o.email       typed on the worker (home-realm discovery) and, unless `user.email`, at the IdP
 * @param {object} [o.user]      the IdP's user: { email ('-': no email claim), name, upn, immutableId, objectId,
 *                               groups[], roles[], nameIdentifier, nameIdentifierFormat }
 * @param {'saml11'|'saml2'} [o.token] the token type (default: the IdP's)
 * @param {string} [o.returnTo]
 * @param {(fields: {wa: string, wresult: string, wctx?: string}) => object} [o.tamper] change the posted fields
 * @param {boolean} [o.stopBeforeReply] return without posting to the worker (`reply` has action + fields)
 */
export async function wsfedLogin(b, { worker, email, user = {}, token, returnTo, tamper, stopBeforeReply = false }) {
  const login = new URL('/auth/login', worker);
  login.searchParams.set('email', email);
  if (returnTo !== undefined) login.searchParams.set('return_to', returnTo);
  const start = await b.navigate(login.href);
  if (!start.isRedirect) throw new Error(`/auth/login did not redirect\n${start.describe()}`);
  const ssoUrl = start.location;
  const page = await b.navigate(ssoUrl);
  if (page.status !== 200) throw new Error(`the IdP refused the wsignin1.0 request\n${page.describe(2000)}`);
  const [loginForm] = parseForms(page.body, page.url);
  const list = (v) => (Array.isArray(v) ? v.join(',') : v ?? '');
  const posted = await b.submit(loginForm.action, {
    ...loginForm.fields,
    email: user.email ?? email,
    name: user.name ?? '',
    upn: user.upn ?? '',
    immutable_id: user.immutableId ?? '',
    object_id: user.objectId ?? '',
    groups: list(user.groups),
    roles: list(user.roles),
    name_identifier: user.nameIdentifier ?? '',
    name_identifier_format: user.nameIdentifierFormat ?? '',
    token: token ?? '',
  });
  if (posted.status !== 200) throw new Error(`the IdP's login failed\n${posted.describe(2000)}`);
  const [replyForm] = parseForms(posted.body, posted.url);
  if (!replyForm?.fields?.wresult) throw new Error(`the IdP answered no wresult form\n${posted.describe(2000)}`);
  const fields = tamper ? tamper({ ...replyForm.fields }) : replyForm.fields;
  const reply = { action: replyForm.action, fields };
  if (stopBeforeReply) return { start, ssoUrl, reply, posted };
  // The IdP's page posts cross-site to the relying party (Origin: the IdP's).
  const response = await b.submit(replyForm.action, fields, { from: posted.url });
  return { start, ssoUrl, reply, response };
}

/**
 * Sign out at the IdP (wsignout1.0, as the worker's logout redirect or the IdP's own sign-out link sends the
 * browser there): the IdP's page, then each cleanup <img> loaded as a browser loads a cross-site image.
 * Returns { page, cleanup: [responses], back } (back: the IdP's link to wreply, not followed).
 */
export async function wsfedIdpSignOut(b, url) {
  const page = await b.navigate(url);
  if (page.status !== 200) throw new Error(`the IdP's sign-out failed\n${page.describe(2000)}`);
  const srcs = [...page.body.matchAll(/<img\b[^>]*\bsrc="([^"]+)"/g)].map((m) => m[1].replaceAll('&amp;', '&'));
  const cleanup = [];
  for (const src of srcs) {
    const target = new URL(src, page.url);
    // Same host (any port) is the same site: a browser then sends the relying party's SameSite=Lax cookies with
    // the image. Browserless sends them either way; a real browser would not for an IdP on another site.
    const site = target.hostname === new URL(page.url).hostname ? 'same-site' : 'cross-site';
    cleanup.push(await b.get(target.href, {
      headers: { accept: 'image/avif,image/webp,image/*,*/*;q=0.8', 'sec-fetch-dest': 'image', 'sec-fetch-mode': 'no-cors', 'sec-fetch-site': site, referer: page.url },
    }));
  }
  const back = /<a id="continue" href="([^"]+)"/.exec(page.body)?.[1]?.replaceAll('&amp;', '&');
  return { page, cleanup, back };
}
