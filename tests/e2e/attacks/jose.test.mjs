// JOSE attacks on the ID token, delivered by the hostile provider (tests/support/fake-idp/op.mjs) through the
// real token endpoint to the real worker in workerd: "none" in every spelling, algorithm confusion, keys and
// key URLs in the header, crit, malformed ECDSA/RSA signatures, malformed compact serialisations, duplicate
// JSON members, oversized tokens and key sets, weak RSA keys. Every refused case checks the 4xx page and its
// code, no session cookie, /auth/me 401, the worker's logged reason, and that the next valid sign-in through
// the same connector still succeeds.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import * as jose from 'jose';

import { b64u, compactJws, generateKey, OMIT, rawSign } from '../../support/fake-idp/index.mjs';
import { expectAccepted, expectRefused, startHostileStack } from '../../support/stacks.mjs';
import { selfSignedCert } from '../../support/tls.mjs';

let stack;
let main; // the main provider: an RSA key pinned to RS256 and an EC P-256 key pinned to ES256, both with kids
let rsa;
let ec;
let attackerRsa;
let attackerEc;

const BIG_JWKS_PADDING = (bytes) => (set) => ({ keys: [...set.keys, { kty: 'oct', kid: 'padding', k: 'A'.repeat(bytes) }] });

before(async () => {
  stack = await startHostileStack({
    connectors: [
      { id: 'main', op: { keys: [{ alg: 'RS256', jwk: { alg: 'RS256' } }, { alg: 'ES256', jwk: { alg: 'ES256' } }] } },
      { id: 'weak', op: { keys: [{ alg: 'RS256', modulusLength: 1024, kid: 'weak-1024' }, { alg: 'RS256', kid: 'strong' }] } },
      { id: 'weakonly', op: { keys: [{ alg: 'RS256', modulusLength: 1024, kid: 'weak-only' }] } },
      { id: 'big300', op: { jwks: BIG_JWKS_PADDING(300 * 1024) } },
      { id: 'big600', op: { jwks: BIG_JWKS_PADDING(600 * 1024) } },
      { id: 'many', op: { jwks: (set) => ({ keys: [...set.keys, ...Array.from({ length: 100 }, (_, i) => ({ ...set.keys[0], kid: `copy-${i}` }))] }) } },
    ],
  });
  main = stack.ops.main;
  rsa = main.key('RS256');
  ec = main.key('ES256');
  attackerRsa = await generateKey({ alg: 'RS256' });
  attackerEc = await generateKey({ alg: 'ES256' });
  // The attacker's own key material, reachable over HTTP (the worker must never fetch it).
  main.serve('/attacker/jwks.json', { body: { keys: [attackerRsa.publicJwk, attackerEc.publicJwk] } });
  main.serve('/attacker/cert.pem', { type: 'application/pem-certificate-chain', body: attackerRsa.pem });
}, { timeout: 60_000 });
after(async () => {
  await stack?.close();
}, { timeout: 30_000 });

const refuse = (spec, reason, extra = {}) =>
  expectRefused(stack, { connector: 'main', spec, code: 'id_token_invalid', status: 400, reason, ...extra });

/** A case whose token is built by `build(ctx)` (ctx.claims / ctx.header are the valid defaults). */
const custom = (build) => (ctx) => ({ idToken: () => build(ctx) });

describe('alg "none" in any spelling', () => {
  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    test(`alg ${JSON.stringify(alg)} with an empty signature -> refused`, async () => {
      await refuse({ header: { alg, kid: OMIT }, signAs: 'none' }, /compact JWS|not accepted/);
    });
    test(`alg ${JSON.stringify(alg)} with an RS256 signature attached -> refused`, async () => {
      await refuse({ header: { alg }, signAs: 'RS256', key: rsa }, new RegExp(`alg "${alg}" is not accepted`));
    });
  }
  test('no alg member -> refused', async () => {
    await refuse({ header: { alg: OMIT }, signAs: 'RS256', key: rsa }, /missing field `alg`/);
  });
  test('alg null -> refused', async () => {
    await refuse({ header: { alg: null }, signAs: 'RS256', key: rsa }, /header is not valid JSON/);
  });
  test('alg "" -> refused', async () => {
    await refuse({ header: { alg: '' }, signAs: 'RS256', key: rsa }, /alg "" is not accepted/);
  });
  test('alg "rs256" (case variant of an allowed alg) -> refused', async () => {
    await refuse({ header: { alg: 'rs256' }, signAs: 'RS256', key: rsa }, /alg "rs256" is not accepted/);
  });
});

