// Connector kind "entra", end to end through the real worker in workerd against an Entra-ID-shaped provider
// (tests/support/fake-idp/shapes.mjs): multi-tenant authorities (organizations, common) whose discovery states
// the literal `{tenantid}` issuer, single tenants by GUID and by domain, personal accounts (consumers), the
// default authority https://login.microsoftonline.com (reached through the test outbound router), and every way
// a token's tenant can disagree with what the connector allows: foreign tenants, an `iss` naming another tenant
// than `tid`, unresolved or foreign-cloud issuers, missing or mangled `tid`, discovery documents that lie.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { assertNoSessionSet, assertRefusal, me } from '../../support/assert.mjs';
import { Browserless, randomKey } from '../../support/harness.mjs';
import { ENTRA_CONSUMERS_TENANT, guidFrom, OMIT, startEntraOp } from '../../support/fake-idp/index.mjs';
import { expectRefusedSignIn, expectSignedIn, signIn, startShapeStack } from '../../support/stacks.mjs';

const CONTOSO = guidFrom('tenant:contoso');
const FABRIKAM = guidFrom('tenant:fabrikam');
const EVIL = guidFrom('tenant:evil');
const NORTHWIND = guidFrom('tenant:northwind');
const TAILSPIN = guidFrom('tenant:tailspin');
const WOODGROVE = guidFrom('tenant:woodgrove');
const ALPHA = guidFrom('tenant:alpha');
const BRAVO = guidFrom('tenant:bravo');
const CHARLIE = guidFrom('tenant:charlie');

const TENANTS = [
  { id: CONTOSO, name: 'Contoso', domains: ['contoso.example'], initialDomain: 'contoso.onmicrosoft.com' },
  { id: FABRIKAM, name: 'Fabrikam', domains: ['fabrikam.example', 'fabrikam-fp.example'] },
  { id: EVIL, name: 'Evil Corp', domains: ['evil.example'] },
  { id: NORTHWIND, name: 'Northwind', domains: ['northwind.example'] },
  { id: TAILSPIN, name: 'Tailspin', domains: ['tailspin.example', 'tailspin-restricted.example'], initialDomain: 'tailspin.onmicrosoft.com' },
  { id: WOODGROVE, name: 'Woodgrove', domains: ['woodgrove.example'] },
  // nOAuth: the "partners" connector admits Alpha and Bravo; Charlie owns a domain routed to it. nowhere.example
  // is verified in no tenant.
  { id: ALPHA, name: 'Alpha', domains: ['alpha.example'] },
  { id: BRAVO, name: 'Bravo', domains: ['bravo.example', 'bravo-cached.example'] },
  { id: CHARLIE, name: 'Charlie', domains: ['charlie.example'] },
  { id: ENTRA_CONSUMERS_TENANT, name: 'Microsoft Accounts', domains: ['outlook.example'] },
];

const CLOUD = 'https://login.microsoftonline.com';
let stack;
let entra; // authority = its own URL (connectors set `authority`)
let cloud; // authority = https://login.microsoftonline.com (connectors use the default)
let liar; // discovery documents that state the wrong issuer
let A; // entra's authority

