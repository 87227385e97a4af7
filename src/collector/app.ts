import Koa, { type Context } from 'koa';
import type { Logger } from 'pino';
import { parsePriority } from '../alert/priority.js';
import type { Metrics } from '../observability/metrics.js';
import type { Authenticator } from '../auth/authenticator.js';
import { authMiddleware, needsAuth, requestIdentity, type SessionAuth } from '../auth/middleware.js';
import { BadBodyError, BodyTooLargeError, readBody } from './body.js';
import { AlertForbiddenError, BadAlertError, decodeAlerts, type RawAlert } from './decode.js';
import { SpoolFullError } from './spool.js';

export interface CollectorDeps {
  maxBodySize: number;
  /** Resolves once the alerts are in Redis or the spool ('spooled'); rejects when they could not be written. */
  ingest(alerts: RawAlert[], receivedAt: number): Promise<void | 'spooled'>;
  /** Whether the collector accepts alerts, and what /readyz shows (Redis, spool). */
  ready(): Promise<{ ready: boolean; body: Record<string, unknown> }>;
  metrics: Metrics;
  logger: Logger;
  /** Extra HTTP endpoints (the dead-letter API, src/dlq/routes.ts); true when it answered the request. */
  api?: (ctx: Context) => Promise<boolean>;
  /** Inbound auth (src/auth); absent or with nothing configured, every request is let in. */
  auth?: Authenticator;
  /** Web UI sessions (ui.users): a session cookie is accepted on /api paths. */
  sessions?: SessionAuth;
}

function reply(ctx: Context, status: number, error: string, detail: string): void {
  ctx.status = status;
  ctx.body = { error, detail };
}

/**
 * The collector's HTTP surface. Falco POSTs to whatever path it is configured with, so every POST
 * except /test is an ingest; the few GET endpoints are for probes and scraping.
 */
