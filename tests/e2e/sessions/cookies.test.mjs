// The session cookie over time, end to end through the real worker in workerd (sign-in through the real
// oidc-provider): the idle timeout and its sliding renewal, key rotation (SESSION_KEYS "B,A" keeps sessions
// sealed with A; "B" alone ends them), encrypted cookies (session.encrypt), and — measured and reported with
// t.diagnostic, only the budget asserted — the cookie size for a very large IdP identity.
//
// The idle timeout cannot be waited for (its minimum is 120 s): sessions are forged with the worker's cookie
// codec (tests/support/fake-idp/codec.mjs sealCookie, the test knows SESSION_KEYS) from the payload of a real
// sign-in, with `iat` / `ra` (last renewal) moved into the past.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { me, SESSION_COOKIE } from '../../support/assert.mjs';
import { Browserless, randomKey, startStack, startWorker } from '../../support/harness.mjs';
import { openCookieUnverified, sealCookie } from '../../support/fake-idp/index.mjs';

const IDLE = 120;
const KEY_A = randomKey();
const KEY_B = randomKey();

// A very large identity: a 255-character sub (OIDC's maximum), a 64-character local part, a 1000-character
// name, 200 groups (Entra's limit before its "overage" claim): 30 long names that the policies mention (the
// session keeps at most 16) and 170 GUIDs, and an IdP session id (sid). The ID token is about 12 KB; the worker
// refuses ID tokens over 16384 bytes.
const BIG_SUB = `s${'0123456789abcdef'.repeat(16)}`.slice(0, 255);
const BIG_EMAIL = `${'big.user.'.repeat(8)}`.slice(0, 64) + '@corp.example';
const MENTIONED = Array.from({ length: 30 }, (_, i) => `g-${String(i).padStart(3, '0')}-${'very-long-group-name-'.repeat(2)}`);
const GUID = (i) => `${String(i).padStart(8, '0')}-aaaa-4bbb-8ccc-${String(i).padStart(12, '0')}`;
const ACCOUNTS = {
  [BIG_SUB]: {
    email: BIG_EMAIL,
    email_verified: true,
    name: `Dr. ${'Bartholomew-Maximilian '.repeat(50)}`.slice(0, 1000),
    groups: [...MENTIONED, ...Array.from({ length: 170 }, (_, i) => GUID(i))],
  },
};

/** Stack options shared by the plain and the encrypted stacks. */
function stackOptions(session) {
  return {
    algs: [],
    extraConnectors: [
      {
        id: 'corp',
        domains: ['corp.example'],
        connector: { scopes: ['groups'] },
        client: (workerOrigin) => ({
          backchannel_logout_uri: `${workerOrigin}/auth/logout/backchannel`,
          backchannel_logout_session_required: true,
        }),
      },
    ],
    idp: { claims: { groups: ['groups'] }, features: { backchannelLogout: { enabled: true } } },
    accounts: ACCOUNTS,
    config: { session, policies: [{ path: '/team/*', groups: MENTIONED }] },
  };
}

let plain; // session.idle_timeout_seconds = 120, signed cookies, SESSION_KEYS = A
let sealed; // the same with session.encrypt
before(async () => {
  [plain, sealed] = await Promise.all([
    startStack({ ...stackOptions({ idle_timeout_seconds: IDLE }), sessionKeys: KEY_A }),
    startStack({ ...stackOptions({ idle_timeout_seconds: IDLE, encrypt: true }), sessionKeys: KEY_A }),
  ]);
}, { timeout: 60_000 });
after(async () => {
  await Promise.allSettled([plain?.close(), sealed?.close()]);
}, { timeout: 30_000 });

const now = () => Math.floor(Date.now() / 1000);

async function signIn(stack, email, login = email) {
  const b = new Browserless();
  const { response } = await b.login({ worker: stack.worker.url, email, login });
  assert.equal(response.status, 302, response.describe());
  const sc = response.setCookie(SESSION_COOKIE);
  assert.ok(sc?.value, response.describe());
  return { b, response, setCookie: sc, cookie: sc.value };
}

/** A session cookie sealed (signed, v1) with `key`: the payload of a real sign-in with fields replaced. */
function forge(base, fields, key = KEY_A) {
  return sealCookie({ key, purpose: 'session', cookieName: SESSION_COOKIE, payload: { ...base, ...fields } });
}

/** GET a protected asset (www/ index) with exactly this cookie: { r, renewed } (renewed = the new Set-Cookie). */
async function visit(at, cookie, { navigate = false } = {}) {
  const b = new Browserless();
  b.setCookie(SESSION_COOKIE, cookie, { url: at });
  const r = navigate ? await b.navigate(`${at}/`) : await b.get(`${at}/`, { headers: { accept: 'application/json' } });
  return { r, renewed: r.setCookie(SESSION_COOKIE), b };
}