before(async () => {
  stack = await startShapeStack(async ({ redirectUri }) => {
    const client = { client_id: guidFrom('app:edge-auth'), client_secret: `entra-secret-${randomKey(18)}`, redirect_uris: [redirectUri] };
    entra = await startEntraOp({ name: 'entra', clients: [client], tenants: TENANTS });
    cloud = await startEntraOp({ name: 'entra-cloud', clients: [client], tenants: TENANTS, authority: CLOUD });
    liar = await startEntraOp({
      name: 'entra-liar',
      clients: [client],
      tenants: TENANTS,
      // organizations names one concrete tenant instead of the template; common puts the template on another
      // host; Northwind's document names Evil Corp.
      discovery: (doc, segment) => ({
        ...doc,
        issuer:
          segment === 'organizations'
            ? doc.issuer.replace('{tenantid}', CONTOSO)
            : segment === 'common'
              ? 'https://login.evil.example/{tenantid}/v2.0'
              : doc.issuer.replace(NORTHWIND, EVIL),
      }),
    });
    const common = { kind: 'entra', client_id: client.client_id, client_secret_binding: 'ENTRA_CLIENT_SECRET' };
    return {
      ops: { entra, cloud, liar },
      secrets: { ENTRA_CLIENT_SECRET: client.client_secret },
      routes: { [CLOUD]: cloud.url, 'https://graph.microsoft.com': cloud.url },
      connectors: [
        { id: 'orgs', ...common, tenant: 'organizations', allowed_tenants: [CONTOSO, FABRIKAM.toUpperCase()], authority: entra.url, domains: ['contoso.example', 'fabrikam.example'] },
        { id: 'orgs-fp', ...common, tenant: 'organizations', allowed_tenants: [FABRIKAM], authority: entra.url, response_mode: 'form_post', domains: ['fabrikam-fp.example'] },
        { id: 'cloud', ...common, tenant: 'common', allowed_tenants: [WOODGROVE], domains: ['woodgrove.example'] },
        { id: 'guid', ...common, tenant: NORTHWIND, authority: `${entra.url}/`, domains: ['northwind.example'] },
        { id: 'bydomain', ...common, tenant: 'tailspin.onmicrosoft.com', authority: entra.url, domains: ['tailspin.example'] },
        { id: 'restricted', ...common, tenant: 'Tailspin.onmicrosoft.com', allowed_tenants: [CONTOSO], authority: entra.url, domains: ['tailspin-restricted.example'] },
        { id: 'partners', ...common, tenant: 'organizations', allowed_tenants: [ALPHA, BRAVO], authority: entra.url, domains: ['alpha.example', 'bravo.example', 'bravo-cached.example', 'charlie.example', 'nowhere.example'] },
        { id: 'personal', ...common, tenant: 'consumers', authority: entra.url, domains: ['outlook.example'] },
        { id: 'liar-orgs', ...common, tenant: 'organizations', allowed_tenants: [CONTOSO], authority: liar.url, domains: ['liar-orgs.example'] },
        { id: 'liar-guid', ...common, tenant: NORTHWIND, authority: liar.url, domains: ['liar-guid.example'] },
        { id: 'liar-common', ...common, tenant: 'common', allowed_tenants: [CONTOSO], authority: liar.url, domains: ['liar-common.example'] },
      ],
      // Groups overage: a policy grants groups of `partners` (and of no other connector).
      config: { policies: [{ path: '/partners-admin/*', groups: ['partners:admins'] }] },
    };
  });
  A = entra.authority;
}, { timeout: 60_000 });
after(async () => {
  await stack?.close();
}, { timeout: 30_000 });

const ok = (opts) => expectSignedIn(stack, { op: entra, ...opts });
const refused = (opts) => expectRefusedSignIn(stack, { op: entra, ...opts });
const idTokenInvalid = (opts) => refused({ code: 'id_token_invalid', status: 400, reason: /id_token_invalid/, ...opts });
const tenantNotAllowed = (opts) => refused({ code: 'tenant_not_allowed', status: 403, reason: /tenant_not_allowed/, ...opts });

/** Start a login only (GET /auth/login?email=...): the worker's answer. */
async function startLogin(email) {
  const b = new Browserless();
  return b.navigate(`${stack.origin}/auth/login?email=${encodeURIComponent(email)}`);
}

