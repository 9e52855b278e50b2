// A real SAML 2.0 Identity Provider for the end-to-end tests: npm `samlify` (its IdentityProvider parses the
// HTTP-Redirect AuthnRequest, builds and signs the response with its own XML-DSig code) behind node:http on
// 127.0.0.1. Nothing here is edge-auth's code: what edge-auth accepts from it, it accepts from a third party.
//
//   const idp = await startSamlIdp();                     // keys: the TEST-ONLY pair in tests/fixtures/xml/dsig
//   idp.ssoUrl, idp.metadataUrl, idp.entityId, idp.certificatePem
//   idp.trustSp(await (await fetch(`${worker}/auth/saml/corp/metadata`)).text());   // the SP, from its metadata
//   const { response } = await samlLogin(b, { worker, idp, email: 'alice@saml.example' });
//   await idp.close();
//
// Routes:
//   GET  /metadata           the IdP's metadata (EntityDescriptor with IDPSSODescriptor, signing certificate)
//   GET  /sso?SAMLRequest=…  inflates and reads the AuthnRequest (samlify), checks it names a trusted SP, its ACS
//                            URL and this SSO URL; answers a login page (a form: email, groups)
//   POST /sso/login          the login form: answers the HTTP-POST binding's auto-submit form to the SP's ACS
//                            with SAMLResponse (signed) and the request's RelayState
// The IdP never authenticates anyone: the e2e tests are about the SP. Every AuthnRequest it read is kept in
// `idp.requests` (its XML and fields) so that a test can look at what the SP sent.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { inflateRawSync } from 'node:zlib';

import samlify from 'samlify';

import { parseForms, ROOT } from './harness.mjs';

/** The worker built with the SAML feature (EDGE_AUTH_FEATURES=saml EDGE_AUTH_OUT=build-saml scripts/build.sh). */
export const SAML_WORKER_SCRIPT = process.env.EDGE_AUTH_SAML_WORKER_SCRIPT
  ? path.resolve(process.env.EDGE_AUTH_SAML_WORKER_SCRIPT)
  : path.join(ROOT, 'build-saml', 'index.js');

/** The SAML transaction cookie on http loopback (src/core/session/cookies.rs; `__Host-` prefixed over https). */
export const SAML_TX_COOKIE = 'edge-auth-saml-tx';

export const SAML_FIXTURES = path.join(ROOT, 'tests', 'fixtures', 'xml', 'dsig');
/** TEST-ONLY keys (committed, generated for the XML-DSig fixtures; never used anywhere else). */
export function testKeyPair(name = 'rsa') {
  const pem = (f) => readFileSync(path.join(SAML_FIXTURES, f), 'utf8');
  const [key, cert] = name === 'rsa' ? ['rsa-key.pem', 'rsa-cert.pem']
    : name === 'other' ? ['other-key.pem', 'other-cert.pem']
      : name === 'ec' ? ['ec-key.pem', 'ec-cert.pem'] : [];
  if (!key) throw new Error(`no test key pair ${name}`);
  return { privateKey: pem(key), certificate: pem(cert) };
}

/** The base64 DER of a PEM certificate (the form of metadata's X509Certificate and of `idp_certificates`). */
export function certificateBase64(pem) {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}

export const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
export const NAMEID_PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';

// samlify validates every message against the SAML schema through a plug-in (xmllint in Java or WASM); none is
// installed for the tests. The IdP reads only AuthnRequests edge-auth wrote; the checks that matter to the
// tests (issuer, ACS, destination) are made below, on the parsed request.
let validatorSet = false;
function noSchemaValidation() {
  if (validatorSet) return;
  validatorSet = true;
  samlify.setSchemaValidator({ validate: async () => 'skipped: no schema validator in the tests' });
}

