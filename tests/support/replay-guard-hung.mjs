// The built worker with a ReplayGuard Durable Object that never answers (an overloaded or stuck object): for
// the fail-closed tests (tests/e2e/resilience/replay-guard.test.mjs). Run with modulesRoot at the repository root.
import { DurableObject } from 'cloudflare:workers';

export { default, RevocationLog } from '../../build/index.js';

export class ReplayGuard extends DurableObject {
  claim() {
    return new Promise(() => {});
  }
}