describe('discovery: the issuer a connector accepts', () => {
  // First in the file, while no connector has cached the Tailspin discovery document.
  test('a tenant given by domain whose GUID is not in allowed_tenants is refused at login (502 idp_unreachable)', async () => {
    const mark = stack.logs.mark();
    const r = await startLogin('alice@tailspin-restricted.example');
    assertRefusal(r, { status: 502, code: 'idp_unreachable' });
    assert.ok(await stack.logs.waitFor(/restricted.*issuer|issuer.*restricted|tenant id of tailspin/i, mark), stack.logs.since(mark).join('\n'));
  });

  test('organizations whose discovery states a concrete tenant instead of {tenantid} is refused at login', async () => {
    const r = await startLogin('alice@liar-orgs.example');
    assertRefusal(r, { status: 502, code: 'idp_unreachable' });
    assert.ok(liar.count('/organizations/v2.0/.well-known/openid-configuration') >= 1, 'the worker read the discovery document');
    assert.equal(liar.authRequests.length, 0, 'no authorization request was sent');
  });

  test('common whose discovery puts the {tenantid} template on another host is refused at login', async () => {
    const r = await startLogin('alice@liar-common.example');
    assertRefusal(r, { status: 502, code: 'idp_unreachable' });
    assert.equal(liar.authRequests.length, 0);
  });

  test('a tenant GUID whose discovery names another tenant is refused at login', async () => {
    const r = await startLogin('alice@liar-guid.example');
    assertRefusal(r, { status: 502, code: 'idp_unreachable' });
    assert.equal(liar.authRequests.length, 0);
  });

  test('the multi-tenant discovery states the literal {tenantid} issuer (the shape the worker must accept)', async () => {
    const doc = (await new Browserless().get(`${A}/organizations/v2.0/.well-known/openid-configuration`)).json();
    assert.equal(doc.issuer, `${A}/{tenantid}/v2.0`);
    assert.equal(doc.code_challenge_methods_supported, undefined, 'Entra does not advertise PKCE methods');
  });
});

describe('multi-tenant authority (organizations) with allowed_tenants', () => {
  test('a user of an allowed tenant signs in; the request carries login_hint and domain_hint', async () => {
    const mark = entra.authRequests.length;
    const { session } = await ok({ email: 'alice.smith@contoso.example', expect: { connector: 'orgs', iss: `${A}/${CONTOSO}/v2.0`, name: 'Alice Smith' } });
    assert.match(session.sub, /^orgs:[A-Za-z0-9_-]{43}$/, 'the user id: connector:pairwise sub');
    const q = entra.authRequests[mark];
    assert.equal(q.login_hint, 'alice.smith@contoso.example');
    assert.equal(q.domain_hint, 'contoso.example');
    assert.equal(q.response_type, 'code');
    assert.equal(q.code_challenge_method, 'S256');
    assert.deepEqual(q.scope.split(' ').slice(0, 3), ['openid', 'profile', 'email']);
    assert.ok(q.nonce && q.state);
    assert.equal(q.hd, undefined, 'no Google hd for Entra');
    assert.equal(q.response_mode, undefined, 'query mode unless configured');
  });

  test('a user of the second allowed tenant (configured in upper case) signs in', async () => {
    await ok({ email: 'bob@fabrikam.example', expect: { iss: `${A}/${FABRIKAM}/v2.0` } });
  });

  test('a user of a foreign tenant signing in at Entra is refused: 403 tenant_not_allowed', async () => {
    await tenantNotAllowed({ email: 'alice@contoso.example', login: 'mallory@evil.example' });
  });

  test('a foreign tenant whose user claims an allowed domain is still refused by tid', async () => {
    await tenantNotAllowed({ email: 'alice@contoso.example', login: 'mallory@evil.example', spec: { account: { email: 'alice@contoso.example', preferred_username: 'alice@contoso.example' } } });
  });

  test('a personal Microsoft account token (consumers tid) is refused', async () => {
    await tenantNotAllowed({ email: 'alice@contoso.example', spec: { claims: { tid: ENTRA_CONSUMERS_TENANT, iss: `${A}/${ENTRA_CONSUMERS_TENANT}/v2.0` } } });
  });
});

