// GET /auth/health in workerd: the deployed worker's answer for uptime checks — counts and states only, never a
// connector, issuer or URL; and the answer of a worker whose configuration does not load (503, no reason).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Browserless, startStack, startWorker } from '../../support/harness.mjs';

let stack;
before(async () => {
  stack = await startStack({ algs: ['ES256'] });
}, { timeout: 60_000 });
after(async () => {
  await stack?.close();
}, { timeout: 30_000 });

async function health(origin) {
  const r = await fetch(`${origin}/auth/health`);
  assert.match(r.headers.get('content-type') || '', /application\/json/);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  return { status: r.status, body: await r.json() };
}

test('a loaded configuration: ok, the IdP document counted once a sign-in read it, nothing named', async () => {
  const origin = stack.worker.url;
  const before = await health(origin);
  assert.equal(before.status, 200);
  assert.equal(before.body.status, 'ok');
  assert.equal(before.body.config, 'loaded');
  assert.equal(before.body.revocations, 'current');
  const total = before.body.idp_documents.fresh + before.body.idp_documents.stale + before.body.idp_documents.not_read;
  assert.ok(total >= 1, JSON.stringify(before.body));
  // The login reads the discovery document: one more fresh in this (single) isolate.
  const email = 'alice@es256.example';
  await new Browserless().navigate(`${origin}/auth/login?email=${encodeURIComponent(email)}`);
  const after = await health(origin);
  assert.ok(after.body.idp_documents.fresh >= 1, JSON.stringify(after.body));
  const text = JSON.stringify(after.body);
  assert.ok(!text.includes(stack.idp.issuer) && !text.includes('127.0.0.1') && !text.includes('example'), text);
});

test('a configuration with several errors: the log names every one, numbered; the page none', async () => {
  const config = {
    connectors: [
      { id: 'acme', kind: 'oidc', issuer: 'http://idp.acme.example', client_id: 'edge',
        client_secret_binding: 'ACME_SECRET', domains: ['acme.example'] },
      { id: 'beta', kind: 'oidc', issuer: 'https://idp.beta.example', client_id: 'edge',
        client_secret_binding: 'BETA_SECRET', domains: ['beta.example'], domian: 'x' },
    ],
    session: { lifetime_seconds: 10 },
  };
  const worker = await startWorker({ config });
  try {
    const r = await fetch(`${worker.url}/auth/login`);
    assert.equal(r.status, 500);
    const page = await r.text();
    assert.ok(!page.includes('acme') && !page.includes('domian') && !page.includes('lifetime'), page);
    const line = await worker.logs.waitFor(/edge-auth: 3 configuration errors: \(1\) AUTH_CONFIG: connector "acme", field `issuer`/);
    assert.ok(line, worker.logs.since(0).join('\n'));
    assert.match(line, /\(2\) AUTH_CONFIG: connector "beta", field `domian`/);
    assert.match(line, /\(3\) AUTH_CONFIG: field `session.lifetime_seconds`/);
  } finally {
    await worker.dispose();
  }
});

test('a configuration that does not load: 503 JSON saying only that (the reason in the log)', async () => {
  const worker = await startWorker({ config: '{"connectors": []}' });
  try {
    const r = await health(worker.url);
    assert.equal(r.status, 503);
    assert.deepEqual(r.body, { status: 'error', config: 'invalid' });
  } finally {
    await worker.dispose();
  }
});
