// Origin mode, issue 10 §1: a path policy holds however the origin reads the path. Requests are sent with
// their request target exactly as spelled (tests/support/raw-request.mjs), through the worker in workerd, to
// the test origin, which records the request target it receives (`req.url`, byte for byte).
//  - a signed-in user without the admin grant, and an anonymous visitor (also through the public rule), cannot
//    reach /admin under any spelling an origin may read as /admin (`//admin`, `/admin;x`, `/public/..;/admin`,
//    `/%61dmin`, `/admin%2Fx`, `/public%2F..%2Fadmin`, `%252F`, `/ADMIN`, `/Admin/`, `/admin./x`, …);
//  - the user with the grant gets through, and the origin receives exactly the canonical path C;
//  - paths that cannot be canonicalised safely (encoded control characters, malformed escapes, overlong UTF-8) get a 400
//    `bad_path` page, and the origin is not reached.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { signedInBrowsers } from '../../support/assert.mjs';
import { rawGet } from '../../support/raw-request.mjs';
import { startOriginStack } from '../../support/test-origin.mjs';

let stack;
let site;
let backend;
const POLICIES = [
  { path: '/public/*', public: true },
  { path: '/admin/*', emails: ['boss@corp.example'] },
  { path: '/report', emails: ['boss@corp.example'] },
];

before(async () => {
  ({ stack, backend, site } = await startOriginStack({
    extraConnectors: [{ id: 'corp', domains: ['corp.example'] }],
    policies: POLICIES,
  }));
}, { timeout: 60_000 });

after(async () => {
  await Promise.allSettled([stack?.close(), backend?.close()]);
}, { timeout: 30_000 });

const browserOf = signedInBrowsers(() => site);

/** GET `target` as spelled; { r, seen }: seen is what the origin received (undefined if not reached). */
async function through(target, browser) {
  const before = backend.requests.length;
  const r = await rawGet(site, target, { browser });
  assert.ok(backend.requests.length - before <= 1, 'at most one origin request');
  return { r, seen: backend.requests.length > before ? backend.requests.at(-1) : undefined };
}

// Spellings of /admin/… (or /report) and the canonical path C the origin must receive for them. (The
// runtime's URL parser already resolves `..`, `%2e%2e` and `\` before the worker sees them.)
const SPELLINGS = [
  ['/admin', '/admin'],
  ['//admin', '/admin'],
  ['///admin//users', '/admin/users'],
  ['/admin;x', '/admin;x'],
  ['/admin;jsessionid=1/users', '/admin;jsessionid=1/users'],
  ['/public/..;/admin', '/public/..;/admin'],
  ['/public;x/..;/admin/users', '/public;x/..;/admin/users'],
  ['/public/%2e%2e;/admin', '/public/..;/admin'],
  ['/%61dmin', '/admin'],
  ['/%61%64%6d%69%6e/users', '/admin/users'],
  ['/admin%2Fusers', '/admin%2Fusers'],
  ['/admin%2fusers', '/admin%2Fusers'],
  ['/public%2F..%2Fadmin', '/public%2F..%2Fadmin'],
  ['/public%5C..%5Cadmin', '/public%5C..%5Cadmin'],
  ['/public%5Cx%2F..%2Fadmin', '/public%5Cx%2F..%2Fadmin'],
  ['/public%252F..%252Fadmin', '/public%252F..%252Fadmin'],
  ['/public/%252e%252e/admin', '/public/%252e%252e/admin'],
  ['/ADMIN', '/ADMIN'],
  ['/Admin/', '/Admin/'],
  ['/aDmIn/users', '/aDmIn/users'],
  ['/admin./users', '/admin./users'],
  ['/admin%20/users', '/admin%20/users'],
  ['/admin::$DATA/users', '/admin::$DATA/users'],
  ['/public/..%3B/admin', '/public/..%3B/admin'],
  ['/admin.html', '/admin.html'],
  ['/admin/index.html', '/admin/index.html'],
  ['/report/', '/report/'],
  ['/REPORT', '/REPORT'],
  ['/report.html', '/report.html'],
  ['//report', '/report'],
  ['/report;x', '/report;x'],
  // a decoded `?`/`#` ends the path behind a proxy that forwards the decoded path (nginx `proxy_pass …$uri`)
  ['/admin%3Fx', '/admin%3Fx'],
  ['/admin%23x', '/admin%23x'],
  ['/public/..%2Fadmin%3F', '/public/..%2Fadmin%3F'],
  // PHP front controllers route on the path info (Symfony also takes /public/index.php as the base URL)
  ['/index.php/admin', '/index.php/admin'],
  ['/public/index.php/admin/users', '/public/index.php/admin/users'],
  // Rails' (.:format) and Spring's suffix pattern match
  ['/admin.json', '/admin.json'],
  ['/report.pdf', '/report.pdf'],
  ['/REPORT.x.y', '/REPORT.x.y'],
  ['/report.json/', '/report.json/'],
  // PATH_INFO: the script serves the paths below it (/report.php/x runs /report.php, which Rails-style
  // format matching reads as /report)
  ['/report.php/x', '/report.php/x'],
  // IIS's aspnet_filter drops ASP.NET cookieless tickets
  ['/(S(x))/admin', '/(S(x))/admin'],
  ['/%28F%28t%29%29/report', '/%28F%28t%29%29/report'],
  // Next.js serves a page's server-side props at /_next/data/<build id>/<page>.json
  ['/_next/data/b1/admin/users.json', '/_next/data/b1/admin/users.json'],
  ['/_next/data/b1/report.json', '/_next/data/b1/report.json'],
];

