// edge-auth's Worker entry point. scripts/build.sh copies it to build/index.js next to worker-build's
// output (build/edge_auth_worker.mjs + index_bg.wasm).
//
// The hot path — a request for static content with a valid session, nothing to renew — costs one
// synchronous call into wasm (the cookie's HMAC and the policy check, in Rust) and then goes straight to
// the static assets, without the workers-rs request/response wrapping. Every other request, including the
// first one of each isolate (which loads the configuration), is handled by the Rust worker, which decides
// again from scratch: the fast path can only say "yes, this one is simple".
import RustWorker from "./edge_auth_worker.mjs";
// The Durable Object classes, exported for the runtime: the single-use store (wrangler.toml: REPLAY_GUARD) and
// the revocation log (REVOCATION_LOG).
export { ReplayGuard } from "./replay_guard.mjs";
export { RevocationLog } from "./revocation_log.mjs";

// worker-build attaches #[wasm_bindgen] functions to the entrypoint class's prototype.
const fastGate = RustWorker.prototype.edge_auth_fast_gate;

// A request a CORS rule or a service token may decide: the full handler answers preflights, adds the
// Access-Control-* headers and checks tokens (a token request must never be waved through on a cookie).
function machineHeaders(headers) {
  return headers.has("origin") || headers.has("edge-auth-client-id") || headers.has("edge-auth-client-secret");
}

// A fresh isolate reads the whole revocation log before admitting anyone (src/core/session/revocation_state.rs).
// Its first request starts that read here, before the wasm handler runs, and hands the call to that request's
// handler (a property of the request object, read once by src/platform/mod.rs `handle`): the round trip to the
// object — a network hop in production, where the object lives in one location — then overlaps the handler's
// start (V8 compiling the code it runs on first call) instead of following it. The runtime sends the call only
// when the isolate yields, so the handler starts one turn of the event loop later; requests that arrive in that
// turn wait a turn of their own, so the first request's handler starts first and makes the one read everybody
// waits for. Another request never sees the call.
const PREFETCHED_SINCE = "__edgeAuthPrefetchedSince";
let starting = true;
let prefetched = false;

function startingRequest(request, env, ctx) {
  const log = env.REVOCATION_LOG;
  if (!prefetched) {
    prefetched = true;
    let call = null;
    if (log && typeof log.idFromName === "function") {
      try {
        call = Promise.resolve(log.get(log.idFromName("revocations")).since(0));
        call.catch(() => {}); // the handler reads the outcome; unread (no reload after all), it is dropped
        request[PREFETCHED_SINCE] = call;
      } catch {
        call = null; // the handler makes its own call and reports what fails
      }
    }
    if (!call) {
      starting = false;
      return new RustWorker(ctx, env).fetch(request);
    }
  }
  return new Promise((resolve) => setTimeout(resolve, 0)).then(() => {
    starting = false;
    return new RustWorker(ctx, env).fetch(request);
  });
}

export default {
  // Not `async`: both branches already return a promise, and an async wrapper would add a promise and
  // its microtask turns to every request.
  fetch(request, env, ctx) {
    if (starting) return startingRequest(request, env, ctx);
    // 1: the assets; 2: the assets unless CORS or a service token may decide (only with `cors` or
    // `service_tokens` configured); 0: the full handler.
    const fast = fastGate(request.url, request.headers.get("cookie") ?? "");
    if (fast === 1 || (fast === 2 && !machineHeaders(request.headers))) {
      return env.ASSETS.fetch(request);
    }
    return new RustWorker(ctx, env).fetch(request);
  },
};