describe('algorithm confusion: HMAC keyed with the public key', () => {
  const variants = {
    'the RSA public JWK exactly as the JWKS serves it': () => JSON.stringify(rsa.publicJwk),
    'the RSA public JWK in RFC 7638 canonical form': () => JSON.stringify({ e: rsa.publicJwk.e, kty: 'RSA', n: rsa.publicJwk.n }),
    'the whole JWKS document': () => JSON.stringify(main.publishedJwks()),
    'the RSA public key as SPKI PEM': () => rsa.pem,
    'the RSA public key as SPKI PEM without the final newline': () => rsa.pem.trimEnd(),
    'the RSA public key as PKCS#1 PEM': () => rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }),
    'the RSA public key as SPKI DER': () => rsa.publicKey.export({ type: 'spki', format: 'der' }),
    'the RSA modulus bytes': () => Buffer.from(rsa.publicJwk.n, 'base64url'),
  };
  for (const [label, keyOf] of Object.entries(variants)) {
    test(`HS256 keyed with ${label} (kid of the RSA key) -> refused`, async () => {
      await refuse({ header: { alg: 'HS256', kid: rsa.kid }, key: keyOf() }, /alg "HS256" is not accepted/);
    });
  }
  test('HS256 keyed with the RSA PEM, no kid -> refused', async () => {
    await refuse({ header: { alg: 'HS256', kid: OMIT }, key: rsa.pem }, /alg "HS256" is not accepted/);
  });
  for (const alg of ['HS384', 'HS512']) {
    test(`${alg} keyed with the RSA PEM -> refused`, async () => {
      await refuse({ header: { alg, kid: rsa.kid }, key: rsa.pem }, new RegExp(`alg "${alg}" is not accepted`));
    });
  }
  test('HS256 keyed with the EC public key PEM (kid of the EC key) -> refused', async () => {
    await refuse({ header: { alg: 'HS256', kid: ec.kid }, key: ec.pem }, /alg "HS256" is not accepted/);
  });
});

describe('algorithm / key mismatch', () => {
  test('RS256 header naming the EC key\'s kid -> refused', async () => {
    await refuse({ header: { alg: 'RS256', kid: ec.kid }, key: rsa }, /no key in the JWKS fits/);
  });
  test('ES256 header naming the RSA key\'s kid -> refused', async () => {
    await refuse({ header: { alg: 'ES256', kid: rsa.kid }, key: ec }, /no key in the JWKS fits/);
  });
  test('PS256, correctly signed with the RSA key whose JWK says alg RS256 -> refused', async () => {
    await refuse({ header: { alg: 'PS256', kid: rsa.kid }, key: rsa }, /no key in the JWKS fits/);
  });
  test('EdDSA header naming the RSA key\'s kid -> refused', async () => {
    await refuse({ header: { alg: 'EdDSA', kid: rsa.kid }, signAs: 'RS256', key: rsa }, /no key in the JWKS fits/);
  });
});

