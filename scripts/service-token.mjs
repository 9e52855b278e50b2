#!/usr/bin/env node
// A new service token for a machine client (docs/machine-clients.md):
//
//   node scripts/service-token.mjs ci-deploy [--expires 2027-06-30T00:00:00Z]
//
// prints the client id and the secret ONCE (give them to the client: Edge-Auth-Client-Id and
// Edge-Auth-Client-Secret), and the AUTH_CONFIG entry, which holds only the secret's SHA-256. The secret is 32
// random bytes in base64url (43 characters); edge-auth never stores it.
import { createHash, randomBytes } from 'node:crypto';

const args = process.argv.slice(2);
const id = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--expires');
const expiresAt = args.indexOf('--expires');
const expires = expiresAt >= 0 ? args[expiresAt + 1] : undefined;
if (!id || !/^[a-z0-9_-]{1,64}$/.test(id)) {
  console.error('usage: node scripts/service-token.mjs ID [--expires YYYY-MM-DDTHH:MM:SSZ]   (ID: 1-64 of a-z 0-9 - _)');
  process.exit(2);
}
if (expires !== undefined && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(expires)) {
  console.error('--expires must be a UTC time written YYYY-MM-DDTHH:MM:SSZ, e.g. 2027-06-30T00:00:00Z');
  process.exit(2);
}
const secret = randomBytes(32).toString('base64url');
const entry = { id, secret_sha256: createHash('sha256').update(secret).digest('hex') };
if (expires) entry.expires = expires;
process.stdout.write(
  `client id:     ${id}\n` +
    `client secret: ${secret}\n` +
    '(shown once: store it in the client\'s secret store now; AUTH_CONFIG holds only its hash)\n\n' +
    `"service_tokens" entry for AUTH_CONFIG:\n${JSON.stringify(entry)}\n`,
);