// The response template: samlify's default one plus an AuthnStatement (samlify leaves it empty; the Web SSO
// profile requires one) and an AttributeStatement with the usual claims. Values go through samlify's escaping
// (SamlLib.replaceTagsByValue).
const RESPONSE_TEMPLATE =
  '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{ID}" Version="2.0" IssueInstant="{IssueInstant}" Destination="{Destination}" InResponseTo="{InResponseTo}">' +
  '<saml:Issuer>{Issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{StatusCode}"/></samlp:Status>' +
  '<saml:Assertion xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="{AssertionID}" Version="2.0" IssueInstant="{IssueInstant}">' +
  '<saml:Issuer>{Issuer}</saml:Issuer>' +
  '<saml:Subject><saml:NameID Format="{NameIDFormat}">{NameID}</saml:NameID>' +
  '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{SubjectConfirmationDataNotOnOrAfter}" Recipient="{SubjectRecipient}" InResponseTo="{InResponseTo}"/></saml:SubjectConfirmation></saml:Subject>' +
  '<saml:Conditions NotBefore="{ConditionsNotBefore}" NotOnOrAfter="{ConditionsNotOnOrAfter}"><saml:AudienceRestriction><saml:Audience>{Audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions>' +
  '<saml:AuthnStatement AuthnInstant="{IssueInstant}" SessionIndex="{SessionIndex}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>' +
  '<saml:AttributeStatement>' +
  '<saml:Attribute Name="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"><saml:AttributeValue xsi:type="xs:string">{AttrEmail}</saml:AttributeValue></saml:Attribute>' +
  '<saml:Attribute Name="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"><saml:AttributeValue xsi:type="xs:string">{AttrName}</saml:AttributeValue></saml:Attribute>' +
  '{GroupAttribute}' +
  '</saml:AttributeStatement></saml:Assertion></samlp:Response>';

const escapeHtml = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

/** The auto-submitting HTML form of the HTTP-POST binding (SAML Bindings §3.5.4). */
export function postBindingPage(action, fields) {
  const inputs = Object.entries(fields)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('');
  return `<!doctype html><html><body onload="document.forms[0].submit()"><form method="post" action="${escapeHtml(action)}">${inputs}<noscript><button>Continue</button></noscript></form></body></html>`;
}

/** The XML of an HTTP-Redirect SAMLRequest parameter: base64 of raw DEFLATE. */
export function inflateRedirectParam(value) {
  return inflateRawSync(Buffer.from(value, 'base64')).toString('utf8');
}

/** A few attributes of the AuthnRequest (regexes suffice: samlify's parser read it first). */
function requestFields(xml) {
  const attr = (name) => new RegExp(`<(?:\\w+:)?AuthnRequest\\b[^>]*\\s${name}="([^"]*)"`).exec(xml)?.[1];
  return {
    id: attr('ID'),
    destination: attr('Destination'),
    acsUrl: attr('AssertionConsumerServiceURL'),
    protocolBinding: attr('ProtocolBinding'),
    issuer: /<(?:\w+:)?Issuer[^>]*>([^<]*)<\//.exec(xml)?.[1]?.trim(),
  };
}

/**
 * Start the IdP.
 * @param {object} [opts]
 * @param {string} [opts.entityId='https://idp.test/entity']
 * @param {{privateKey: string, certificate: string}} [opts.keys] PEMs (default: the TEST-ONLY rsa pair)
 * @param {boolean} [opts.signResponse=false] sign the Response too (the assertion is always signed: the SP's
 *        metadata says WantAssertionsSigned)
 * @param {number} [opts.lifetimeSeconds=300] of the assertion (Conditions and bearer confirmation)
 * @param {string} [opts.publicHost='127.0.0.1'] the host name in the IdP's URLs (it listens on 127.0.0.1):
 *        'localhost' makes the IdP another site than a worker on 127.0.0.1 (a real browser's cross-site POST)
 * @param {{data: string, key: string, encryptThenSign?: boolean}} [opts.encrypt] encrypt the assertion (samlify's
 *        own XML Encryption, npm @authenio/xml-encryption) to the encryption certificate of the SP's metadata:
 *        `data` and `key` are algorithm URIs; `encryptThenSign`: sign the Response after encrypting (else samlify
 *        signs it before, which breaks the Response's signature)
 */
