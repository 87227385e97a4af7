import { PassThrough } from 'node:stream';
import type { RedisClient as Redis } from '../queue/connection.js';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import { requestIdentity } from '../auth/middleware.js';
import { FilterError, queryAlerts, type AlertFilter } from './query.js';
import { filterFromQuery, scopeOf, visible, type Scope } from './scope.js';
import { readStats } from './stats.js';
import { indexValues, type AlertStore } from './store.js';
import { serveStatic } from './static.js';
import { EventHub } from './live.js';
import type { Alert } from '../alert/alert.js';
import type { FalconetConfig } from '../config/load.js';
import { csvHeader, csvLine } from './csv.js';
import { isLoopback } from './session-routes.js';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
const EXPORT_PAGE = 1000;

/**
 * The web UI's JSON API and page, served by the collector (under the same auth as /api/dlq):
 *   GET /api/alerts?priority=&rule=&source=&hostname=&namespace=&tenant=&tag=&q=&since=&until=&limit=&cursor=
 *   GET /api/alerts/:id     the alert with `outputs` and `deliveries`
 *   GET /api/stats?since=&until=
 *   GET /api/events         server-sent events: new alerts, delivery status changes
 *   GET /api/export?…&format=ndjson|csv   streamed, every match
 *   GET /api/setup          outputs (name, type) and routes, no output settings (platform only)
 *   GET /ui/…               the page (dist/ui, built by npm run build)
 * /api/dlq (src/dlq/routes.ts) is answered 403 here for tenant-scoped identities.
 * Returns false for every other path.
 */
/** The outputs and routes as the page shows them: names, types and matchers, never an output's settings (URLs, keys). */
export interface SetupView {
  outputs: Array<{ name: string; type: string; batchSize: number }>;
  routes: Array<Record<string, unknown>>;
}

export function setupView(config: FalconetConfig): SetupView {
  return {
    outputs: Object.values(config.outputs).map((o) => ({ name: o.name, type: o.definition.type, batchSize: o.batchSize })),
    routes: config.routes.map((r, i) => ({ name: r.name ?? `routes[${i}]`, match: r.match, match_any: r.match_any, not: r.not, outputs: r.outputs, continue: r.continue })),
  };
}

export interface UiAccess {
  /** No ui.users and no auth.tokens: nothing tells who asks, so the UI answers loopback only. */
  open: boolean;
  session: (ctx: Context) => Promise<boolean>;
}