describe('every spelling of a restricted path needs its rule', () => {
  test('a signed-in user without the grant: 403, the origin is never reached', async () => {
    const eve = await browserOf('eve@corp.example');
    for (const [target] of SPELLINGS) {
      const { r, seen } = await through(target, eve);
      assert.equal(r.status, 403, `${target}\n${r.describe()}`);
      assert.equal(r.errorCode, 'forbidden', target);
      assert.equal(seen, undefined, `${target} reached the origin as ${seen?.path}`);
    }
  });

  test('an anonymous visitor (also through the public rule): 401, the origin is never reached', async () => {
    for (const [target] of SPELLINGS) {
      const { r, seen } = await through(target);
      assert.equal(r.status, 401, `${target}\n${r.describe()}`);
      assert.equal(seen, undefined, `${target} reached the origin as ${seen?.path}`);
    }
  });

  test('the user with the grant gets through, and the origin receives exactly the canonical path', async () => {
    const boss = await browserOf('boss@corp.example');
    for (const [target, canonical] of SPELLINGS) {
      const { r, seen } = await through(target, boss);
      assert.equal(r.status, 200, `${target}\n${r.describe()}`);
      assert.ok(seen, target);
      assert.equal(seen.path, canonical, `${target}: the origin received ${seen.path}`);
      assert.equal(seen.identity?.email, 'boss@corp.example', seen.assertionError);
    }
    const { seen } = await through('//admin//x?a=1&b=%2F', boss);
    assert.equal(seen.path, '/admin/x?a=1&b=%2F', 'the query is forwarded unchanged');
  });
});

describe('public paths', () => {
  test('ordinary spellings stay public, and the origin receives C byte for byte', async () => {
    for (const [target, canonical] of [
      ['/public/logo.png', '/public/logo.png'],
      ['/public', '/public'],
      ['/public/', '/public/'],
      ['/public//a/./b.css', '/public/a/b.css'],
      ['/public/%7euser/%41.css', '/public/~user/A.css'],
      ["/public/a;v=1/x:y@z!$&'()*+,=.css", "/public/a;v=1/x:y@z!$&'()*+,=.css"],
      ['/public/a%20b%22c%3cd.png', '/public/a%20b%22c%3Cd.png'],
      ['/public/caf%c3%a9', '/public/caf%C3%A9'],
      ['/public/%2F', '/public/%2F'],
    ]) {
      const { r, seen } = await through(target);
      assert.equal(r.status, 200, `${target}\n${r.describe()}`);
      assert.equal(seen?.path, canonical, `${target}: the origin received ${seen?.path}`);
      assert.equal(seen.identity, null);
    }
  });

  test('a public path that some origin reads as another path is not public', async () => {
    for (const target of ['/public/..%2Fx', '/PUBLIC/x', '/public./x', '/public;x/y', '/public%252F..%252Fx']) {
      const { r, seen } = await through(target);
      assert.equal(r.status, 401, `${target}\n${r.describe()}`);
      assert.equal(seen, undefined, target);
    }
  });
});

describe('paths that cannot be canonicalised safely', () => {
  test('400 bad_path, with a page for navigations; the origin is not reached', async () => {
    const boss = await browserOf('boss@corp.example');
    for (const target of ['/admin%00', '/x%00/y', '/x%0d%0aSet-Cookie:%20a=b', '/x%7F', '/x%1f', '/x%zz', '/x%', '/x%4', '/x%2500', '/x%25250a', '/public/%C0%AE%C0%AE/admin', '/x%c0%af', '/public%25C0%25AE%25C0%25AE/admin']) {
      for (const browser of [undefined, boss]) {
        const { r, seen } = await through(target, browser);
        assert.equal(r.status, 400, `${target}\n${r.describe()}`);
        assert.equal(r.errorCode, 'bad_path', target);
        assert.match(r.body, /<meta name="edge-auth-error" content="bad_path">/, target);
        assert.equal(seen, undefined, target);
      }
    }
  });

  test('a path that names /auth/ only once normalised is refused too', async () => {
    for (const target of ['//auth/me', '/%61uth/me']) {
      const { r, seen } = await through(target);
      assert.equal(r.status, 400, `${target}\n${r.describe()}`);
      assert.equal(seen, undefined, target);
    }
  });
});
