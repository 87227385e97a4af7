import type { Context, Next } from 'koa';
import type { Authenticator } from './authenticator.js';
import type { Identity } from './identity.js';

/**
 * Whether a request needs credentials once auth is on: every ingest (any POST/PUT: Falco posts to
 * any path, /test included) and everything under /api/. GETs of probes and /metrics stay open.
 */
export function needsAuth(method: string, path: string): boolean {
  if (path === '/api' || path.startsWith('/api/')) return true;
  if (method === 'GET' || method === 'HEAD') return false;
  return method === 'POST' || method === 'PUT';
}

/**
 * Koa middleware: a request that needs credentials and has none valid gets 401 before its body
 * is read, with no detail (which token, which part was wrong). The identity is left in
 * `ctx.state.identity` for the ingest handler (namespace claims, tenant stamp, rate limit).
 */
export function authMiddleware(auth: Authenticator) {
  return async (ctx: Context, next: Next): Promise<void> => {
    if (!auth.enabled || !needsAuth(ctx.method, ctx.path)) return next();
    const identity = auth.identify(ctx.req);
    if (typeof identity === 'string') {
      auth.refused(undefined, identity);
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Basic realm="falconet", Bearer realm="falconet"');
      ctx.body = { error: 'unauthorized' };
      // The body is not read: close so a large unread upload does not linger on the socket.
      ctx.set('Connection', 'close');
      return;
    }
    (ctx.state as { identity?: Identity }).identity = identity;
    return next();
  };
}

export function requestIdentity(ctx: Context): Identity | undefined {
  return (ctx.state as { identity?: Identity }).identity;
}
