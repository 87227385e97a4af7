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
/** Web UI sessions (src/ui/sessions.ts): a session cookie stands for an identity on /api paths. */
export interface SessionAuth {
  /** The session the request's cookie names, with the CSRF token its mutating requests must send. */
  lookup(ctx: Context): Promise<{ identity: Identity; csrf: string } | undefined>;
  /** Answered without credentials: the login itself. */
  open(method: string, path: string): boolean;
  csrfHeader: string;
}

export function authMiddleware(auth: Authenticator, sessions?: SessionAuth) {
  return async (ctx: Context, next: Next): Promise<void> => {
    if (!needsAuth(ctx.method, ctx.path)) return next();
    const api = ctx.path === '/api' || ctx.path.startsWith('/api/');
    if (api && sessions) {
      if (sessions.open(ctx.method, ctx.path)) return next();
      const session = await sessions.lookup(ctx);
      if (session) {
        // The cookie goes with every request the browser makes, also one a foreign page triggers:
        // a change needs the CSRF token too, which only the page that logged in holds.
        if (ctx.method !== 'GET' && ctx.method !== 'HEAD' && ctx.get(sessions.csrfHeader) !== session.csrf) {
          ctx.status = 403;
          ctx.body = { error: 'csrf', detail: `a change made with a session cookie needs the ${sessions.csrfHeader} header given at login` };
          return;
        }
        (ctx.state as { identity?: Identity }).identity = session.identity;
        return next();
      }
    }
    if (!auth.enabled && !(api && sessions)) return next();
    const identity = auth.identify(ctx.req);
    if (typeof identity === 'string') {
      auth.refused(undefined, identity);
      ctx.status = 401;
      // No Basic challenge on the API: a browser would open its password dialog over the page at /ui/.
      const api = ctx.path === '/api' || ctx.path.startsWith('/api/');
      ctx.set('WWW-Authenticate', api ? 'Bearer realm="falconet"' : 'Basic realm="falconet", Bearer realm="falconet"');
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
