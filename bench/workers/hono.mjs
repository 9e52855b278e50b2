// (3) The peer: hono 4 + @hono/oidc-auth 1.x in front of the same static-asset service. Configured through
// env (OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_AUTH_SECRET, ...) as its README shows.
import { oidcAuthMiddleware } from '@hono/oidc-auth';
import { Hono } from 'hono';

const app = new Hono();
app.use('*', oidcAuthMiddleware());
// The middleware sets Cache-Control on the response after next(), and a Response from fetch() has
// immutable headers in workerd, so the asset response is re-wrapped (the body streams through, not copied).
app.all('*', async (c) => {
  const asset = await c.env.ASSETS.fetch(c.req.raw);
  return new Response(asset.body, asset);
});

export default app;
