// Static-asset mode, issue 10 §1: Workers Static Assets (html_handling = "auto-trailing-slash", the default)
// serve one file under several URLs — /index.html at /, /page.html at /page, /dir/index.html at /dir/ — and a
// rule must protect the file under every URL the asset server answers for it, and under the tricky spellings
// (`//`, `;params`, encoded letters and separators, case). The worker runs in workerd with a temporary assets
// directory (www/ plus files whose bodies carry a marker), and requests are sent with their request target
// exactly as spelled (tests/support/raw-request.mjs).
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { signedInBrowsers } from '../../support/assert.mjs';
import { ASSETS_DIR, startStack } from '../../support/harness.mjs';
import { rawGet } from '../../support/raw-request.mjs';

const BOSS = ['boss@corp.example'];
const POLICIES = [
  { path: '/public/*', public: true },
  { path: '/index.html', emails: BOSS },
  { path: '/page.html', emails: BOSS },
  { path: '/dir/', emails: BOSS },
  { path: '/admin/*', emails: BOSS },
];
// file -> marker in its body
const FILES = {
  'index.html': 'MARK-INDEX',
  'page.html': 'MARK-PAGE',
  'dir/index.html': 'MARK-DIR',
  'admin/index.html': 'MARK-ADMIN-INDEX',
  'admin/secret.html': 'MARK-ADMIN-SECRET',
  'public/index.html': 'MARK-PUBLIC-INDEX',
  'public/logo.txt': 'MARK-PUBLIC-LOGO',
  'public.html': 'MARK-OUTSIDE-PUBLIC',
  'open.html': 'MARK-OPEN',
};
const PROTECTED_MARKS = ['MARK-INDEX', 'MARK-PAGE', 'MARK-DIR', 'MARK-ADMIN-INDEX', 'MARK-ADMIN-SECRET'];

let stack;
let site;
let assetsDir;

before(async () => {
  assetsDir = mkdtempSync(path.join(os.tmpdir(), 'edge-auth-assets-'));
  cpSync(ASSETS_DIR, assetsDir, { recursive: true });
  for (const [file, mark] of Object.entries(FILES)) {
    mkdirSync(path.dirname(path.join(assetsDir, file)), { recursive: true });
    writeFileSync(path.join(assetsDir, file), `<!doctype html><title>${file}</title><p>${mark}</p>\n`);
  }
  stack = await startStack({
    algs: [],
    extraConnectors: [{ id: 'corp', domains: ['corp.example'] }],
    config: { policies: POLICIES },
    worker: { assetsDir },
  });
  site = stack.worker.url;
}, { timeout: 60_000 });

after(async () => {
  await stack?.close();
  if (assetsDir) rmSync(assetsDir, { recursive: true, force: true });
}, { timeout: 30_000 });

const browserOf = signedInBrowsers(() => site);

function leaked(body) {
  return PROTECTED_MARKS.find((m) => body.includes(m));
}

// Every URL under which the asset server serves (or redirects to) a protected file, and tricky spellings.
const PROTECTED = [
  '/', '//', '/index', '/index.html', '/INDEX.HTML', '//index.html', '/%69ndex.html', '/index;x', '/;x',
  '/page', '/page/', '/page.html', '//page', '/%70age', '/PAGE', '/Page', '/page;x', '/page.', '/page%2F', '/page.html;x',
  '/dir', '/dir/', '/dir/index.html', '/dir/index', '//dir/', '/DIR/', '/dir;x/', '/dir%2F',
  '/admin', '/admin/', '/admin/secret', '/admin/secret.html', '//admin/secret', '/admin;x/secret', '/%61dmin/secret',
  '/admin%2Fsecret', '/admin%2fsecret.html', '/ADMIN/secret', '/admin./secret', '/public/..;/admin/secret',
  '/public%2F..%2Fadmin%2Fsecret', '/public%252F..%252Fadmin/secret', '/public/..%2Fadmin/secret',
];

