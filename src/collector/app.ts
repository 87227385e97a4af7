import type { RequestListener } from 'node:http';
import Koa, { type Context } from 'koa';
import type { Logger } from 'pino';
import { parsePriority } from '../alert/priority.js';
import type { Metrics } from '../observability/metrics.js';
import type { Authenticator } from '../auth/authenticator.js';
import { authMiddleware, needsAuth, requestIdentity, type SessionAuth } from '../auth/middleware.js';
import { readBody } from './body.js';
import type { RawAlert } from './decode.js';
import { fastIngestListener } from './fast-ingest.js';
import { createIngest, errorAnswer, type IngestAnswer } from './ingest.js';

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

/** The collector's HTTP handling; `callback()` is the listener for node:http (src/collector/server.ts). */
export interface CollectorApp {
  callback(): RequestListener;
}

function reply(ctx: Context, status: number, error: string, detail: string): void {
  ctx.status = status;
  ctx.body = { error, detail };
}

function writeAnswer(ctx: Context, answer: IngestAnswer): void {
  if (answer.retryAfter !== undefined) ctx.set('Retry-After', answer.retryAfter);
  if (answer.status !== 200) return reply(ctx, answer.status, answer.error!, answer.detail!);
  // Falco <= 0.35 prints any response body on its stdout: answer with none.
  ctx.status = 200;
  ctx.body = '';
}

/**
 * The collector's HTTP surface. Falco POSTs to whatever path it is configured with, so every POST
 * except /test is an ingest; the few GET endpoints are for probes and scraping. Ingest POSTs take
 * a Koa-free path (src/collector/fast-ingest.ts); the Koa app answers everything else, and any
 * ingest the fast path hands it (a refused credential, a path an API may claim).
 */
export function createCollectorApp(deps: CollectorDeps): CollectorApp {
  const app = new Koa();
  app.silent = true;
  const ingest = createIngest(deps);

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
      if (ctx.path === '/test') return writeAnswer(ctx, await ingest(testAlert(ctx.query.priority), 'application/json', requestIdentity(ctx)));
      const body = await readBody(ctx.req, deps.maxBodySize);
      writeAnswer(ctx, await ingest(body, ctx.get('content-type') || undefined, requestIdentity(ctx)));
    } catch (err) {
      writeAnswer(ctx, errorAnswer(err, deps));
    }
  });
  const koa = app.callback();
  return { callback: () => fastIngestListener(koa, deps, ingest) };
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

