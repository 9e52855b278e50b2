// The built worker with a ReplayGuard Durable Object that cannot answer (every claim throws, as a storage
// failure or an overloaded object does): for the fail-closed tests (tests/e2e/resilience/replay-guard.test.mjs).
// Run with modulesRoot at the repository root (it imports build/index.js).
import { DurableObject } from 'cloudflare:workers';

export { default, RevocationLog } from '../../build/index.js';

export class ReplayGuard extends DurableObject {
  async claim() {
    throw new Error('storage unavailable (test double)');
  }
}