export async function startSamlIdp({
  entityId = 'https://idp.test/entity',
  keys = testKeyPair('rsa'),
  signResponse = false,
  lifetimeSeconds = 300,
  publicHost = '127.0.0.1',
  encrypt,
} = {}) {
  noSchemaValidation();
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://${publicHost}:${server.address().port}`;
  const ssoUrl = `${base}/sso`;
  const idp = samlify.IdentityProvider({
    entityID: entityId,
    privateKey: keys.privateKey,
    signingCert: keys.certificate,
    nameIDFormat: [NAMEID_EMAIL],
    singleSignOnService: [
      { Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: ssoUrl },
      { Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', Location: ssoUrl },
    ],
    // Not served (the tests do not log out at the IdP); declared so that samlify does not warn.
    singleLogoutService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: `${base}/slo` }],
    wantAuthnRequestsSigned: false,
    ...(encrypt ? { isAssertionEncrypted: true, dataEncryptionAlgorithm: encrypt.data, keyEncryptionAlgorithm: encrypt.key } : {}),
  });
  const metadataXml = idp.getMetadata();

  /** Trusted SPs by entity ID (samlify ServiceProvider objects, built from the SP's own metadata). */
  const sps = new Map();
  const requests = [];
  const handle = {
    url: base,
    entityId,
    ssoUrl,
    metadataUrl: `${base}/metadata`,
    certificatePem: keys.certificate,
    certificateBase64: certificateBase64(keys.certificate),
    metadataXml,
    /** Every AuthnRequest read: { xml, id, destination, acsUrl, issuer, relayState } */
    requests,
    /** Metadata requests served (to see that the SP fetched it) */
    metadataFetches: 0,
    samlify: idp,
    /** With `encrypt`: sign the Response after encrypting the assertion (a test may change it). */
    encryptThenSign: encrypt?.encryptThenSign ?? false,
    /**
     * Trust an SP from its metadata XML (its entity ID and ACS URL come from there). `signResponse` (default:
     * the IdP's option): sign the Response as well as the assertion for this SP.
     */
    trustSp(spMetadataXml, { signResponse: signBoth = signResponse } = {}) {
      const sp = samlify.ServiceProvider({ metadata: spMetadataXml, wantMessageSigned: signBoth });
      sps.set(sp.entityMeta.getEntityID(), sp);
      return { entityId: sp.entityMeta.getEntityID(), acsUrl: sp.entityMeta.getAssertionConsumerService('post') };
    },
    close() {
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };

  async function readBody(req) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    return Buffer.concat(chunks).toString('utf8');
  }

  function send(res, status, type, body) {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  }

  // The login page carries the request as hidden fields (like a real IdP carries it in its session).
  function loginPage(samlRequest, relayState) {
    return `<!doctype html><html><body><h1>Test IdP</h1><form method="post" action="/sso/login">` +
      `<input type="hidden" name="SAMLRequest" value="${escapeHtml(samlRequest)}">` +
      (relayState === undefined ? '' : `<input type="hidden" name="RelayState" value="${escapeHtml(relayState)}">`) +
      `<input name="email" value=""><input name="name" value=""><input name="groups" value=""><button>Sign in</button></form></body></html>`;
  }

  /** Read and check an AuthnRequest (HTTP-Redirect encoding); returns { sp, info, fields } or an error string. */
  async function readRequest(samlRequest) {
    let xml;
    try {
      xml = inflateRedirectParam(samlRequest);
    } catch (e) {
      return `SAMLRequest is not raw DEFLATE + base64: ${e.message}`;
    }
    const fields = requestFields(xml);
    const sp = sps.get(fields.issuer);
    if (!sp) return `unknown SP (Issuer ${fields.issuer}; trusted: ${[...sps.keys()].join(', ')})`;
    let info;
    try {
      info = await idp.parseLoginRequest(sp, 'redirect', { query: { SAMLRequest: samlRequest } });
    } catch (e) {
      return `samlify refused the AuthnRequest: ${e?.message ?? e}`;
    }
    if (info.extract?.request?.id !== fields.id) return 'samlify read another request ID';
    if (fields.destination !== ssoUrl) return `Destination ${fields.destination} is not ${ssoUrl}`;
    const acs = sp.entityMeta.getAssertionConsumerService('post');
    if (fields.acsUrl !== acs) return `AssertionConsumerServiceURL ${fields.acsUrl} is not the SP's ${acs}`;
    return { sp, info, fields, xml };
  }

  server.on('request', async (req, res) => {
    try {
      const u = new URL(req.url, base);
      if (req.method === 'GET' && u.pathname === '/metadata') {
        handle.metadataFetches++;
        return send(res, 200, 'application/samlmetadata+xml', metadataXml);
      }
      if (req.method === 'GET' && u.pathname === '/sso') {
        const samlRequest = u.searchParams.get('SAMLRequest');
        if (!samlRequest) return send(res, 400, 'text/plain', 'no SAMLRequest');
        const read = await readRequest(samlRequest);
        if (typeof read === 'string') return send(res, 400, 'text/plain', read);
        const relayState = u.searchParams.get('RelayState') ?? undefined;
        requests.push({ ...read.fields, xml: read.xml, relayState });
        return send(res, 200, 'text/html', loginPage(samlRequest, relayState));
      }
      if (req.method === 'POST' && u.pathname === '/sso/login') {
        const form = new URLSearchParams(await readBody(req));
        const read = await readRequest(form.get('SAMLRequest') ?? '');
        if (typeof read === 'string') return send(res, 400, 'text/plain', read);
        const email = form.get('email') || 'alice@saml.example';
        const groups = (form.get('groups') || '').split(',').filter(Boolean);
        const relayState = form.get('RelayState') ?? undefined;
        const { context, entityEndpoint } = await idp.createLoginResponse(read.sp, read.info, 'post', { email }, {
          relayState,
          encryptThenSign: handle.encryptThenSign,
          customTagReplacement: (template) => fillResponse(template, { sp: read.sp, requestId: read.fields.id, email, name: form.get('name') || email.split('@')[0], groups }),
        });
        return send(res, 200, 'text/html', postBindingPage(entityEndpoint, { SAMLResponse: context, RelayState: relayState }));
      }
      return send(res, 404, 'text/plain', 'not found');
    } catch (e) {
      return send(res, 500, 'text/plain', `test IdP error: ${e?.stack ?? e}`);
    }
  });

  function fillResponse(_template, { sp, requestId, email, name, groups }) {
    const now = new Date();
    const later = new Date(now.getTime() + lifetimeSeconds * 1000).toISOString();
    const acs = sp.entityMeta.getAssertionConsumerService('post');
    const id = idp.entitySetting.generateID();
    const groupAttribute = groups.length
      ? `<saml:Attribute Name="http://schemas.microsoft.com/ws/2008/06/identity/claims/groups">${groups
        .map((g) => `<saml:AttributeValue xsi:type="xs:string">${escapeHtml(g)}</saml:AttributeValue>`)
        .join('')}</saml:Attribute>`
      : '';
    const context = samlify.SamlLib.replaceTagsByValue(RESPONSE_TEMPLATE, {
      ID: id,
      AssertionID: idp.entitySetting.generateID(),
      Destination: acs,
      Audience: sp.entityMeta.getEntityID(),
      SubjectRecipient: acs,
      Issuer: entityId,
      IssueInstant: now.toISOString(),
      StatusCode: 'urn:oasis:names:tc:SAML:2.0:status:Success',
      ConditionsNotBefore: now.toISOString(),
      ConditionsNotOnOrAfter: later,
      SubjectConfirmationDataNotOnOrAfter: later,
      NameIDFormat: NAMEID_EMAIL,
      NameID: email,
      InResponseTo: requestId,
      SessionIndex: `_session-${id.slice(1, 9)}`,
      AttrEmail: email,
      AttrName: name,
    }).replace('{GroupAttribute}', groupAttribute);
    return { id, context };
  }

  return handle;
}

