// Browser walk through the sign-in flow: headless Chromium (Debian `chromium`) driven by playwright-core,
// against the real worker (workerd, through tests/support/harness.mjs) and the dev OpenID Provider.
//
//   node --test tests/browser/
//
// Environment: CHROMIUM_PATH (default /usr/bin/chromium). Screenshots go to test-results/.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RESULTS = path.join(ROOT, 'test-results');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const EMAIL = 'alice@rs256.example';
const PASSWORD = 'correct horse battery staple';
const STEP_TIMEOUT = 20_000;

let stack;
let context;
let page;
let userDataDir;
let workerOrigin;
let idpOrigin;
const journey = []; // every main-frame navigation, printed when an assertion fails
const pageErrors = []; // uncaught exceptions in our own pages (login.js, app.js)

function isLoopback(url) {
  const { hostname } = new URL(url);
  return hostname === 'localhost' || hostname === '[::1]' || /^127\./.test(hostname);
}

function trail() {
  return `\nnavigations:\n  ${journey.join('\n  ')}`;
}

before(async () => {
  for (const [what, file] of [
    ['the worker bundle (bash scripts/build.sh)', 'build/index.js'],
    ['the test harness', 'tests/support/harness.mjs'],
  ]) {
    if (!existsSync(path.join(ROOT, file))) throw new Error(`missing ${file}: ${what} is needed for the browser test`);
  }
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);

  const { startStack } = await import('../support/harness.mjs');
  stack = await startStack({ algs: ['RS256'] });
  workerOrigin = new URL(stack.worker.url).origin;
  idpOrigin = stack.idp?.issuer ? new URL(stack.idp.issuer).origin : undefined;

  mkdirSync(RESULTS, { recursive: true });
  userDataDir = mkdtempSync(path.join(tmpdir(), 'edge-auth-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
    locale: 'en-GB',
    timezoneId: 'Europe/London',
  });
  context.setDefaultTimeout(STEP_TIMEOUT);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT);
  // Everything runs on 127.0.0.1; the dev IdP's stock pages @import a web font: refuse anything off-box
  // rather than wait for a network that is not there.
  await context.route('**/*', (route) =>
    isLoopback(route.request().url()) ? route.continue() : route.abort('blockedbyclient'),
  );
  page = context.pages()[0] || (await context.newPage());
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) journey.push(frame.url());
  });
  page.on('pageerror', (err) => {
    if (new URL(page.url()).origin === workerOrigin) pageErrors.push(`${page.url()}: ${err.message}`);
  });
});

after(async () => {
  try {
    if (context) await context.close();
  } finally {
    try {
      if (stack) await stack.close();
    } finally {
      if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    }
  }
});

/**
 * On the IdP: the dev login form (skipped while the IdP session lives), then the consent form (the first time
 * for a client); then the callback brings the browser back to the worker's protected page.
 */
async function signInAtIdp(expectedPath) {
  const from = journey.length;
  const login = page.locator('form input[name="login"]');
  const consent = page.locator('form:has(input[name="prompt"][value="consent"]) [type="submit"]');
  const home = page.locator('#user-email', { hasText: '@' });
  for (let step = 0; step < 4; step += 1) {
    await login.or(consent).or(home).first().waitFor({ state: 'visible' });
    if (await home.isVisible()) break;
    if (await login.isVisible()) {
      await login.fill(EMAIL); // login_hint may have pre-filled it already
      await page.locator('form input[name="password"]').fill(PASSWORD);
      await page.locator('form:has(input[name="login"]) [type="submit"]').click();
      await login.waitFor({ state: 'detached' });
    } else if (await consent.isVisible()) {
      await consent.click();
      await consent.waitFor({ state: 'detached' });
    }
  }
  await home.waitFor({ state: 'visible' });

  const visited = journey.slice(from).map((u) => new URL(u).origin);
  if (idpOrigin) assert.ok(visited.includes(idpOrigin), `expected a visit to the dev IdP ${idpOrigin}${trail()}`);
  const landed = new URL(page.url());
  assert.equal(landed.origin, workerOrigin, `expected to land back on the worker${trail()}`);
  assert.equal(landed.pathname + landed.search, expectedPath, `expected to land on ${expectedPath}${trail()}`);
}

async function meStatus() {
  return page.evaluate(async () => {
    const r = await fetch('/auth/me', { cache: 'no-store', headers: { Accept: 'application/json' } });
    return { status: r.status, body: await r.text() };
  });
}

