import type { Context } from 'koa';
import { readBody } from '../collector/body.js';
import type { SessionAuth } from '../auth/middleware.js';
import { requestIdentity } from '../auth/middleware.js';
import { hashPassword, verifyPassword } from './passwords.js';
import { CSRF_HEADER, SESSION_COOKIE, cookieValue, type SessionStore, type UiUser } from './sessions.js';

const PATH = '/api/session';
const MAX_LOGIN_BYTES = 4096;
// Unknown names are checked against this, so a login takes as long whether the name exists or not.
const decoy = hashPassword('falconet-decoy-password');

/** The middleware's view of the sessions: the cookie looked up; the login open to all. */
export function sessionAuth(sessions: SessionStore): SessionAuth {
  return {
    csrfHeader: CSRF_HEADER,
    open: (method, path) => path === PATH && method === 'POST',
    async lookup(ctx) {
      const token = cookieValue(ctx.get('cookie'), SESSION_COOKIE);
      return token ? sessions.lookup(token) : undefined;
    },
  };
}

/**
 *   POST   /api/session {name, password} → sets the session cookie; {name, tenant, csrf}
 *   GET    /api/session                  → who the request is ({name, kind, tenant} or {open: true})
 *   DELETE /api/session                  → logs out (with the CSRF header)
 */
export function createSessionRoutes(users: readonly UiUser[], sessions: SessionStore | undefined, open: boolean) {
  const byName = new Map(users.map((u) => [u.name, u]));
  return async (ctx: Context): Promise<boolean> => {
    if (ctx.path !== PATH) return false;
    if (ctx.method === 'GET') {
      const who = requestIdentity(ctx);
      ctx.body = who ? { name: who.name, kind: who.kind, tenant: who.tenant } : { open };
      return true;
    }
    if (!sessions) {
      ctx.status = 404;
      ctx.body = { error: 'no_users', detail: 'no ui.users are configured: use an API token (Authorization: Bearer)' };
      return true;
    }
    if (ctx.method === 'DELETE') {
      const token = cookieValue(ctx.get('cookie'), SESSION_COOKIE);
      if (token) await sessions.destroy(token);
      ctx.set('Set-Cookie', cookie('', ctx.secure, 0));
      ctx.body = { loggedOut: true };
      return true;
    }
    if (ctx.method !== 'POST') return false;
    let body: { name?: unknown; password?: unknown };
    try {
      body = JSON.parse(await readBody(ctx.req, MAX_LOGIN_BYTES)) as typeof body;
    } catch {
      ctx.status = 400;
      ctx.body = { error: 'bad_request', detail: 'the body must be JSON {"name": "...", "password": "..."}' };
      return true;
    }
    const user = typeof body?.name === 'string' ? byName.get(body.name) : undefined;
    const password = typeof body?.password === 'string' ? body.password : '';
    const ok = await verifyPassword(user?.passwordHash ?? (await decoy), password);
    if (!user || !ok) {
      ctx.status = 401;
      ctx.body = { error: 'invalid_login' };
      return true;
    }
    const { token, csrf } = await sessions.create(user);
    ctx.set('Set-Cookie', cookie(token, ctx.secure, 12 * 3600));
    ctx.body = { name: user.name, tenant: user.tenant, csrf };
    return true;
  };
}

function cookie(value: string, secure: boolean, maxAge: number): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;
}

/** With no users and no tokens the UI has no way to tell who asks: it answers loopback only. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
