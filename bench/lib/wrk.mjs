// wrk (Debian's) as the load generator. A Lua `done` hook prints the summary as JSON (no per-request Lua,
// which would slow wrk itself down).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pinned } from './pin.mjs';

const DONE_LUA = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors_connect":%d,"errors_read":%d,' ..
    '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"mean_us":%.1f,"max_us":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
`;

export function writeLua(dir) {
  const file = path.join(dir, 'summary.lua');
  writeFileSync(file, DONE_LUA);
  return file;
}

/**
 * Run wrk; `onStart`/`onEnd` run right before spawning and right after exit (CPU sampling).
 * @returns {Promise<object>} the parsed summary
 */
export function runWrk({ url, seconds, threads, connections, headers = {}, lua, onStart, onEnd }) {
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '-s', lua];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    onStart?.();
    const [command, argv] = pinned(1, 'wrk', args);
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const ended = onEnd?.();
      const line = out.split('\n').find((l) => l.startsWith('WRKJSON '));
      if (code !== 0 || !line) return reject(new Error(`wrk exited ${code}: ${err || out}`));
      resolve({ ...JSON.parse(line.slice(8)), ended });
    });
  });
}