test('sign in through the login page and the dev IdP, see who is signed in, sign out', async () => {
  // 1. A protected page without a session sends the browser to the login page.
  await page.goto(`${workerOrigin}/`);
  await page.waitForLoadState('domcontentloaded');
  let url = new URL(page.url());
  assert.equal(url.origin, workerOrigin, trail());
  assert.equal(url.pathname, '/auth/login', `a navigation to / without a session must reach the login page${trail()}`);
  // "/" is the default return_to: the worker may spell it out or leave it off.
  const rt = url.searchParams.get('return_to');
  assert.ok(rt === null || rt === '/', `return_to of the login redirect: ${rt}${trail()}`);
  assert.equal(await page.title(), 'Sign in');

  // 2. The login page: email field (autofocused), return_to carried by login.js, Continue.
  const email = page.locator('#email');
  await email.waitFor({ state: 'visible' });
  assert.equal(await email.getAttribute('type'), 'email');
  assert.equal(await email.getAttribute('autocomplete'), 'username');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'email', 'the email field is autofocused');
  const hidden = page.locator('input[name="return_to"]');
  if (rt === '/') assert.equal(await hidden.inputValue(), '/', 'login.js copies return_to into the form');
  else assert.equal(await hidden.isDisabled(), true, 'no return_to in the URL: none submitted');
  await page.screenshot({ path: path.join(RESULTS, 'browser-login.png') });

  await email.pressSequentially(EMAIL);
  await page.getByRole('button', { name: 'Continue' }).click();

  // 3. The dev IdP: login form, consent; then the callback sends us back to "/".
  await signInAtIdp('/');

  // 4. The protected demo page shows the session from /auth/me.
  assert.equal((await page.locator('#user-email').textContent()).trim(), EMAIL);
  assert.equal((await page.locator('#user-connector').textContent()).trim(), 'rs256');
  if (stack.idp?.issuer) assert.equal((await page.locator('#user-issuer').textContent()).trim(), stack.idp.issuer);
  const expires = await page.locator('#user-expires time').getAttribute('datetime');
  assert.ok(expires && Date.parse(expires) > Date.now(), `session expiry in the future (got ${expires})`);

  const me = await meStatus();
  assert.equal(me.status, 200, `/auth/me with the session: ${me.body}`);
  const session = JSON.parse(me.body);
  assert.equal(session.email, EMAIL);
  assert.equal((await page.locator('#user-name').textContent()).trim(), session.name || '\u2014', 'name shown');

  const cookies = await context.cookies(workerOrigin);
  const cookie = cookies.find((c) => c.name === 'edge-auth-session');
  assert.ok(cookie, `session cookie edge-auth-session set (cookies: ${cookies.map((c) => c.name).join(', ')})`);
  assert.equal(cookie.httpOnly, true, 'session cookie is HttpOnly');
  assert.equal(cookie.sameSite, 'Lax', 'session cookie is SameSite=Lax');
  assert.equal(cookie.path, '/');
  assert.ok(!(await page.evaluate(() => document.cookie)).includes('edge-auth-session'), 'not readable from JS');

  await page.screenshot({ path: path.join(RESULTS, 'browser-signed-in.png'), fullPage: true });

  // 5. Sign out (POST form, same origin); the IdP may ask to confirm its own sign-out.
  const signOutFrom = journey.length;
  await page.locator('#sign-out').click();
  const confirmIdpLogout = page.locator('button[name="logout"][value="yes"]');
  const signedOut = page.getByRole('heading', { name: 'You have signed out' });
  await confirmIdpLogout.or(signedOut).first().waitFor({ state: 'visible' });
  if (await confirmIdpLogout.isVisible()) await confirmIdpLogout.click();
  await signedOut.waitFor({ state: 'visible' });
  url = new URL(page.url());
  assert.equal(url.origin + url.pathname, `${workerOrigin}/auth/signed-out`, `after sign-out${trail()}`);
  if (idpOrigin) {
    // The dev IdP has an end_session_endpoint: the worker's logout goes through it (RP-initiated logout).
    const visited = journey.slice(signOutFrom).map((u) => new URL(u).origin);
    assert.ok(visited.includes(idpOrigin), `sign-out went through the IdP's end_session_endpoint${trail()}`);
  }
  await page.screenshot({ path: path.join(RESULTS, 'browser-signed-out.png') });

  const gone = await meStatus();
  assert.equal(gone.status, 401, `/auth/me after sign-out: ${gone.body}`);
  assert.ok(
    !(await context.cookies(workerOrigin)).some((c) => c.name === 'edge-auth-session' && c.value !== ''),
    'session cookie cleared',
  );

  // 6. The protected page is out of reach again.
  await page.goto(`${workerOrigin}/`);
  assert.equal(new URL(page.url()).pathname, '/auth/login', `/ after sign-out${trail()}`);

  assert.deepEqual(pageErrors, [], 'no script errors on the worker pages');
});

test('return_to survives the login page: a deep link lands where it started', async () => {
  const deep = '/?from=browser-test&n=2';
  await context.clearCookies(); // independent of the first test's outcome: no session, no IdP session
  await page.goto(`${workerOrigin}${deep}`);
  const url = new URL(page.url());
  assert.equal(url.pathname, '/auth/login', `a deep link without a session must reach the login page${trail()}`);
  assert.equal(url.searchParams.get('return_to'), deep, `return_to of the login redirect${trail()}`);
  assert.equal(await page.locator('input[name="return_to"]').inputValue(), deep);

  await page.locator('#email').fill(EMAIL);
  await page.getByRole('button', { name: 'Continue' }).click();
  await signInAtIdp(deep);
  assert.equal((await page.locator('#user-email').textContent()).trim(), EMAIL);
  assert.deepEqual(pageErrors, [], 'no script errors on the worker pages');
});