/**
 * A browser's SP-initiated sign-in: worker /auth/login?email → 302 to the IdP's SSO URL → the IdP's login form
 * (submitted with `email`, `groups`) → the IdP's auto-submit form, POSTed to the worker's ACS with the jar's
 * cookies. Returns the worker's answer to the ACS POST (not followed) and the steps.
 * @param {import('./harness.mjs').Browserless} b
 * @param {object} o
 * @param {string} o.worker
 * @param {string} o.email       typed on the worker (home-realm discovery) and, unless `idpEmail`, at the IdP
 * @param {string} [o.idpEmail]  the account the IdP signs in (its NameID)
 * @param {string[]} [o.groups]
 * @param {string} [o.returnTo]
 * @param {(fields: {SAMLResponse: string, RelayState?: string}) => object} [o.tamper] change the posted fields
 * @param {boolean} [o.stopBeforeAcs] return without posting to the ACS (`acs` has action + fields)
 */
export async function samlLogin(b, { worker, email, idpEmail, groups = [], returnTo, tamper, stopBeforeAcs = false }) {
  const login = new URL('/auth/login', worker);
  login.searchParams.set('email', email);
  if (returnTo !== undefined) login.searchParams.set('return_to', returnTo);
  const start = await b.navigate(login.href);
  if (!start.isRedirect) throw new Error(`/auth/login did not redirect\n${start.describe()}`);
  const ssoUrl = start.location;
  const page = await b.navigate(ssoUrl);
  if (page.status !== 200) throw new Error(`the IdP refused the AuthnRequest\n${page.describe(2000)}`);
  const [loginForm] = parseForms(page.body, page.url);
  const posted = await b.submit(loginForm.action, {
    ...loginForm.fields,
    email: idpEmail ?? email,
    groups: groups.join(','),
  });
  if (posted.status !== 200) throw new Error(`the IdP's login failed\n${posted.describe(2000)}`);
  const [acsForm] = parseForms(posted.body, posted.url);
  const fields = tamper ? tamper({ ...acsForm.fields }) : acsForm.fields;
  const acs = { action: acsForm.action, fields };
  if (stopBeforeAcs) return { start, ssoUrl, acs };
  // The IdP's page posts cross-site to the SP (Origin: the IdP's).
  const response = await b.submit(acsForm.action, fields, { from: posted.url });
  return { start, ssoUrl, acs, response };
}