export function createCollectorApp(deps: CollectorDeps): Koa {
  const app = new Koa();
  app.silent = true;
  const log = deps.logger;

  async function ingest(ctx: Context, body: string, contentType: string | undefined): Promise<void> {
    const receivedAt = Date.now();
    const identity = requestIdentity(ctx);
    let alerts: RawAlert[];
    try {
      alerts = decodeAlerts(body, contentType, receivedAt, identity && deps.auth?.policy(identity));
    } catch (err) {
      if (err instanceof AlertForbiddenError) {
        deps.metrics.requests.inc({ result: 'forbidden' });
        deps.metrics.countRefused('forbidden');
        deps.auth?.refused(identity, 'namespace');
        log.info({ identity: identity?.name, detail: err.detail }, 'refused alerts outside the sender\'s namespaces');
        return reply(ctx, 403, err.code, err.detail);
      }
      if (!(err instanceof BadAlertError)) throw err;
      deps.metrics.requests.inc({ result: 'rejected' });
      deps.metrics.countRefused('rejected');
      log.debug({ code: err.code, detail: err.detail }, 'rejected request');
      return reply(ctx, 400, err.code, err.detail);
    }
    const wait = identity ? deps.auth!.admit(identity, alerts.length) : 0;
    if (wait > 0) {
      deps.metrics.requests.inc({ result: 'rate_limited' });
      deps.metrics.countReceived(alerts.map((a) => a[1]), 'rate_limited');
      deps.auth?.refused(identity, 'rate_limited');
      ctx.set('Retry-After', String(wait));
      return reply(ctx, 429, 'rate_limited', `"${identity!.name}" may post ${identity!.rateLimit} alerts per second (auth rateLimit); nothing was accepted`);
    }
    let stored: void | 'spooled';
    try {
      stored = await deps.ingest(alerts, receivedAt);
    } catch (err) {
      if (err instanceof SpoolFullError) {
        deps.metrics.requests.inc({ result: 'spool_full' });
        deps.metrics.countReceived(alerts.map((a) => a[1]), 'unavailable');
        deps.metrics.spoolFull.inc();
        log.error({ err: err.message }, 'Redis unreachable and the spool full: refusing alerts');
        ctx.set('Retry-After', '5');
        return reply(ctx, 503, 'spool_full', `Redis is unreachable and the spool is full (spool.maxBytes = ${err.maxBytes}); nothing was accepted`);
      }
      deps.metrics.requests.inc({ result: 'unavailable' });
      deps.metrics.countReceived(alerts.map((a) => a[1]), 'unavailable');
      log.warn({ err: (err as Error).message }, 'could not store alerts in Redis or the spool');
      ctx.set('Retry-After', '1');
      return reply(ctx, 503, 'unavailable', 'alerts could not be stored (Redis unreachable, spool not writable); nothing was accepted');
    }
    deps.metrics.requests.inc({ result: 'accepted' });
    deps.metrics.countReceived(alerts.map((a) => a[1]), stored === 'spooled' ? 'spooled' : 'accepted');
    // Falco <= 0.35 prints any response body on its stdout: answer with none.
    ctx.status = 200;
    ctx.body = '';
  }

  const getRoutes: Record<string, (ctx: Context) => Promise<void> | void> = {
    '/healthz': (ctx) => {
      ctx.body = { status: 'ok' };
    },
    '/ping': (ctx) => {
      ctx.type = 'text/plain';
      ctx.body = 'pong\n';
    },
    '/readyz': async (ctx) => {
      const { ready, body } = await deps.ready();
      ctx.status = ready ? 200 : 503;
      ctx.body = body;
    },
    '/metrics': async (ctx) => {
      ctx.type = deps.metrics.registry.contentType;
      ctx.body = await deps.metrics.registry.metrics();
    },
  };

  if (deps.auth && (deps.auth.enabled || deps.sessions)) {
    // falconet_alerts_received_total{status="unauthorized"}: one per ingest request refused with 401.
    app.use(async (ctx, next) => {
      await next();
      if (ctx.status === 401 && needsAuth(ctx.method, ctx.path) && !ctx.path.startsWith('/api')) deps.metrics.countRefused('unauthorized');
    });
    app.use(authMiddleware(deps.auth, deps.sessions));
  }
  app.use(async (ctx) => {
    try {
      if (deps.api && (await deps.api(ctx))) return;
      if (ctx.method === 'GET' || ctx.method === 'HEAD') {
        const handler = getRoutes[ctx.path];
        if (handler) return await handler(ctx);
        return reply(ctx, 405, 'method_not_allowed', 'POST Falco alerts to this URL; GET serves /healthz, /readyz, /ping, /metrics');
      }
      if (ctx.method !== 'POST' && ctx.method !== 'PUT') {
        return reply(ctx, 405, 'method_not_allowed', 'POST Falco alerts to this URL');
      }
      if (ctx.path === '/test') return await ingest(ctx, testAlert(ctx.query.priority), 'application/json');
      const body = await readBody(ctx.req, deps.maxBodySize);
      await ingest(ctx, body, ctx.get('content-type') || undefined);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        deps.metrics.requests.inc({ result: 'too_large' });
        return reply(ctx, 413, 'body_too_large', `the body exceeds ${deps.maxBodySize} bytes (listen.maxBodySize)`);
      }
      if (err instanceof BadBodyError) {
        deps.metrics.requests.inc({ result: 'rejected' });
        return reply(ctx, err.status, err.code, err.detail);
      }
      log.error({ err }, 'unexpected error handling a request');
      return reply(ctx, 500, 'internal_error', 'unexpected error; see the collector log');
    }
  });
  return app;
}

/** The alert POST /test injects: it goes through the whole pipeline like any other. */
export function testAlert(priority: unknown): string {
  const now = new Date();
  // An unknown name is kept as given so the request fails validation with the usual 400.
  const p = typeof priority === 'string' && priority !== '' ? (parsePriority(priority) ?? priority) : 'Notice';
  return JSON.stringify({
    hostname: 'falconet',
    output: `${now.toISOString()}: ${p} This is a test from Falconet`,
    output_fields: { 'falconet.test': true, 'proc.name': 'falconet', 'user.name': 'falconet' },
    priority: p,
    rule: 'Falconet test',
    source: 'internal',
    tags: ['test'],
    time: now.toISOString(),
  });
}