export function createUiRoutes(store: AlertStore, redis: Redis, logger: Logger, setup: SetupView, access: UiAccess) {
  const events = new EventHub(store, redis, logger);

  return Object.assign(
    async (ctx: Context): Promise<boolean> => {
      const path = ctx.path;
      const ui = path === '/ui' || path.startsWith('/ui/') || path.startsWith('/api/');
      if (ui && access.open && !isLoopback(ctx.req.socket.remoteAddress)) {
        fail(ctx, 403, 'loopback_only', 'no ui.users and no auth.tokens are configured: the UI and its API answer on loopback only');
        return true;
      }
      if (await access.session(ctx)) return true;
      if (path === '/ui' || path.startsWith('/ui/')) return serveStatic(ctx);
      if (path === '/api/dlq' || path.startsWith('/api/dlq/') || path === '/api/setup') {
        // Dead letters are not kept per tenant (yet): only the platform (an unscoped identity) reaches them.
        const scope = scopeOf(requestIdentity(ctx));
        if (scope.tenant !== undefined || scope.namespaces) {
          fail(ctx, 403, 'forbidden', `${path} is for the platform: this identity is limited to a tenant or namespaces`);
          return true;
        }
        if (path !== '/api/setup') return false;
        ctx.body = setup;
        return true;
      }
      if (!path.startsWith('/api/alerts') && path !== '/api/stats' && path !== '/api/events' && path !== '/api/export') return false;
      if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
        fail(ctx, 405, 'method_not_allowed', `${path} accepts GET`);
        return true;
      }
      const scope = scopeOf(requestIdentity(ctx));
      try {
        if (path === '/api/alerts') await list(ctx, scope);
        else if (path.startsWith('/api/alerts/')) await one(ctx, scope, decodeURIComponent(path.slice('/api/alerts/'.length)));
        else if (path === '/api/stats') await stats(ctx, scope);
        else if (path === '/api/events') await events.attach(ctx, scope);
        else await exportAlerts(ctx, scope);
      } catch (err) {
        if (err instanceof FilterError) fail(ctx, 400, 'bad_request', err.message);
        else {
          logger.warn({ err: (err as Error).message, path }, 'UI API request failed');
          fail(ctx, 503, 'unavailable', `the alert store could not be read: ${(err as Error).message}`);
        }
      }
      return true;
    },
    { close: () => events.close() },
  );

  async function list(ctx: Context, scope: Scope): Promise<void> {
    const filter = filterFromQuery(ctx.query, scope);
    const limit = intParam(ctx, 'limit', DEFAULT_LIMIT, MAX_LIMIT);
    const cursor = cursorParam(ctx);
    const page = await queryAlerts(store, filter, limit, cursor);
    ctx.type = 'application/json';
    // Built as text so each alert is embedded byte for byte (nanosecond integers stay exact).
    const alerts = page.alerts.map((a) => withExtras(a.json, { seq: String(a.seq), outputs: a.outputs }));
    ctx.body = `{"alerts":[${alerts.join(',')}],"next":${JSON.stringify(page.next)},"total":${page.total},"totalExact":${page.totalExact}}`;
  }

  async function one(ctx: Context, scope: Scope, id: string): Promise<void> {
    const [rec] = await store.records([id]);
    const alert = rec && (JSON.parse(rec.json) as Alert);
    if (!rec || !alert || !visible(scope, summaryScope(alert))) return fail(ctx, 404, 'not_found', `no stored alert ${JSON.stringify(id)} (evicted, or never stored)`);
    const deliveries = await store.deliveries(id, rec.outputs);
    ctx.type = 'application/json';
    ctx.body = withExtras(rec.json, { outputs: rec.outputs, deliveries });
  }

  async function stats(ctx: Context, scope: Scope): Promise<void> {
    if (scope.stats === undefined) return fail(ctx, 403, 'forbidden', 'statistics are kept per tenant: this identity has namespaces but no tenant');
    const filter = filterFromQuery({ since: ctx.query.since, until: ctx.query.until }, {});
    const until = filter.until ?? Date.now();
    const since = filter.since ?? until - 3600_000;
    ctx.body = await readStats(store, scope.stats, since, until);
  }

  async function exportAlerts(ctx: Context, scope: Scope): Promise<void> {
    const format = ctx.query.format ?? 'ndjson';
    if (format !== 'ndjson' && format !== 'csv') throw new FilterError('"format" is ndjson or csv');
    const filter: AlertFilter = filterFromQuery(ctx.query, scope);
    const stream = new PassThrough();
    ctx.type = format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson';
    ctx.set('Content-Disposition', `attachment; filename="falconet-alerts.${format}"`);
    ctx.body = stream;
    void (async () => {
      try {
        if (format === 'csv') stream.write(csvHeader());
        let cursor: number | undefined;
        for (;;) {
          const page = await queryAlerts(store, filter, EXPORT_PAGE, cursor);
          for (const a of page.alerts) {
            const chunk = format === 'csv' ? csvLine(a.alert) : `${a.json}\n`;
            // Backpressure: a slow client holds the walk, not memory.
            if (!stream.write(chunk)) await new Promise((r) => stream.once('drain', r));
            if (stream.destroyed) return;
          }
          if (page.next === null) break;
          cursor = Number(page.next);
        }
        stream.end();
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'export failed midway');
        stream.destroy(err as Error);
      }
    })();
  }
}

function summaryScope(alert: Alert): { tenant?: string; namespace?: string } {
  const v = indexValues(alert);
  return { tenant: v.tenant[0], namespace: v.namespace[0] };
}

function withExtras(json: string, extras: Record<string, unknown>): string {
  const body = json.slice(1);
  const head = Object.entries(extras).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',');
  return `{${head}${body === '}' ? '' : ','}${body}`;
}

function intParam(ctx: Context, name: string, fallback: number, max: number): number {
  const raw = ctx.query[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(n) || n < 1 || n > max) throw new FilterError(`"${name}" must be an integer from 1 to ${max}`);
  return n;
}

function cursorParam(ctx: Context): number | undefined {
  const raw = ctx.query.cursor;
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string' || !/^\d{1,17}$/.test(raw)) throw new FilterError('"cursor" is the "next" value of the previous page');
  return Number(raw);
}

function fail(ctx: Context, status: number, error: string, detail: string): void {
  ctx.status = status;
  ctx.body = { error, detail };
}
