// One HTTP request as a machine client or a browser's CORS machinery sends it: any method, the request target
// exactly as spelled, headers given as an object whose array values are sent as repeated header lines (two
// `Edge-Auth-Client-Secret` lines, say), and optionally the cookies of a signed-in Browserless.
import http from 'node:http';

/**
 * @returns {Promise<{status: number, headers: object, body: string, errorCode?: string, json(): any, describe(): string}>}
 */
export function send(site, { method = 'GET', target = '/', headers = {}, browser } = {}) {
  const u = new URL(site);
  const h = { 'user-agent': 'edge-auth-tests/machine', ...headers };
  if (browser) {
    const pairs = browser.cookiesFor(`${u.origin}/`).map((c) => `${c.name}=${c.value}`);
    if (pairs.length) h.cookie = pairs.join('; ');
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: target, method, headers: h, agent: false, timeout: 15000 },
      (res) => {
        const chunks = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode,
            headers: res.headers,
            body,
            errorCode: res.headers['x-edge-auth-error'],
            json: () => JSON.parse(body),
            describe: () => `${method} ${target} -> ${res.statusCode} ${JSON.stringify(res.headers)}\n  ${body.slice(0, 300)}`,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${target}`)));
    req.on('error', reject);
    req.end();
  });
}