describe('idle timeout and sliding renewal', () => {
  let base; // the payload of a real session
  before(async () => {
    const { cookie } = await signIn(plain, 'alice@corp.example');
    base = openCookieUnverified(cookie);
    assert.equal(base.email, 'alice@corp.example');
  });

  test('in the first half of the idle window: valid, no new cookie', async () => {
    for (const age of [0, 30, 50]) {
      const t = now();
      const { r, renewed } = await visit(plain.worker.url, await forge(base, { iat: t - 600, ra: t - age }));
      assert.equal(r.status, 200, `idle ${age}s\n${r.describe()}`);
      assert.equal(renewed, undefined, `no renewal after ${age}s\n${r.describe()}`);
    }
  });

  test('in the second half: valid, and a Set-Cookie with a newer ra (same identity, iat and exp) that works', async () => {
    const t = now();
    const iat = t - 600;
    const exp = iat + 28_800;
    const { r, renewed } = await visit(plain.worker.url, await forge(base, { iat, exp, ra: t - 70 }));
    assert.equal(r.status, 200, r.describe());
    assert.ok(renewed?.value, `a renewed cookie\n${r.describe()}`);
    const p = openCookieUnverified(renewed.value);
    assert.ok(p.ra >= t - 1 && p.ra <= now() + 1, `ra renewed to now: ${p.ra} (now ${t})`);
    assert.equal(p.iat, iat, 'iat unchanged: the absolute lifetime does not slide');
    assert.equal(p.exp, exp);
    assert.equal(p.email, base.email);
    assert.equal(p.sub, base.sub);
    assert.ok(Math.abs(renewed.maxAge - (exp - t)) <= 5, `Max-Age ${renewed.maxAge} = exp - now (${exp - t})`);
    assert.ok(renewed.httpOnly && String(renewed.sameSite).toLowerCase() === 'lax', renewed.raw);
    const again = await visit(plain.worker.url, renewed.value);
    assert.equal(again.r.status, 200, again.r.describe());
    assert.equal(again.renewed, undefined, 'just renewed: no new cookie');
  });

  test('idle longer than the timeout: the session is over (401 / login page / /auth/me 401)', async () => {
    const t = now();
    const stale = await forge(base, { iat: t - 600, ra: t - IDLE - 5 });
    const api = await visit(plain.worker.url, stale);
    assert.equal(api.r.status, 401, api.r.describe());
    assert.equal(api.renewed, undefined, 'no renewal of a dead session');
    const nav = await visit(plain.worker.url, stale, { navigate: true });
    assert.equal(nav.r.status, 302, nav.r.describe());
    assert.equal(new URL(nav.r.location).pathname, '/auth/login');
    await me(api.b, plain.worker.url, 401);
    // Without ra, the idle time counts from iat.
    const { ra: _ra, ...noRa } = base;
    const old = await visit(plain.worker.url, await forge(noRa, { iat: t - IDLE - 5 }));
    assert.equal(old.r.status, 401, old.r.describe());
  });

  test('an old session recently used stays valid; the absolute expiry still ends it', async () => {
    const t = now();
    const active = await visit(plain.worker.url, await forge(base, { iat: t - 20_000, exp: t + 8_800, ra: t - 10 }));
    assert.equal(active.r.status, 200, active.r.describe());
    const expired = await visit(plain.worker.url, await forge(base, { iat: t - 28_900, exp: t - 100, ra: t - 10 }));
    assert.equal(expired.r.status, 401, expired.r.describe());
    // Close to the absolute expiry there is nothing to renew.
    const ending = await visit(plain.worker.url, await forge(base, { iat: t - 28_770, exp: t + 30, ra: t - 70 }));
    assert.equal(ending.r.status, 200, ending.r.describe());
    assert.equal(ending.renewed, undefined, ending.r.describe());
  });
});

describe('key rotation', () => {
  test('sealed with A: "B,A" keeps it (and renews it under B), "B" alone ends it', async () => {
    const { cookie } = await signIn(plain, 'bob@corp.example');
    const base = openCookieUnverified(cookie);
    const t = now();
    const due = await forge(base, { iat: t - 600, ra: t - 70 }); // renewal due
    const opts = { config: plain.config, secrets: plain.secrets };
    const [rotated, onlyB] = await Promise.all([
      startWorker({ ...opts, sessionKeys: `${KEY_B},${KEY_A}` }),
      startWorker({ ...opts, sessionKeys: KEY_B }),
    ]);
    try {
      const b = new Browserless();
      b.setCookie(SESSION_COOKIE, cookie, { url: rotated.url });
      assert.equal((await me(b, rotated.url, 200)).email, 'bob@corp.example', '"B,A" accepts the real cookie');
      await me(b, onlyB.url, 401);

      const kept = await visit(rotated.url, due);
      assert.equal(kept.r.status, 200, kept.r.describe());
      assert.ok(kept.renewed?.value, `renewed\n${kept.r.describe()}`);
      assert.equal((await visit(onlyB.url, due)).r.status, 401, 'the A-sealed cookie is refused by "B"');
      // The renewal was sealed with the first key, B: it survives dropping A.
      const afterDrop = await visit(onlyB.url, kept.renewed.value);
      assert.equal(afterDrop.r.status, 200, afterDrop.r.describe());
    } finally {
      await Promise.allSettled([rotated.dispose(), onlyB.dispose()]);
    }
  });
});