describe('issuer template abuse: iss and tid must name the same, allowed tenant', () => {
  test('tid of an allowed tenant, iss of a foreign tenant -> id_token_invalid', async () => {
    await idTokenInvalid({ email: 'alice@contoso.example', spec: { claims: { tid: CONTOSO, iss: `${A}/${EVIL}/v2.0` } }, reason: /is not the issuer/ });
  });
  test('tid of a foreign tenant, iss of an allowed tenant -> tenant_not_allowed', async () => {
    await tenantNotAllowed({ email: 'alice@contoso.example', spec: { claims: { tid: EVIL, iss: `${A}/${CONTOSO}/v2.0` } } });
  });
  test('tid of one allowed tenant, iss of the other allowed tenant -> id_token_invalid', async () => {
    await idTokenInvalid({ email: 'alice@contoso.example', spec: { claims: { tid: CONTOSO, iss: `${A}/${FABRIKAM}/v2.0` } } });
  });
  test('iss is the unresolved template "{tenantid}" -> id_token_invalid', async () => {
    await idTokenInvalid({ email: 'alice@contoso.example', spec: { claims: { iss: `${A}/{tenantid}/v2.0` } }, reason: /is not the issuer/ });
  });
  test('no tid claim -> id_token_invalid', async () => {
    await idTokenInvalid({ email: 'alice@contoso.example', spec: { claims: { tid: OMIT } }, reason: /tid/ });
  });
  for (const [label, iss] of [
    ['another cloud', `https://login.microsoftonline.us/${CONTOSO}/v2.0`],
    ['a trailing slash', `{A}/${CONTOSO}/v2.0/`],
    ['the v1 issuer form', `https://sts.windows.net/${CONTOSO}/`],
    ['the tenant in upper case', `{A}/${CONTOSO.toUpperCase()}/v2.0`],
  ]) {
    test(`iss with ${label} -> id_token_invalid`, async () => {
      await idTokenInvalid({ email: 'alice@contoso.example', spec: { claims: { iss: iss.replace('{A}', A) } }, reason: /is not the issuer/ });
    });
  }
  for (const [label, tid] of [
    ['in upper case', CONTOSO.toUpperCase()],
    ['with surrounding spaces', ` ${CONTOSO} `],
    ['with a path trick', `${CONTOSO}/v2.0/../${EVIL}`],
    ['as a domain name', 'contoso.onmicrosoft.com'],
    ['"common"', 'common'],
    ['the literal template', '{tenantid}'],
  ]) {
    test(`tid ${label} (iss built from it) -> 403 tenant_not_allowed`, async () => {
      await tenantNotAllowed({ email: 'alice@contoso.example', spec: { claims: { tid, iss: `${A}/${tid}/v2.0` } }, reason: /tenant_not_allowed \(the Entra tenant ".*" is not allowed/ });
    });
  }
  test('tid not a string -> 400 id_token_invalid', async () => {
    await idTokenInvalid({ email: 'alice@contoso.example', spec: { claims: { tid: [CONTOSO] } }, reason: /id_token_invalid \(ID token refused: no tid claim\)/ });
  });
});

describe('which claim is the email', () => {
  test('no email claim: preferred_username is used', async () => {
    await ok({ email: 'carol@contoso.example', spec: { account: { email: OMIT } } });
  });
  test('no email and no preferred_username: upn is used', async () => {
    await ok({ email: 'dave@contoso.example', spec: { account: { email: OMIT, preferred_username: OMIT, upn: 'dave@contoso.example' } } });
  });
  test('an email claim of another domain wins over a matching preferred_username -> email_domain_mismatch', async () => {
    await refused({ email: 'erin@contoso.example', spec: { account: { email: 'erin@evil.example' } }, code: 'email_domain_mismatch', status: 403 });
  });
  test('preferred_username of a domain the connector does not own (no email) -> email_domain_mismatch', async () => {
    await refused({ email: 'frank@contoso.example', spec: { account: { email: OMIT, preferred_username: 'frank@partner.example' } }, code: 'email_domain_mismatch', status: 403 });
  });
  test('a sign-in name that is not an address and no email: UserInfo is asked, has none -> email_missing', async () => {
    const mark = entra.mark();
    await refused({ email: 'grace@contoso.example', spec: { account: { email: OMIT, preferred_username: '+1 555 0100' } }, code: 'email_missing', status: 403 });
    assert.equal(entra.count('/oidc/userinfo', mark), 1, 'the worker asked UserInfo once');
    const ui = entra.requests.slice(mark).find((r) => r.path === '/oidc/userinfo');
    assert.match(ui.headers.authorization, /^Bearer \S+$/);
  });
  test('the same, with an email in UserInfo: signed in with it', async () => {
    await ok({ email: 'grace@contoso.example', spec: { account: { email: OMIT, preferred_username: '+1 555 0100' }, userinfo: { email: 'grace@contoso.example' } } });
  });
  test('UserInfo answering for another subject -> userinfo_failed', async () => {
    await refused({ email: 'heidi@contoso.example', spec: { account: { email: OMIT, preferred_username: 'heidi' }, userinfo: { sub: 'someone-else', email: 'heidi@contoso.example' } }, code: 'userinfo_failed', status: 502 });
  });
});

describe('nOAuth: only the tenant that owns a domain signs in its addresses', () => {
  const domainNotOwned = (opts) => refused({ code: 'domain_not_owned', status: 403, ...opts });
  const discovery = (domain) => `/${domain}/v2.0/.well-known/openid-configuration`;

  test('positive controls: each allowed tenant signs in the addresses of its own domain', async () => {
    await ok({ email: 'alice@alpha.example', expect: { connector: 'partners', iss: `${A}/${ALPHA}/v2.0` } });
    await ok({ email: 'bob@bravo.example', expect: { connector: 'partners', iss: `${A}/${BRAVO}/v2.0` } });
  });
  test("a user of tenant Alpha with the email of Bravo's domain -> 403 domain_not_owned", async () => {
    await domainNotOwned({ email: 'victim@bravo.example', login: 'mallory@alpha.example', spec: { account: { email: 'victim@bravo.example' } }, reason: new RegExp(`domain_not_owned.*verified in tenant ${BRAVO}`) });
  });
  test("the same through preferred_username (no email claim) -> 403 domain_not_owned", async () => {
    await domainNotOwned({ email: 'victim@bravo.example', login: 'mallory@alpha.example', spec: { account: { email: OMIT, preferred_username: 'victim@bravo.example' } }, reason: new RegExp(`domain_not_owned.*verified in tenant ${BRAVO}`) });
  });
  test('a domain verified in no tenant -> 403 domain_not_owned, and the operator is told why', async () => {
    await domainNotOwned({ email: 'carol@nowhere.example', login: 'mallory@alpha.example', spec: { account: { email: 'carol@nowhere.example' } }, reason: /nowhere\.example is verified in no tenant/ });
  });
  test('a domain owned by a tenant the connector does not list -> refused, logged as a configuration error', async () => {
    await domainNotOwned({ email: 'dan@charlie.example', login: 'mallory@alpha.example', spec: { account: { email: 'dan@charlie.example' } }, reason: new RegExp(`charlie\\.example is verified in tenant ${CHARLIE}: configuration error`) });
  });
  test('xms_edov: false refuses an address from the email claim -> 403 email_unverified; true signs in', async () => {
    await refused({ email: 'erin@alpha.example', spec: { claims: { xms_edov: false } }, code: 'email_unverified', status: 403, reason: /email_unverified \(the IdP says the email "erin@alpha\.example" is not verified\)/ });
    await ok({ email: 'erin@alpha.example', spec: { claims: { xms_edov: true } } });
  });
  test("a domain's owner is resolved once and kept: sign-ins go on while Entra's domain discovery is down", async () => {
    const mark = entra.mark();
    await ok({ email: 'fay@bravo-cached.example' });
    await ok({ email: 'gus@bravo-cached.example' });
    assert.equal(entra.count(discovery('bravo-cached.example'), mark), 1, 'resolved once');
    entra.discoveryDown.add('bravo-cached.example');
    try {
      await ok({ email: 'hal@bravo-cached.example' });
      // Refused by the kept owner (Bravo), not by the outage.
      await domainNotOwned({ email: 'ivy@bravo-cached.example', login: 'mallory@alpha.example', spec: { account: { email: 'ivy@bravo-cached.example' } }, reason: new RegExp(`domain_not_owned.*verified in tenant ${BRAVO}`) });
    } finally {
      entra.discoveryDown.delete('bravo-cached.example');
    }
  });
});

describe('form_post with Entra', () => {
  test('response_mode=form_post: Entra posts the code back; signed in', async () => {
    const mark = entra.authRequests.length;
    const res = await ok({ email: 'ivan@fabrikam-fp.example', expect: { connector: 'orgs-fp', iss: `${A}/${FABRIKAM}/v2.0` } });
    assert.equal(entra.authRequests[mark].response_mode, 'form_post');
    assert.equal(res.response.method, 'POST', 'the callback was a POST');
  });
});

describe('single tenant by GUID', () => {
  test('a user of the tenant signs in; discovery issuer names the GUID', async () => {
    await ok({ email: 'judy@northwind.example', expect: { connector: 'guid', iss: `${A}/${NORTHWIND}/v2.0` } });
  });
  test("a token of another tenant (its own iss and tid) -> id_token_invalid", async () => {
    await idTokenInvalid({ email: 'judy@northwind.example', spec: { claims: { tid: EVIL, iss: `${A}/${EVIL}/v2.0` } } });
  });
  test("the tenant's iss with another tid -> tenant_not_allowed", async () => {
    await tenantNotAllowed({ email: 'judy@northwind.example', spec: { claims: { tid: EVIL } } });
  });
  test("the tenant's iss without tid -> 403 tenant_not_allowed", async () => {
    await tenantNotAllowed({ email: 'judy@northwind.example', spec: { claims: { tid: OMIT } } });
  });
});

describe('single tenant by domain', () => {
  test('contoso-style domain authority: discovery reveals the GUID, tokens carry it', async () => {
    const mark = entra.authRequests.length;
    await ok({ email: 'ken@tailspin.example', expect: { connector: 'bydomain', iss: `${A}/${TAILSPIN}/v2.0` } });
    assert.ok(entra.requests.some((r) => r.path === '/tailspin.onmicrosoft.com/v2.0/.well-known/openid-configuration'));
    assert.ok(entra.requests.some((r) => r.path === `/${TAILSPIN}/oauth2/v2.0/authorize`), 'the endpoints of the discovery document (by GUID) are used');
    assert.equal(entra.authRequests.length, mark + 1);
  });
  test('a token of another tenant -> 400 id_token_invalid (not the issuer)', async () => {
    await idTokenInvalid({ email: 'ken@tailspin.example', spec: { claims: { tid: CONTOSO, iss: `${A}/${CONTOSO}/v2.0` } }, reason: /id_token_invalid \(ID token refused: iss .* is not the issuer/ });
  });
  // WORKER BUG (reported): the discovery cache is keyed by issuer URL and shared by connectors, so the discovery-
  // time allowed_tenants check of "restricted" is skipped once "bydomain" cached the same authority, and the
  // callback's tid check for single tenants only compared with the cached issuer (fixed: the rule applies on every use).
  test('the restricted connector (same authority, allowed_tenants without its GUID) stays refused after the other one cached the discovery', async () => {
    // "bydomain" and "restricted" name the same authority URL. "bydomain" signs in first (its own step here, not
    // an earlier test's side effect), so the discovery document is cached; "restricted" must still be refused at
    // login, exactly as when nothing was cached (first test of this file).
    await ok({ email: 'ken@tailspin.example', expect: { connector: 'bydomain' } });
    const mark = stack.logs.mark();
    const r = await startLogin('alice@tailspin-restricted.example');
    assertRefusal(r, { status: 502, code: 'idp_unreachable' });
    assertNoSessionSet(r);
    assert.ok(
      await stack.logs.waitFor(/GET \/auth\/login: idp_unreachable .*connector "restricted": the discovery document's issuer/, mark),
      stack.logs.since(mark).join('\n'),
    );
  });
});

describe('personal accounts (consumers)', () => {
  test('a personal account signs in; iss names the consumers tenant', async () => {
    await ok({ email: 'leo@outlook.example', expect: { connector: 'personal', iss: `${A}/${ENTRA_CONSUMERS_TENANT}/v2.0` } });
  });
  test('a work-tenant tid with the consumers iss -> tenant_not_allowed', async () => {
    await tenantNotAllowed({ email: 'leo@outlook.example', spec: { claims: { tid: CONTOSO } } });
  });
  test('a work-tenant token (its own iss) -> id_token_invalid', async () => {
    await idTokenInvalid({ email: 'leo@outlook.example', spec: { claims: { tid: CONTOSO, iss: `${A}/${CONTOSO}/v2.0` } } });
  });
});

describe('the default authority (https://login.microsoftonline.com, common)', () => {
  test('an allowed tenant signs in; the worker used the real Entra URLs', async () => {
    const mark = stack.outbound.length;
    await expectSignedIn(stack, { op: cloud, email: 'mona@woodgrove.example', expect: { connector: 'cloud', iss: `${CLOUD}/${WOODGROVE}/v2.0` } });
    const urls = stack.outbound.slice(mark).map((o) => o.url);
    assert.ok(urls.includes(`${CLOUD}/common/v2.0/.well-known/openid-configuration`) || cloud.count('/common/v2.0/.well-known/openid-configuration') > 0, urls.join('\n'));
    assert.ok(urls.includes(`${CLOUD}/common/oauth2/v2.0/token`), urls.join('\n'));
    assert.ok(urls.includes(`${CLOUD}/common/discovery/v2.0/keys`) || cloud.count('/common/discovery/v2.0/keys') > 0, urls.join('\n'));
    assert.deepEqual(stack.outbound.filter((o) => o.target === null), [], 'nothing left the machine');
  });
  test('a foreign tenant -> tenant_not_allowed', async () => {
    await expectRefusedSignIn(stack, { op: cloud, email: 'mona@woodgrove.example', login: 'alice@contoso.example', code: 'tenant_not_allowed', status: 403 });
  });
  test('iss naming the tenant under the test authority instead of login.microsoftonline.com -> id_token_invalid', async () => {
    await expectRefusedSignIn(stack, { op: cloud, email: 'mona@woodgrove.example', spec: { claims: { iss: `${entra.url}/${WOODGROVE}/v2.0` } }, code: 'id_token_invalid', status: 400 });
  });
});

describe('the user cancels at Entra', () => {
  test('error=access_denied (AADSTS65004) -> 403 idp_error page, no session', async () => {
    const b = new Browserless();
    const { response: r, callbackUrl } = await b.login({ worker: stack.origin, email: 'nina@contoso.example', abortAt: 'login' });
    const cb = new URL(callbackUrl);
    assert.equal(cb.searchParams.get('error'), 'access_denied');
    assert.match(cb.searchParams.get('error_description'), /^AADSTS65004/);
    assertRefusal(r, { status: 403, code: 'idp_error', html: false });
    assertNoSessionSet(r);
    await me(b, stack.origin, 401);
  });
});

describe('groups overage: beyond 200 groups Entra names the groups claim instead of sending it', () => {
  // What Entra sends then (the ID token's `_claim_names` / `_claim_sources`, OIDC Core §5.6.2 distributed claims).
  const overage = { _claim_names: { groups: 'src1' }, _claim_sources: { src1: { endpoint: 'https://graph.windows.net/tenant/users/user/getMemberObjects' } } };

  test('a connector whose groups a policy grants refuses it -> 403 groups_overage, the log says what to change', async () => {
    await refused({ email: 'ivy@alpha.example', spec: { claims: overage }, code: 'groups_overage', status: 403, reason: /groups_overage \(connector "partners".*Groups assigned to the application/ });
    await refused({ email: 'ivy@alpha.example', spec: { claims: { hasgroups: true } }, code: 'groups_overage', status: 403 });
    // Positive control: the groups in the token.
    await ok({ email: 'ivy@alpha.example', spec: { claims: { groups: ['admins'] } }, expect: { connector: 'partners' } });
  });
  test('a connector no policy grants groups of signs in without groups, with a warning', async () => {
    const mark = stack.logs.mark();
    const { session } = await ok({ email: 'jay@contoso.example', spec: { claims: overage }, expect: { connector: 'orgs' } });
    assert.deepEqual(session.groups ?? [], []);
    const warning = await stack.logs.waitForEvent('warning', { connector: 'orgs', reason: 'groups_overage', message: /signed in without groups/ }, mark);
    assert.ok(warning, stack.logs.since(mark).join('\n'));
  });
});
