// Browser walk through the sign-in flow: headless Chromium (Debian `chromium`) driven by playwright-core,
// against the real worker (workerd, through tests/support/harness.mjs) and the dev OpenID Provider.
//
//   node --test tests/browser/
//
// The sign-in is walked in English (locale en-US) and in Korean (ko-KR, a second browser profile); every visitor
// page (login, refusals, IdP errors, signed-out, 403, logout confirmation) is checked with axe-core in both
// languages and fails on any WCAG 2.2 A/AA violation.
//
// Environment: CHROMIUM_PATH (default /usr/bin/chromium). Screenshots go to test-results/.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

const AXE_SOURCE = path.join(ROOT, 'node_modules', 'axe-core', 'axe.min.js');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const EMAIL = 'alice@rs256.example';
const PASSWORD = 'correct horse battery staple';
const STEP_TIMEOUT = 20_000;

let stack;
let context;
let page;
let userDataDir;
const others = []; // the other browser profiles (Korean), closed after the tests
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

/** A browser profile of its own (cookies, IdP session) whose Accept-Language is `locale`. */
async function openBrowser(locale) {
  const dir = mkdtempSync(path.join(tmpdir(), 'edge-auth-chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, `--lang=${locale}`],
    viewport: { width: 1280, height: 800 },
    locale,
    timezoneId: 'Europe/London',
  });
  ctx.setDefaultTimeout(STEP_TIMEOUT);
  ctx.setDefaultNavigationTimeout(STEP_TIMEOUT);
  // Everything runs on 127.0.0.1; the dev IdP's stock pages @import a web font: refuse anything off-box
  // rather than wait for a network that is not there.
  await ctx.route('**/*', (route) =>
    isLoopback(route.request().url()) ? route.continue() : route.abort('blockedbyclient'),
  );
  const pg = ctx.pages()[0] || (await ctx.newPage());
  pg.on('framenavigated', (frame) => {
    if (frame === pg.mainFrame()) journey.push(frame.url());
  });
  pg.on('pageerror', (err) => {
    if (new URL(pg.url()).origin === workerOrigin) pageErrors.push(`${pg.url()}: ${err.message}`);
  });
  return { context: ctx, page: pg, userDataDir: dir };
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
  // /admin/* admits someone else only: the 403 page, signed in as alice.
  stack = await startStack({
    algs: ['RS256'],
    config: { policies: [{ path: '/admin/*', emails: ['boss@rs256.example'] }] },
  });
  workerOrigin = new URL(stack.worker.url).origin;
  idpOrigin = stack.idp?.issuer ? new URL(stack.idp.issuer).origin : undefined;

  mkdirSync(RESULTS, { recursive: true });
  ({ context, page, userDataDir } = await openBrowser('en-US'));
});