describe('session.encrypt', () => {
  test('the cookie is v1e. and does not reveal the email; /auth/me and protected pages work', async () => {
    const email = 'carol@corp.example';
    const { b, cookie } = await signIn(sealed, email);
    assert.ok(cookie.startsWith('v1e.'), cookie);
    const body = cookie.slice(4);
    assert.ok(!cookie.includes('carol'), cookie);
    for (let shift = 0; shift < 3; shift++) {
      const b64 = Buffer.from(`${'x'.repeat(shift)}${email}`).toString('base64url').slice(4);
      assert.ok(!cookie.includes(b64.slice(0, 16)), `no base64 of the email (alignment ${shift})`);
    }
    const bytes = Buffer.from(body.split('.').join(''), 'base64url');
    assert.ok(!bytes.includes(Buffer.from('carol')), 'not in the decoded bytes either');
    assert.throws(() => JSON.parse(bytes.toString('utf8')));
    assert.equal((await me(b, sealed.worker.url, 200)).email, email);
    const page = await visit(sealed.worker.url, cookie);
    assert.equal(page.r.status, 200, page.r.describe());
    const second = await signIn(sealed, email);
    assert.notEqual(second.cookie, cookie, 'a fresh nonce each time');
  });

  test('a tampered encrypted cookie is refused', async () => {
    const { cookie } = await signIn(sealed, 'dan@corp.example');
    const i = Math.floor(cookie.length / 2);
    const flipped = cookie.slice(0, i) + (cookie[i] === 'A' ? 'B' : 'A') + cookie.slice(i + 1);
    assert.equal((await visit(sealed.worker.url, flipped)).r.status, 401);
    assert.equal((await visit(sealed.worker.url, cookie)).r.status, 200);
  });

  test('turning encryption on keeps signed sessions, and their renewal comes back encrypted', async () => {
    const { cookie } = await signIn(plain, 'erin@corp.example');
    const base = openCookieUnverified(cookie);
    const t = now();
    const { r, renewed } = await visit(sealed.worker.url, await forge(base, { iat: t - 600, ra: t - 70 }));
    assert.equal(r.status, 200, r.describe());
    assert.ok(renewed?.value.startsWith('v1e.'), `renewed as encrypted\n${r.describe()}`);
    assert.equal((await visit(sealed.worker.url, renewed.value)).r.status, 200);
  });
});

describe('cookie size (measured; budget 1000 bytes)', () => {
  test('a very large IdP identity, signed and encrypted: within the budget, the identity and sid kept, groups cut to mentioned ones, the group rule still admits', async (t) => {
    for (const [label, stack] of [['signed (v1)', plain], ['encrypted (v1e)', sealed]]) {
      const typical = await signIn(stack, 'alice@corp.example');
      const big = await signIn(stack, BIG_EMAIL, BIG_SUB);
      const info = await me(big.b, stack.worker.url, 200);
      assert.equal(info.email, BIG_EMAIL);
      assert.equal(info.sub, `corp:${BIG_SUB}`, 'the identity itself is never dropped (user id connector:sub)');
      assert.equal(info.name, null, `${label}: the 1000-character name is what gives way first`);
      let kept = 'name dropped';
      if (label.startsWith('signed')) {
        const p = openCookieUnverified(big.cookie);
        assert.ok(p.sid, `${label}: the sid is kept (back-channel logout needs it)`);
        assert.ok(Array.isArray(p.g) && p.g.length >= 1 && p.g.length <= 16, `${label}: 1..16 groups kept: ${JSON.stringify(p.g)}`);
        for (const g of p.g) assert.ok(MENTIONED.some((m) => g === m || g.endsWith(`:${m}`)), `${label}: only groups a policy mentions are kept: ${g}`);
        kept += `, groups ${p.g.length}, sid kept`;
      }
      // /team/* admits the mentioned groups: the big identity passes the rule (to the asset server, which has no
      // /team/x: 404 without an edge-auth error), a user with no group is refused (403).
      const team = await big.b.get(`${stack.worker.url}/team/x`, { headers: { accept: 'application/json' } });
      assert.equal(team.status, 404, `${label}: admitted by the group rule, then not found\n${team.describe()}`);
      assert.equal(team.errorCode, null, `${label}: not an edge-auth refusal\n${team.describe()}`);
      const outsider = await typical.b.get(`${stack.worker.url}/team/x`, { headers: { accept: 'application/json' } });
      assert.equal(outsider.status, 403, `${label}: control: a user in no mentioned group is refused\n${outsider.describe()}`);
      t.diagnostic(
        `${label}: typical user ${typical.cookie.length} B value (${typical.setCookie.raw.length} B Set-Cookie); ` +
          `large identity ${big.cookie.length} B value (${big.setCookie.raw.length} B Set-Cookie, ` +
          `${SESSION_COOKIE.length + 1 + big.cookie.length} B in the Cookie header); ${kept}`,
      );
      assert.ok(big.cookie.length < 1000, `${label}: ${big.cookie.length} bytes`);
      assert.ok(typical.cookie.length < 1000, `${label}: ${typical.cookie.length} bytes`);
    }
  });
});