describe('keys and key URLs carried in the token header are ignored (signed with the attacker\'s key)', () => {
  let x5cDer; // the attacker's self-signed certificate (openssl, made at run time; no openssl: the test fails)
  before(() => {
    x5cDer = selfSignedCert({ privateKey: attackerRsa.privateKey, cn: 'attacker.example' }).certDer;
  });

  test('jwk: the attacker\'s RSA key embedded, no kid -> refused', async () => {
    await refuse({ header: { kid: OMIT, jwk: attackerRsa.publicJwk }, key: attackerRsa }, /signature is invalid/);
  });
  test('jwk: the attacker\'s RSA key embedded with its own kid -> refused (unknown kid)', async () => {
    await refuse({ header: { kid: attackerRsa.kid, jwk: attackerRsa.publicJwk }, key: attackerRsa }, /no key with the token's kid/);
  });
  test('jwk: the attacker\'s RSA key embedded under the real key\'s kid -> refused', async () => {
    await refuse({ header: { kid: rsa.kid, jwk: { ...attackerRsa.publicJwk, kid: rsa.kid } }, key: attackerRsa }, /signature is invalid/);
  });
  test('jwk: the attacker\'s EC key embedded (ES256, real EC kid) -> refused', async () => {
    await refuse({ header: { alg: 'ES256', kid: ec.kid, jwk: attackerEc.publicJwk }, key: attackerEc }, /signature is invalid/);
  });
  test('jku: a URL of the attacker\'s JWKS, the attacker\'s kid -> refused, never fetched', async () => {
    const mark = main.mark();
    await refuse({ header: { kid: attackerRsa.kid, jku: `${main.issuer}/attacker/jwks.json` }, key: attackerRsa }, /no key with the token's kid|signature is invalid/);
    assert.equal(main.count('/attacker/jwks.json', mark), 0);
  });
  test('jku: a URL of the attacker\'s JWKS, the real kid -> refused, never fetched', async () => {
    const mark = main.mark();
    await refuse({ header: { kid: rsa.kid, jku: `${main.issuer}/attacker/jwks.json` }, key: attackerRsa }, /signature is invalid/);
    assert.equal(main.count('/attacker/jwks.json', mark), 0);
  });
  test('x5u: a URL of the attacker\'s certificate -> refused, never fetched', async () => {
    const mark = main.mark();
    await refuse({ header: { kid: OMIT, x5u: `${main.issuer}/attacker/cert.pem` }, key: attackerRsa }, /signature is invalid/);
    assert.equal(main.count('/attacker/cert.pem', mark), 0);
  });
  test('x5c: the attacker\'s self-signed certificate (+ x5t#S256) -> refused', async () => {
    const x5tS256 = b64u(createHash('sha256').update(x5cDer).digest());
    await refuse(
      { header: { kid: OMIT, x5c: [x5cDer.toString('base64')], 'x5t#S256': x5tS256 }, key: attackerRsa },
      /signature is invalid/,
    );
  });
  test('x5c under the real kid -> refused', async () => {
    await refuse({ header: { kid: rsa.kid, x5c: [x5cDer.toString('base64')] }, key: attackerRsa }, /signature is invalid/);
  });
  test('the worker never requested any attacker URL', () => {
    assert.equal(main.count('/attacker/jwks.json'), 0);
    assert.equal(main.count('/attacker/cert.pem'), 0);
  });
});

describe('crit', () => {
  const cases = {
    'crit ["exp"] with an exp header parameter': { crit: ['exp'], exp: 4102444800 },
    'crit naming an unknown extension': { crit: ['urn:example:unknown'], 'urn:example:unknown': true },
    'crit [] (empty list)': { crit: [] },
    'crit as a string': { crit: 'urn:example:unknown' },
    'b64: false with crit ["b64"] (RFC 7797 unencoded payload)': { crit: ['b64'], b64: false },
    'b64: false without crit': { b64: false },
  };
  for (const [label, header] of Object.entries(cases)) {
    test(`${label} -> refused`, async () => {
      await refuse({ header }, /critical/);
    });
  }
});

describe('malformed signatures', () => {
  // P-256 group order n
  const N = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex');
  const es = (signature) => ({ header: { alg: 'ES256', kid: ec.kid }, key: ec, signature });
  const r = (sig) => sig.subarray(0, 32);
  const s = (sig) => sig.subarray(32);
  const Z = Buffer.alloc(32);
  const cases = {
    'ES256 r = 0 and s = 0 (64 zero bytes)': [() => Buffer.alloc(64), /wrong length or encoding|signature is invalid/],
    'ES256 r = 0': [(sig) => Buffer.concat([Z, s(sig)]), /wrong length or encoding|signature is invalid/],
    'ES256 s = 0': [(sig) => Buffer.concat([r(sig), Z]), /wrong length or encoding|signature is invalid/],
    'ES256 r = s = n (the group order)': [() => Buffer.concat([N, N]), /signature is invalid|could not be checked/],
    'ES256 r = n, s valid': [(sig) => Buffer.concat([N, s(sig)]), /signature is invalid|could not be checked/],
    'ES256 r = s = 2^256 - 1 (out of range)': [() => Buffer.alloc(64, 0xff), /signature is invalid|could not be checked/],
    'ES256 r and s swapped': [(sig) => Buffer.concat([s(sig), r(sig)]), /signature is invalid/],
    'ES256 63 bytes (last byte dropped)': [(sig) => sig.subarray(0, 63), /wrong length or encoding/],
    'ES256 65 bytes (a zero appended)': [(sig) => Buffer.concat([sig, Buffer.alloc(1)]), /wrong length or encoding/],
    'ES256 32 bytes (r only)': [(sig) => r(sig), /wrong length or encoding/],
    'ES256 96 bytes (ES384 size)': [(sig) => Buffer.concat([sig, Buffer.alloc(32, 1)]), /wrong length or encoding/],
    'ES256 r and s each left-padded to 33 bytes': [(sig) => Buffer.concat([Buffer.alloc(1), r(sig), Buffer.alloc(1), s(sig)]), /wrong length or encoding/],
  };
  for (const [label, [mangle, reason]] of Object.entries(cases)) {
    test(`${label} -> refused`, async () => {
      await refuse(es(mangle), reason);
    });
  }
  test('ES256 signature DER-encoded (valid signature, ASN.1 instead of raw r||s) -> refused', async () => {
    await refuse({ header: { alg: 'ES256', kid: ec.kid }, key: ec, signAs: 'ES256-DER' }, /wrong length or encoding|signature is invalid/);
  });

  const rs = (signature) => ({ header: { alg: 'RS256', kid: rsa.kid }, key: rsa, signature });
  const n = () => Buffer.from(rsa.publicJwk.n, 'base64url');
  const rsaCases = {
    'RS256 signature one byte short': [(sig) => sig.subarray(1), /wrong length or encoding/],
    'RS256 signature with a leading zero byte (257 bytes)': [(sig) => Buffer.concat([Buffer.alloc(1), sig]), /wrong length or encoding/],
    'RS256 signature all zero': [(sig) => Buffer.alloc(sig.length), /signature is invalid|could not be checked/],
    'RS256 signature equal to the modulus (out of range)': [() => n(), /signature is invalid|could not be checked/],
    'RS256 signature 0xFF..FF (greater than the modulus)': [(sig) => Buffer.alloc(sig.length, 0xff), /signature is invalid|could not be checked/],
    'RS256 signature of another message': [() => rawSign('RS256', rsa, 'another message'), /signature is invalid/],
  };
  for (const [label, [mangle, reason]] of Object.entries(rsaCases)) {
    test(`${label} -> refused`, async () => {
      await refuse(rs(mangle), reason);
    });
  }
});

describe('malformed compact serialisation', () => {
  const signed = (ctx, header = ctx.header, claims = ctx.claims) => compactJws(header, claims, { alg: 'RS256', key: rsa });
  const parts = (t) => t.split('.');
  const cases = {
    'two segments (signature dropped)': (ctx) => parts(signed(ctx)).slice(0, 2).join('.'),
    'one segment': (ctx) => parts(signed(ctx))[0],
    'four segments': (ctx) => `${signed(ctx)}.${parts(signed(ctx))[2]}`,
    'five segments (JWE compact form)': (ctx) => {
      const h = b64u(JSON.stringify({ alg: 'RSA-OAEP', enc: 'A256GCM', kid: rsa.kid }));
      return [h, b64u('k'.repeat(256)), b64u('iv-iv-iv-iv-'), b64u(JSON.stringify(ctx.claims)), b64u('tag-tag-tag-tag-')].join('.');
    },
    'a JWS whose header carries "enc" (JWE header in three segments)': (ctx) => signed(ctx, { ...ctx.header, enc: 'A256GCM' }),
    'empty header segment': (ctx) => `.${parts(signed(ctx)).slice(1).join('.')}`,
    'empty payload segment': (ctx) => {
      const [h] = parts(signed(ctx));
      return `${h}..${b64u(rawSign('RS256', rsa, `${h}.`))}`;
    },
    'header segment with "=" padding (signature over the padded input)': (ctx) => {
      let header = { ...ctx.header };
      for (let i = 0; b64u(JSON.stringify(header)).length % 4 === 0; i++) header = { ...ctx.header, x: 'p'.repeat(i + 1) };
      const h = `${b64u(JSON.stringify(header))}${'='.repeat(4 - (b64u(JSON.stringify(header)).length % 4))}`;
      const input = `${h}.${b64u(JSON.stringify(ctx.claims))}`;
      return `${input}.${b64u(rawSign('RS256', rsa, input))}`;
    },
    'signature segment with "=" padding': (ctx) => `${signed(ctx)}==`,
    'standard base64 alphabet ("+" and "/") in the signature': (ctx) => {
      for (let i = 0; i < 64; i++) {
        const t = signed(ctx, ctx.header, { ...ctx.claims, jti: `j${i}` });
        const [h, p, s] = parts(t);
        if (/[-_]/.test(s)) return `${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}`;
      }
      throw new Error('no signature with - or _ in 64 tries');
    },
    'standard base64 alphabet in the payload (signature over that input)': (ctx) => {
      for (let i = 0; i < 256; i++) {
        const claims = { ...ctx.claims, name: `Alice ~~~?>>>${i}` };
        const pStd = Buffer.from(JSON.stringify(claims)).toString('base64').replace(/=+$/, '');
        if (!/[+/]/.test(pStd)) continue;
        const input = `${b64u(JSON.stringify(ctx.header))}.${pStd}`;
        return `${input}.${b64u(rawSign('RS256', rsa, input))}`;
      }
      throw new Error('no payload with + or /');
    },
    'a leading space': (ctx) => ` ${signed(ctx)}`,
    'a trailing newline': (ctx) => `${signed(ctx)}\n`,
    'a line break inside the signature': (ctx) => {
      const t = signed(ctx);
      return `${t.slice(0, -40)}\n${t.slice(-40)}`;
    },
    'header that is not JSON (signed)': (ctx) => compactJws('not json', ctx.claims, { alg: 'RS256', key: rsa }),
    'header that is a JSON array (signed)': (ctx) => compactJws('["RS256"]', ctx.claims, { alg: 'RS256', key: rsa }),
    'payload that is a JSON array (signed)': (ctx) => compactJws(ctx.header, '[1,2]', { alg: 'RS256', key: rsa }),
    'payload that is a JSON array of the claims in declaration order (signed)': (ctx) => {
      const c = ctx.claims;
      const positional = [c.iss, c.sub, c.aud, c.exp, c.iat, null, c.nonce, null, null, null, c.email, true, c.name];
      return compactJws(ctx.header, JSON.stringify(positional), { alg: 'RS256', key: rsa });
    },
    'payload that is not UTF-8 (signed)': (ctx) => {
      const input = `${b64u(JSON.stringify(ctx.header))}.${b64u(Buffer.from([0xff, 0xfe, 0x7b, 0x7d]))}`;
      return `${input}.${b64u(rawSign('RS256', rsa, input))}`;
    },
  };
  for (const [label, build] of Object.entries(cases)) {
    test(`${label} -> refused`, async () => {
      await refuse(custom(build), /compact JWS|header is not valid JSON|JWE|claims are malformed|signature is invalid|not accepted/);
    });
  }
  test('typ "at+jwt" (an access token presented as an ID token) -> refused', async () => {
    await refuse({ header: { typ: 'at+jwt' } }, /unexpected typ/);
  });
  test('typ "logout+jwt" (a logout token presented as an ID token) -> refused', async () => {
    await refuse({ header: { typ: 'logout+jwt' } }, /unexpected typ/);
  });
  test('typ "application/jwt" is fine (control)', async () => {
    await expectAccepted(stack, { connector: 'main', spec: { header: { typ: 'application/jwt' } } });
  });
});

describe('duplicate JSON members (valid signature over them)', () => {
  // Raw JSON texts: a parser keeping the first or the last member would read different tokens.
  const headerCases = {
    'alg twice ("RS256" then "none")': (h) => `{"alg":"RS256","kid":${JSON.stringify(h.kid)},"typ":"JWT","alg":"none"}`,
    'alg twice ("none" then "RS256")': (h) => `{"alg":"none","kid":${JSON.stringify(h.kid)},"typ":"JWT","alg":"RS256"}`,
    'kid twice': (h) => `{"alg":"RS256","kid":"attacker","kid":${JSON.stringify(h.kid)}}`,
    'crit twice': (h) => `{"alg":"RS256","kid":${JSON.stringify(h.kid)},"crit":["x"],"crit":null}`,
  };
  for (const [label, text] of Object.entries(headerCases)) {
    test(`header: ${label} -> refused`, async () => {
      await refuse((ctx) => ({ rawHeader: text(ctx.header), signAs: 'RS256', key: rsa }), /duplicate field|header is not valid JSON|critical/);
    });
  }
  const dup = (claims, name, first, second) => {
    const rest = { ...claims };
    delete rest[name];
    const body = JSON.stringify(rest).slice(1, -1);
    return `{${JSON.stringify(name)}:${JSON.stringify(first)},${body},${JSON.stringify(name)}:${JSON.stringify(second)}}`;
  };
  const claimCases = {
    sub: (c) => dup(c, 'sub', 'admin', c.sub),
    'aud (another client, then ours)': (c) => dup(c, 'aud', 'another-client', c.aud),
    iss: (c) => dup(c, 'iss', 'https://issuer.evil.example', c.iss),
    nonce: (c) => dup(c, 'nonce', 'attacker-nonce', c.nonce),
    'email (a partner domain, then ours)': (c) => dup(c, 'email', 'alice@partner.example', c.email),
    'email_verified (false, then true)': (c) => dup(c, 'email_verified', false, true),
    'exp (expired, then valid)': (c) => dup(c, 'exp', c.exp - 3600, c.exp),
  };
  for (const [label, text] of Object.entries(claimCases)) {
    test(`claims: ${label} twice -> refused`, async () => {
      await refuse((ctx) => ({ rawClaims: text(ctx.claims) }), /duplicate field/);
    });
  }
});

describe('oversized tokens and key sets', () => {
  test('a correctly signed ID token larger than 16 KiB -> refused', async () => {
    await refuse(
      (ctx) => ({ claims: { ...ctx.claims, padding: 'x'.repeat(12 * 1024) } }),
      /larger than 16384 bytes/,
    );
  });
  test('a correctly signed ID token just under 16 KiB is accepted (control)', async () => {
    await expectAccepted(stack, {
      connector: 'main',
      spec: (ctx) => {
        let n = 11000;
        const build = () => ({ ...ctx.claims, padding: 'x'.repeat(n) });
        while (compactJws(ctx.header, build(), { key: rsa }).length < 16 * 1024 - 200) n += 100;
        return { claims: build() };
      },
      check: ({ tokenRequests }) => {
        const len = tokenRequests[0].idToken.length;
        assert.ok(len > 15 * 1024 && len <= 16 * 1024, String(len));
      },
    });
  });

  const bigCases = {
    big300: ['a JWKS of 300 KiB (over the 256 KiB limit)', /larger than 262144 bytes/],
    big600: ['a JWKS of 600 KiB (over the 512 KiB response limit)', /larger than 524288 bytes/],
    many: ['a JWKS of 101 keys (over the 100-key limit)', /more than 100 keys/],
  };
  for (const [id, [label, reason]] of Object.entries(bigCases)) {
    test(`${label} -> 502 idp_unreachable, and nothing cached: a normal JWKS afterwards works`, async () => {
      await expectRefused(stack, { connector: id, code: 'idp_unreachable', status: 502, reason, recover: false });
      stack.ops[id].setJwks(null);
      await expectAccepted(stack, { connector: id });
    });
  }
});

describe('weak RSA keys in the JWKS', () => {
  test('token signed with a 1024-bit key named by its kid -> refused (the key is skipped)', async () => {
    const op = stack.ops.weak;
    const weak = op.keys.find((k) => k.kid === 'weak-1024');
    assert.equal(weak.bits, 1024);
    assert.ok(op.publishedJwks().keys.some((k) => k.kid === 'weak-1024'), 'the weak key is published');
    await expectRefused(stack, { connector: 'weak', spec: { key: weak, header: { kid: 'weak-1024' } }, code: 'id_token_invalid', status: 400, reason: /no key with the token's kid/ });
  });
  test('token signed with the 1024-bit key, no kid (the 2048-bit key is the only suitable one) -> refused', async () => {
    const weak = stack.ops.weak.keys.find((k) => k.kid === 'weak-1024');
    await expectRefused(stack, { connector: 'weak', spec: { key: weak, header: { kid: OMIT } }, code: 'id_token_invalid', status: 400, reason: /signature is invalid|wrong length or encoding/ });
  });
  test('a JWKS with only a 1024-bit key: no kid -> refused; a 2048-bit key published later verifies', async () => {
    const op = stack.ops.weakonly;
    await expectRefused(stack, { connector: 'weakonly', spec: { header: { kid: OMIT } }, code: 'id_token_invalid', status: 400, reason: /no key in the JWKS fits/, recover: false });
    const strong = await op.addKey({ alg: 'RS256', kid: 'strong-later' });
    await expectAccepted(stack, { connector: 'weakonly', spec: { key: strong, header: { kid: strong.kid } } });
  });
});

describe('the hostile provider itself', () => {
  test('its raw signer produces tokens that jose verifies (RS256, PS256, ES256, EdDSA)', async () => {
    for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA']) {
      const k = await generateKey({ alg });
      const token = compactJws({ alg, kid: k.kid }, { sub: 'x', iat: 1 }, { key: k });
      const { payload, protectedHeader } = await jose.compactVerify(token, k.publicKey);
      assert.equal(protectedHeader.alg, alg);
      assert.equal(JSON.parse(Buffer.from(payload).toString()).sub, 'x');
    }
  });
});
