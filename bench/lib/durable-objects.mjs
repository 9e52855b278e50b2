// The Durable Object round trips, in edge-auth's own workerd process, through bench/workers/do-probe.mjs (a
// second worker of that process bound to the same ReplayGuard and RevocationLog namespaces and storage):
//   claim     a ReplayGuard claim of a fresh id: what each sign-in callback adds before its code exchange
//   since     RevocationLog.since(cursor) with an up-to-date cursor, on a log holding `logEntries` entries:
//             the background poll every isolate makes every 10 s
//   read_all  the whole log read from cursor 0, page after page (1,000 entries a page): what a fresh
//             isolate's first request waits for
// For each:
//   - latency per call from the client: one call per request to the probe, interleaved with requests that
//     make no call (`GET /`), over one keep-alive connection; p50/p99 of both, and the call's share as the
//     difference of the medians (workerd's own clock moves in whole milliseconds: too coarse for one call);
//   - CPU per call: (utime + stime) of the workerd process from /proc over one request that makes `batch` calls
//     in a row, / batch (it includes the probe's loop and the object's side: serialization, SQLite, storage);
//   - the mean per call on workerd's clock over those `n` calls (total_ms / n).
import http from 'node:http';

import { median, percentile, round } from './stats.mjs';
import { cpuSeconds } from './workerd.mjs';

/**
 * GET over `agent`'s keep-alive connection, or a connection of its own when `agent` is false (the long
 * requests: workerd resets a kept-alive connection after a request of several seconds); resolves {ms, status, body}.
 */
function timedGet(agent, url) {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const req = http.request(url, { method: 'GET', agent, timeout: 120_000 }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - t) / 1e6, status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: GET ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

async function probeJson(agent, url) {
  const r = await timedGet(agent, url);
  if (r.status !== 200) throw new Error(`do-probe ${url}: ${r.status} ${r.body.slice(0, 500)}`);
  return { ...r, json: JSON.parse(r.body) };
}

/**
 * One operation: `samples` single-call requests interleaved with as many baseline requests (latency), then
 * one request of `batch` calls (CPU and workerd's mean).
 */
async function measure({ agent, base, pid, clkTck, route, samples, batch }) {
  const withCall = [];
  const baseline = [];
  for (let i = 0; i < samples; i++) {
    const b = await timedGet(agent, `${base}/`);
    if (b.status !== 200) throw new Error(`do-probe /: ${b.status}`);
    baseline.push(b.ms);
    withCall.push((await probeJson(agent, `${base}${route(1)}`)).ms);
  }
  const c0 = cpuSeconds(pid, clkTck);
  const r = await probeJson(false, `${base}${route(batch)}`);
  const cpu = cpuSeconds(pid, clkTck) - c0;
  const { samples_ms: inWorker, total_ms: totalMs, ...rest } = r.json;
  return {
    samples,
    request_p50_ms: round(median(withCall), 3),
    request_p99_ms: round(percentile(withCall, 99), 3),
    baseline_p50_ms: round(median(baseline), 3),
    baseline_p99_ms: round(percentile(baseline, 99), 3),
    // what the call adds to a request (the difference of the medians)
    added_p50_ms: round(median(withCall) - median(baseline), 3),
    added_p99_ms: round(percentile(withCall, 99) - percentile(baseline, 99), 3),
    batch_calls: batch,
    cpu_us_per_call: round((cpu / batch) * 1e6),
    cpu_s: round(cpu, 2), // in clock ticks of 1/clkTck s: the resolution of the figure above
    clk_tck: clkTck,
    workerd_clock_mean_ms: round(totalMs / batch, 3),
    workerd_clock_p50_ms: median(inWorker),
    workerd_clock_p99_ms: percentile(inWorker, 99),
    ...rest,
  };
}

/**
 * @param {object} o
 * @param {string} o.base      http://127.0.0.1:<probe port>
 * @param {number} o.pid       edge-auth's workerd
 * @param {number} o.clkTck
 * @param {number} o.calls     single-call samples (and the batch size) for claim and since
 * @param {number} o.reads     whole reads of the log (samples, and the batch)
 * @param {number} o.logEntries entries written to the log before since/read_all
 */
export async function benchDurableObjects({ base, pid, clkTck, calls, reads, logEntries }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    // warm-up: every ReplayGuard object started (the callbacks before this already used them), code compiled
    await probeJson(false, `${base}/claim?n=200`);
    const claim = await measure({ agent, base, pid, clkTck, route: (n) => `/claim?n=${n}`, samples: calls, batch: calls });

    const fill = (await probeJson(false, `${base}/fill?n=${logEntries}`)).json;
    if (fill.answers.written !== logEntries || fill.stats.rows !== logEntries) {
      throw new Error(`the revocation log should hold ${logEntries} entries: ${JSON.stringify(fill)}`);
    }
    const cursor = fill.stats.lastSeq;
    await probeJson(false, `${base}/since?n=200&cursor=${cursor}`);
    // a since call costs a fraction of a claim: five times the batch, so that it spans enough clock ticks of /proc
    const since = await measure({ agent, base, pid, clkTck, route: (n) => `/since?n=${n}&cursor=${cursor}`, samples: calls, batch: 5 * calls });
    await probeJson(false, `${base}/read-all?n=2`);
    const readAll = await measure({ agent, base, pid, clkTck, route: (n) => `/read-all?n=${n}`, samples: reads, batch: reads });
    if (readAll.last_seq !== cursor) throw new Error(`a whole read ended at ${readAll.last_seq}, not ${cursor}`);
    return { log_entries: logEntries, claim, since, read_all: readAll };
  } finally {
    agent.destroy();
  }
}
