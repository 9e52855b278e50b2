// The visitor pages' AUTH_CONFIG "pages" object in workerd (docs/pages.md): a fixed language, the branding
// (product name escaped, logo, accent colour allowed by its CSP hash, support link) on every page, and a bad
// value refused with the field named.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { Browserless, startStack, startWorker } from '../../support/harness.mjs';

const PAGES = {
  language: 'ko',
  product_name: '<Acme> "SSO"',
  logo_url: 'https://cdn.acme.example/brand/logo.svg?v=2',
  accent_color: '#0B5D1E',
  support: 'it-help@acme.example',
};

let stack;
before(async () => {
  stack = await startStack({ algs: ['RS256'], config: { pages: PAGES } });
}, { timeout: 60_000 });
after(async () => {
  await stack?.close();
}, { timeout: 30_000 });

/** The directives of a Content-Security-Policy header: { name: value }. */
function csp(header) {
  const out = {};
  for (const part of String(header ?? '').split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) out[name.toLowerCase()] = values.join(' ');
  }
  return out;
}

describe('AUTH_CONFIG pages: a fixed language and the branding on every page', () => {
  const pages = [
    ['the login page', '/auth/login', 200],
    ['a refusal', '/auth/login?email=x%40nowhere.example', 403],
    ['the signed-out page', '/auth/signed-out', 200],
    ['the logout confirmation', '/auth/logout', 200],
  ];
  for (const [label, target, status] of pages) {
    test(`${label}`, async () => {
      // An English-speaking browser still gets Korean: the operator fixed the language.
      const r = await new Browserless().navigate(`${stack.worker.url}${target}`, { headers: { 'accept-language': 'en-US,en;q=0.9' } });
      assert.equal(r.status, status, r.describe());
      assert.match(r.body, /<html lang="ko">/, r.describe());
      assert.equal(r.headers.get('content-language'), 'ko', r.describe());
      assert.equal(r.headers.get('vary'), null, `one language for everyone: nothing to vary on\n${r.describe()}`);
      // The product name, escaped (never markup).
      assert.ok(r.body.includes('&lt;Acme&gt; &quot;SSO&quot;'), r.describe());
      assert.ok(!r.body.includes('<Acme>'), r.describe());
      assert.ok(r.body.includes('<img src="https://cdn.acme.example/brand/logo.svg?v=2" alt=""'), r.describe());
      assert.ok(r.body.includes('<a href="mailto:it-help@acme.example">'), r.describe());
      // The accent colour's <style> is allowed by its hash, nothing else inline; the logo's origin for images.
      const style = /<style>([^<]*)<\/style>/.exec(r.body)?.[1];
      assert.ok(style?.includes('--accent:#0b5d1e'), r.describe());
      const hash = createHash('sha256').update(style).digest('base64');
      const directives = csp(r.headers.get('content-security-policy'));
      assert.equal(directives['style-src'], `'self' 'sha256-${hash}'`, r.describe());
      assert.equal(directives['img-src'], "'self' https://cdn.acme.example", r.describe());
      assert.equal(directives['frame-ancestors'], "'none'", r.describe());
      // Only the login page runs a script (login.js); a page that shows the visitor's address or domain runs none.
      if (target === '/auth/login') {
        assert.equal(directives['script-src'], "'self'", r.describe());
        assert.equal(directives['connect-src'], "'self'", r.describe());
      } else {
        assert.equal(directives['script-src'], undefined, r.describe());
        assert.equal(directives['connect-src'], undefined, r.describe());
        assert.ok(!/<script/i.test(r.body), r.describe());
      }
    });
  }
});

test('a bad pages value: the worker refuses the configuration and the log names the field', async () => {
  const worker = await startWorker({
    config: {
      connectors: [{ id: 'acme', kind: 'oidc', issuer: 'https://idp.acme.example', client_id: 'edge', client_secret_binding: 'S', domains: ['acme.example'] }],
      pages: { language: 'kr' },
    },
  });
  try {
    const r = await new Browserless().navigate(`${worker.url}/auth/login`);
    assert.equal(r.status, 500, r.describe());
    assert.equal(r.errorCode, 'config_error', r.describe());
    assert.ok(await worker.logs.waitFor(/pages\.language/), 'the log names the field');
  } finally {
    await worker.dispose();
  }
});

test('a configuration that does not load: the error page is still in the visitor\'s language', async () => {
  const worker = await startWorker({ config: '{"connectors": []}' });
  try {
    const r = await new Browserless().navigate(`${worker.url}/auth/login`, { headers: { 'accept-language': 'ko-KR' } });
    assert.equal(r.status, 500, r.describe());
    assert.equal(r.errorCode, 'config_error', r.describe());
    assert.match(r.body, /<html lang="ko">/, r.describe());
    assert.ok(r.body.includes('로그인 설정에 문제가 있습니다'), r.describe());
  } finally {
    await worker.dispose();
  }
});
