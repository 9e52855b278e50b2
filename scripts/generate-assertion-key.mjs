#!/usr/bin/env node
// Prints a fresh signing key for the assertions edge-auth sends to an origin (origin mode): an EC P-256
// private key as a JWK (kty, crv, x, y, d) on one line, the value of the Worker secret ASSERTION_SIGNING_KEY.
//
//   node scripts/generate-assertion-key.mjs | bash scripts/wrangler.sh secret put ASSERTION_SIGNING_KEY
//
// The origin verifies the assertions (header X-Edge-Auth-Assertion) with the public half, published by the
// worker at /auth/jwks.json. Keep the output secret; it is printed to stdout only.
import { generateKeyPairSync } from 'node:crypto';

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const { kty, crv, x, y, d } = privateKey.export({ format: 'jwk' });
process.stdout.write(`${JSON.stringify({ kty, crv, x, y, d })}\n`);
