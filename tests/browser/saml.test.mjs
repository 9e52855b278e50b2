// SAML sign-in in a real browser: headless Chromium (playwright-core) against the worker built with the SAML
// feature (build-saml/) and the samlify IdP (tests/support/saml-idp.mjs). What only a browser shows: the IdP
// (http://localhost:PORT) is another site than the worker (http://127.0.0.1:PORT), so its auto-submitted form is
// a cross-site POST, and the transaction cookie reaches the ACS only because it is SameSite=None (Secure, which
// Chromium lets loopback origins set). The cookie-jar client of the e2e tests ignores SameSite; this does not.
//
//   node --test tests/browser/
//
// Environment: CHROMIUM_PATH (default /usr/bin/chromium).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { startWorker } from '../support/harness.mjs';
import { SAML_TX_COOKIE, SAML_WORKER_SCRIPT, startSamlIdp } from '../support/saml-idp.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const STEP_TIMEOUT = 20_000;

let idp;
let worker;
let context;
let page;
let userDataDir;
const journey = [];
const acsPosts = []; // request headers of every POST to the ACS
const trail = () => `\nnavigations:\n  ${journey.join('\n  ')}`;

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
  idp = await startSamlIdp({ publicHost: 'localhost' });
  worker = await startWorker({
    scriptPath: SAML_WORKER_SCRIPT,
    config: {
      connectors: [{ id: 'corp', kind: 'saml', domains: ['saml.example'], idp_entity_id: idp.entityId, idp_sso_url: idp.ssoUrl, idp_certificates: [idp.certificateBase64] }],
    },
  });
  idp.trustSp(await (await fetch(`${worker.url}/auth/saml/corp/metadata`)).text());
  userDataDir = mkdtempSync(path.join(tmpdir(), 'edge-auth-chromium-saml-'));
  context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  context.setDefaultTimeout(STEP_TIMEOUT);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT);
  // Only the worker and the IdP, both on this machine.
  await context.route('**/*', (route) => {
    const { hostname } = new URL(route.request().url());
    return hostname === '127.0.0.1' || hostname === 'localhost' ? route.continue() : route.abort('blockedbyclient');
  });
  page = context.pages()[0] || (await context.newPage());
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) journey.push(frame.url());
  });
  page.on('request', async (request) => {
    if (request.method() === 'POST' && request.url() === `${worker.url}/auth/saml/corp/acs`) acsPosts.push(await request.allHeaders());
  });
}, { timeout: 60_000 });

after(async () => {
  try {
    await context?.close();
  } finally {
    await worker?.dispose();
    await idp?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  }
}, { timeout: 30_000 });

test('SP-initiated SAML sign-in across sites: login -> IdP (another site) -> cross-site POST to the ACS -> signed in', async () => {
  const deep = '/?from=saml-browser-test';
  await page.goto(`${worker.url}/auth/login?email=alice@saml.example&return_to=${encodeURIComponent(deep)}`);
  // The IdP's login page, on another site.
  const email = page.locator('form input[name="email"]');
  await email.waitFor({ state: 'visible' });
  assert.equal(new URL(page.url()).hostname, 'localhost', `at the IdP${trail()}`);
  const tx = (await context.cookies(worker.url)).find((c) => c.name === SAML_TX_COOKIE);
  assert.ok(tx, `the browser kept the transaction cookie${trail()}`);
  await email.fill('alice@saml.example');
  await page.locator('form button').click();
  // The IdP's page posts the response to the ACS by itself; the worker answers with the deep link.
  const signedIn = page.locator('#user-email', { hasText: '@' });
  const refused = page.locator('meta[name="edge-auth-error"]');
  await signedIn.or(refused).first().waitFor({ state: 'attached' });
  if (await refused.count()) {
    assert.fail(`refused: ${await refused.getAttribute('content')}: ${await page.locator('main').textContent()}${trail()}`);
  }
  // (Checked after the sign-in, so that a SameSite=Lax cookie shows what it breaks: the refusal above.)
  assert.equal(tx.sameSite, 'None');
  assert.equal(tx.secure, true);
  const landed = new URL(page.url());
  assert.equal(landed.origin, worker.url, trail());
  assert.equal(landed.pathname + landed.search, deep, trail());
  assert.equal((await signedIn.textContent()).trim(), 'alice@saml.example');
  assert.equal((await page.locator('#user-connector').textContent()).trim(), 'corp');
  // The premise: the browser itself called the POST cross-site (and still sent the transaction cookie).
  assert.equal(acsPosts.length, 1, `one POST to the ACS${trail()}`);
  // (Sec-Fetch-Site is not sent over plain http; the Origin shows it: localhost and 127.0.0.1 are two sites.)
  assert.equal(new URL(acsPosts[0].origin).hostname, 'localhost', JSON.stringify(acsPosts[0]));
  assert.match(acsPosts[0].cookie || '', new RegExp(`${SAML_TX_COOKIE}=`), 'the transaction cookie went with it');
  assert.ok(!(await context.cookies(worker.url)).some((c) => c.name === SAML_TX_COOKIE && c.value), 'the transaction cookie is spent');
});
