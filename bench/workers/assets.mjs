// The static-asset service shared by all three workers (each worker's ASSETS binding): www/ held in
// memory, served the way Workers static assets answer (content-type, ETag, If-None-Match -> 304,
// "/" -> /index.html, "/x" -> /x.html, Cache-Control "public, max-age=0, must-revalidate").
// bench/run.mjs writes the file table into the module `assets-manifest.js` next to this one.
import files from './assets-manifest.js';

const encoder = new TextEncoder();
const table = new Map(
  Object.entries(files).map(([path, f]) => [path, { body: encoder.encode(f.text), type: f.type, etag: `"${f.etag}"` }]),
);

function lookup(pathname) {
  if (table.has(pathname)) return table.get(pathname);
  if (pathname.endsWith('/') && table.has(`${pathname}index.html`)) return table.get(`${pathname}index.html`);
  if (table.has(`${pathname}.html`)) return table.get(`${pathname}.html`);
  return undefined;
}

export default {
  fetch(request) {
    if (request.method !== 'GET' && request.method !== 'HEAD') return new Response(null, { status: 405 });
    const file = lookup(new URL(request.url).pathname);
    if (!file) return new Response('Not Found', { status: 404 });
    const headers = { 'content-type': file.type, etag: file.etag, 'cache-control': 'public, max-age=0, must-revalidate' };
    if (request.headers.get('if-none-match') === file.etag) return new Response(null, { status: 304, headers });
    return new Response(request.method === 'HEAD' ? null : file.body, { headers });
  },
};
