// A GET with the request target sent exactly as given (no URL parsing on the client: `//admin`,
// `/public/..;/admin`, `/%61dmin`, `/admin%2Fx` reach the worker as spelled), with a Browserless's cookies.
//
//   const r = await rawGet(site, '//admin', { browser: b });   // { status, headers, body, errorCode, json() }
import http from 'node:http';

/**
 * @param {string} site the worker's origin (http://127.0.0.1:PORT)
 * @param {string} target the request target, sent as is
 * @param {object} [opts]
 * @param {import('./harness.mjs').Browserless} [opts.browser] send its cookies for `site`
 * @param {object} [opts.headers]
 * @returns {Promise<{status: number, headers: object, body: string, errorCode: string|undefined, json(): any}>}
 */
export function rawGet(site, target, { browser, headers = {} } = {}) {
  const u = new URL(site);
  const h = { accept: 'application/json', 'user-agent': 'edge-auth-tests/raw', ...headers };
  if (browser) {
    const pairs = browser.cookiesFor(`${u.origin}/`).map((c) => `${c.name}=${c.value}`);
    if (pairs.length) h.cookie = pairs.join('; ');
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: target, method: 'GET', headers: h, agent: false, timeout: 15000 },
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
            describe: () => `GET ${target} -> ${res.statusCode} ${JSON.stringify(res.headers)}\n  ${body.slice(0, 300)}`,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: GET ${target}`)));
    req.on('error', reject);
    req.end();
  });
}