after(async () => {
  for (const other of others) {
    await other.context.close().catch(() => {});
    rmSync(other.userDataDir, { recursive: true, force: true });
  }
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

// /auth/me with the browser's cookies. Asked through the context's request API, not a fetch() in the page:
// the worker's own pages (signed-out, 403) allow no connect-src in their CSP, and should not.
async function meStatus() {
  const r = await context.request.get(`${workerOrigin}/auth/me`, { headers: { Accept: 'application/json' } });
  return { status: r.status(), body: await r.text() };
}

test('sign in in English through the login page and the dev IdP, see who is signed in, sign out', async () => {
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
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'en', 'the page says it is English');

  // 2. The login page: email field (autofocused), return_to carried by login.js, Continue.
  const email = page.locator('#email');
  await email.waitFor({ state: 'visible' });
  assert.equal(await email.getAttribute('type'), 'email');
  assert.equal(await email.getAttribute('autocomplete'), 'username');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'email', 'the email field is autofocused');
  const hidden = page.locator('input[name="return_to"]');
  if (rt === '/') assert.equal(await hidden.inputValue(), '/', 'login.js copies return_to into the form');
  else assert.equal(await hidden.isDisabled(), true, 'no return_to in the URL: none submitted');
  await page.screenshot({ path: path.join(RESULTS, 'browser-login-en.png') });

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

  // 4b. A path an access policy keeps from alice: the 403 page, in English, accessible; then back.
  await assertForbiddenPage('en', 'You do not have access to this page');
  await page.goto(`${workerOrigin}/`);
  await page.locator('#user-email', { hasText: '@' }).waitFor({ state: 'visible' });

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

/** The 403 page of an access policy (alice is signed in): its heading in `lang`, accessible. */
async function assertForbiddenPage(lang, heading) {
  const r = await page.goto(`${workerOrigin}/admin/reports`);
  assert.equal(r.status(), 403, trail());
  await page.getByRole('heading', { name: heading }).waitFor({ state: 'visible' });
  assert.equal(await page.evaluate(() => document.documentElement.lang), lang);
  assert.ok((await page.content()).includes(EMAIL), 'the page names who is signed in');
  await assertAccessible(page, `403 (${lang})`);
  await page.screenshot({ path: path.join(RESULTS, `browser-forbidden-${lang}.png`) });
}

/** axe-core on the page shown: fails on any WCAG 2.0 / 2.1 / 2.2 level A or AA violation. */
async function assertAccessible(pg, label) {
  const loaded = await pg.evaluate(() => typeof window.axe === 'object');
  // Evaluated through DevTools, not as a <script>: the pages' CSP (script-src 'self') refuses inline scripts.
  if (!loaded) await pg.evaluate(readFileSync(AXE_SOURCE, 'utf8'));
  const violations = await pg.evaluate(async (tags) => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary}`),
    }));
  }, AXE_TAGS);
  assert.deepEqual(violations, [], `${label}: accessibility violations at ${pg.url()}\n${JSON.stringify(violations, null, 2)}`);
}

test('sign in in Korean: the login page in Korean (lang="ko"), the dev IdP, signed in; the 403 page in Korean', async () => {
  const ko = await openBrowser('ko-KR');
  others.push(ko);
  const saved = { page, context };
  ({ page, context } = ko);
  try {
    await page.goto(`${workerOrigin}/`);
    const url = new URL(page.url());
    assert.equal(url.pathname, '/auth/login', `a navigation to / without a session must reach the login page${trail()}`);
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'ko', 'the page says it is Korean');
    assert.equal(await page.title(), '로그인');
    assert.equal((await page.locator('label[for="email"]').textContent()).trim(), '회사 이메일');
    assert.ok((await page.locator('#explain').textContent()).includes('회사 이메일을 입력하세요'));
    await page.screenshot({ path: path.join(RESULTS, 'browser-login-ko.png') });

    await page.locator('#email').pressSequentially(EMAIL);
    await page.getByRole('button', { name: '계속' }).click();
    await signInAtIdp('/');
    assert.equal((await page.locator('#user-email').textContent()).trim(), EMAIL);
    const me = await meStatus();
    assert.equal(me.status, 200, `/auth/me with the session: ${me.body}`);

    await assertForbiddenPage('ko', '이 페이지에 접근할 권한이 없습니다');
    assert.deepEqual(pageErrors, [], 'no script errors on the worker pages');
  } finally {
    ({ page, context } = saved);
  }
});

/**
 * An IdP error page, reached as a visitor's browser would: the sign-in starts (its transaction cookie set in the
 * browser's profile), and the IdP answers `error=code` to the callback (standing in for the IdP: the browser
 * goes straight to the callback URL the IdP would have sent it to).
 */
async function gotoIdpError(b, code) {
  const start = await b.context.request.get(`${workerOrigin}/auth/login?email=${encodeURIComponent(EMAIL)}`, { maxRedirects: 0 });
  assert.equal(start.status(), 302, 'the sign-in goes to the IdP');
  const authorize = new URL(start.headers().location);
  const back = new URL(authorize.searchParams.get('redirect_uri'));
  back.search = new URLSearchParams({ error: code, state: authorize.searchParams.get('state'), iss: stack.idp.issuer }).toString();
  return b.page.goto(back.href);
}

/**
 * WCAG 2.2 SC 1.4.11 / 2.4.7 on the login page, which axe does not measure: the email field's border and the
 * keyboard focus indicator (of the field and of the button) have at least 3:1 contrast with the card.
 */
async function assertNonTextContrast(pg, label) {
  const measure = (what, selector) =>
    pg.evaluate(([what, selector]) => {
      const rgb = (css) => {
        const m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?/.exec(css || '');
        return m ? { c: [m[1], m[2], m[3]].map(Number), a: m[4] === undefined ? 1 : Number(m[4]) } : null;
      };
      const lum = ({ c }) => {
        const [r, g, b] = c.map((v) => {
          const x = v / 255;
          return x <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      };
      const over = (fg, bg) => ({ c: fg.c.map((v, i) => v * fg.a + bg.c[i] * (1 - fg.a)), a: 1 });
      const ratio = (fg, bg) => {
        if (!fg) return 0;
        const [l1, l2] = [lum(over(fg, bg)), lum(bg)].sort((a, b) => b - a);
        return Math.round(((l1 + 0.05) / (l2 + 0.05)) * 100) / 100;
      };
      const card = rgb(getComputedStyle(document.querySelector('main.card')).backgroundColor);
      const el = selector ? document.querySelector(selector) : document.activeElement;
      const style = getComputedStyle(el);
      if (what === 'border') return ratio(rgb(style.borderTopColor), card);
      // A focus ring: the outline, or the outermost box-shadow (the button's inner one is a gap of the card's colour).
      if (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2) return ratio(rgb(style.outlineColor), card);
      const shadows = style.boxShadow.split(/,(?![^(]*\))/);
      return ratio(rgb(shadows[shadows.length - 1]), card);
    }, [what, selector]);
  const settle = () => pg.waitForTimeout(300); // the fields' colour transitions (0.15 s)
  const measured = {};
  await pg.locator('h1').click(); // nothing focused
  await pg.evaluate(() => document.getElementById('email').blur());
  await settle();
  measured.border = await measure('border', '#email');
  await pg.focus('#email');
  await settle();
  measured.fieldFocus = await measure('ring');
  await pg.keyboard.press('Tab');
  assert.equal(await pg.evaluate(() => document.activeElement?.id), 'continue', `${label}: Tab reaches the button`);
  await settle();
  measured.buttonFocus = await measure('ring');
  for (const [what, value] of Object.entries(measured)) {
    assert.ok(value >= 3, `${label}: ${what} contrast ${value}:1 is below 3:1 (${JSON.stringify(measured)})`);
  }
}

for (const [locale, lang] of [['en-US', 'en'], ['ko-KR', 'ko']]) {
  test(`every visitor page in ${locale} is in ${lang} and passes axe-core (WCAG 2.2 AA)`, async () => {
    const b = await openBrowser(locale);
    others.push(b);
    const pg = b.page;
    const pages = [
      ['the login page', '/auth/login', 200, null],
      ['a refusal: invalid_email', '/auth/login?email=not-an-address', 400, 'invalid_email'],
      ['a refusal: unknown_domain', '/auth/login?email=someone%40nowhere.example', 403, 'unknown_domain'],
      ['a refusal: login_expired', '/auth/callback?code=x&state=y', 400, 'login_expired'],
      ['a refusal: not_found', '/auth/no-such-page', 404, 'not_found'],
      ['the signed-out page', '/auth/signed-out', 200, null],
      ['the logout confirmation', '/auth/logout', 200, null],
    ];
    const visit = async (label, open, status, code) => {
      const r = await open();
      assert.equal(r.status(), status, `${label}${trail()}`);
      assert.equal(await pg.evaluate(() => document.documentElement.lang), lang, `${label}: <html lang>`);
      assert.equal(r.headers()['content-language'], lang, `${label}: Content-Language`);
      if (code) {
        const meta = await pg.locator('meta[name="edge-auth-error"]').getAttribute('content');
        assert.equal(meta, code, `${label}: <meta name="edge-auth-error">`);
      }
      await assertAccessible(pg, `${label} (${lang})`);
    };
    for (const [label, target, status, code] of pages) {
      await visit(label, () => pg.goto(`${workerOrigin}${target}`), status, code);
      if (target === '/auth/login') await assertNonTextContrast(pg, `the login page (${lang})`);
      if (code === 'unknown_domain') await pg.screenshot({ path: path.join(RESULTS, `browser-refusal-${lang}.png`) });
    }
    if (idpOrigin) {
      for (const [code, status] of [['access_denied', 403], ['temporarily_unavailable', 503], ['login_required', 401], ['invalid_scope', 502], ['some_new_error', 502]]) {
        await visit(`the IdP error page for ${code}`, () => gotoIdpError(b, code), status, 'idp_error');
        if (code === 'access_denied') await pg.screenshot({ path: path.join(RESULTS, `browser-idp-error-${lang}.png`) });
      }
    }
    const korean = (await pg.locator('h1').textContent()) ?? '';
    if (lang === 'ko') assert.match(korean, /[\uac00-\ud7a3]/, 'Korean headings');
    assert.deepEqual(pageErrors, [], 'no script errors on the worker pages');
  });
}

test('branding from AUTH_CONFIG pages: the accent colour applies under the CSP, and the page stays accessible', async () => {
  const { startWorker } = await import('../support/harness.mjs');
  const worker = await startWorker({
    config: {
      connectors: [{ id: 'acme', kind: 'oidc', issuer: 'https://idp.acme.example', client_id: 'edge', client_secret_binding: 'S', domains: ['acme.example'] }],
      pages: { product_name: 'Acme SSO', accent_color: '#0b5d1e', support: 'https://help.acme.example/sso' },
    },
    secrets: { S: 'not-used' },
  });
  const b = await openBrowser('ko-KR');
  others.push(b);
  const cspErrors = [];
  b.page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) cspErrors.push(msg.text());
  });
  try {
    await b.page.goto(`${worker.url}/auth/login`);
    assert.equal(await b.page.locator('.brand').textContent().then((t) => t.trim()), 'Acme SSO 통합 로그인');
    const background = await b.page.locator('#continue').evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.equal(background, 'rgb(11, 93, 30)', 'the accent colour is applied (its <style> is allowed by the CSP hash)');
    assert.deepEqual(cspErrors, [], 'nothing refused by the CSP');
    assert.equal(await b.page.locator('a[href="https://help.acme.example/sso"]').count(), 1, 'the support link');
    await assertAccessible(b.page, 'the branded login page (ko)');
    await assertNonTextContrast(b.page, 'the branded login page (ko)');
    await b.page.screenshot({ path: path.join(RESULTS, 'browser-login-branded-ko.png') });
  } finally {
    await worker.dispose();
  }
});
