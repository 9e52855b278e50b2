// An HTTP server listening on `host:port` (0: any free port) that keeps track of its open sockets, so that
// `close` can end keep-alive connections at once. Shared by the dev IdP (dev/idp.mjs) and the tests' fake IdPs
// (tests/support/fake-idp/).
import http from 'node:http';

/** @returns {Promise<{ server: http.Server, sockets: Set<import('node:net').Socket>, port: number }>} */
export async function listenTracked(port, host) {
  const server = http.createServer();
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, sockets, port: server.address().port };
}