describe('a rule protects a file under every URL the asset server answers for it', () => {
  test('a signed-in user without the grant: 403, no protected file', async () => {
    const eve = await browserOf('eve@corp.example');
    for (const target of PROTECTED) {
      const r = await rawGet(site, target, { browser: eve });
      assert.equal(r.status, 403, `${target}\n${r.describe()}`);
      assert.equal(leaked(r.body), undefined, `${target} served a protected file`);
    }
  });

  test('an anonymous visitor (also through the public rule): 401, no protected file', async () => {
    for (const target of PROTECTED) {
      const r = await rawGet(site, target);
      assert.equal(r.status, 401, `${target}\n${r.describe()}`);
      assert.equal(leaked(r.body), undefined, `${target} served a protected file`);
    }
  });

  test('the user with the grant gets each file, also when the worker fetches it at the canonical path', async () => {
    const boss = await browserOf('boss@corp.example');
    for (const [target, mark] of [
      ['/', 'MARK-INDEX'],
      ['//', 'MARK-INDEX'],
      ['/page', 'MARK-PAGE'],
      ['//page', 'MARK-PAGE'],
      ['/%70age', 'MARK-PAGE'],
      ['/dir/', 'MARK-DIR'],
      ['/admin/secret', 'MARK-ADMIN-SECRET'],
      ['//admin//secret', 'MARK-ADMIN-SECRET'],
    ]) {
      const r = await rawGet(site, target, { browser: boss });
      assert.equal(r.status, 200, `${target}\n${r.describe()}`);
      assert.ok(r.body.includes(mark), `${target}\n${r.describe()}`);
    }
    // The asset server's own redirects still work (relative to the canonical path).
    const r = await rawGet(site, '/page.html', { browser: boss });
    assert.ok([307, 308].includes(r.status), r.describe());
    assert.equal(new URL(r.headers.location, site).pathname, '/page');
  });
});

describe('public paths in static mode', () => {
  test('files under the public prefix are public', async () => {
    for (const [target, mark] of [['/public/', 'MARK-PUBLIC-INDEX'], ['/public/logo.txt', 'MARK-PUBLIC-LOGO'], ['//public//logo.txt', 'MARK-PUBLIC-LOGO']]) {
      const r = await rawGet(site, target);
      assert.equal(r.status, 200, `${target}\n${r.describe()}`);
      assert.ok(r.body.includes(mark), `${target}\n${r.describe()}`);
    }
  });

  test('the bare prefix /public is served from /public.html, outside the rule: not public', async () => {
    for (const target of ['/public', '/public.html', '/PUBLIC/', '/public;x']) {
      const r = await rawGet(site, target);
      assert.equal(r.status, 401, `${target}\n${r.describe()}`);
      assert.ok(!r.body.includes('MARK-OUTSIDE-PUBLIC'), target);
    }
  });

  test('a path without a rule needs a session, whatever its spelling', async () => {
    for (const target of ['/open', '/open.html', '//open', '/%6fpen']) {
      const r = await rawGet(site, target);
      assert.equal(r.status, 401, `${target}\n${r.describe()}`);
      assert.ok(!r.body.includes('MARK-OPEN'), target);
    }
    const eve = await browserOf('eve@corp.example');
    const r = await rawGet(site, '//open', { browser: eve });
    assert.equal(r.status, 200, r.describe());
    assert.ok(r.body.includes('MARK-OPEN'), r.describe());
  });

  test('/auth/static/ only serves plain paths, and bad paths are a 400', async () => {
    for (const target of ['/auth/static/..%2F..%2Fadmin%2Fsecret.html', '/auth/static/%2e%2e%2Fpage']) {
      const r = await rawGet(site, target);
      assert.equal(r.status, 404, `${target}\n${r.describe()}`);
      assert.equal(leaked(r.body), undefined, target);
    }
    const r = await rawGet(site, '/page%00');
    assert.equal(r.status, 400, r.describe());
    assert.equal(r.errorCode, 'bad_path');
  });
});
