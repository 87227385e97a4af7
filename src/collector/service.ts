import type { Context } from 'koa';
import type { Logger } from 'pino';
import type { FalconetConfig } from '../config/load.js';
import type { Metrics } from '../observability/metrics.js';
import { join, resolve } from 'node:path';
import { describeRedis, producerConnection, reportLoginFailures } from '../queue/connection.js';
import { checkDurability } from '../queue/durability.js';
import { INGEST_QUEUE_LABEL, appendIngest, ingestCounts } from '../queue/ingest-log.js';
import { Authenticator } from '../auth/authenticator.js';
import { AlertStore } from '../ui/store.js';
import { createUiRoutes, setupView } from '../ui/routes.js';
import { SessionStore } from '../ui/sessions.js';
import { createSessionRoutes, sessionAuth } from '../ui/session-routes.js';
import { createCollectorApp } from './app.js';
import { startCollectorServer } from './server.js';
import type { RawAlert } from './decode.js';
import { DurableStore } from './durable-store.js';
import { GroupCommitter } from './group-commit.js';
import { Spool } from './spool.js';
import { reloadAnswer, type ConfigReloader } from '../runtime/reload.js';
import { lazyRoute } from './lazy-route.js';

/** Alerts per Redis write (one ingest entry), whatever the requests look like. */
const MAX_ALERTS_PER_WRITE = 1000;

export interface RunningCollector {
  url: string;
  port: number;
  plainPort?: number;
  reloadTls(): boolean;
  stop(): Promise<void>;
}

/**
 * Starts the collector: HTTP server + group-committed writes of ingest entries to Redis, or to the
 * spool when Redis does not take them within spool.deadline. It starts without Redis too.
 */
export async function startCollector(
  config: FalconetConfig,
  logger: Logger,
  metrics: Metrics,
  opts: { reloader?: ConfigReloader } = {},
): Promise<RunningCollector> {
  const log = logger.child({ component: 'collector' });
  const redisUrl = describeRedis(config.redis);
  const spool = await Spool.open(resolve(join(config.spool.dir, config.redis.prefix)), { maxBytes: config.spool.maxBytes });
  metrics.spoolSource.bytes = () => spool.bytes;
  metrics.spoolSource.oldestReceivedAt = () => spool.oldestReceivedAt;
  if (!spool.empty) log.warn({ spool: spool.dir, bytes: spool.bytes }, 'the spool holds alerts from an earlier run; replaying them once Redis answers');
  const redis = producerConnection(config.redis);
  redis.on('error', (err) => log.debug({ err: err.message }, 'redis connection error'));
  reportLoginFailures(redis, { target: config.redis, role: 'collector', logger: log });
  // Connecting now (not lazily at the first write), so that a Redis answering within the moment
  // below takes the first alerts instead of the spool.
  redis.connect().catch(() => undefined);
  // A Redis started alongside gets a moment, so a normal start does not spool its first alerts.
  const startDeadline = Date.now() + 1000;
  while (redis.status !== 'ready' && Date.now() < startDeadline) await new Promise((r) => setTimeout(r, 20));
  // Start-up check (src/queue/durability.ts): refuses only when it can see Redis now; a Redis that
  // answers later is checked then and warned about (the collector is already taking alerts).
  const durability = { requireDurable: config.redis.requireDurable, logger: log, role: 'collector', where: redisUrl };
  if (redis.status === 'ready') {
    await checkDurability(redis, durability).catch((err: Error) => {
      redis.disconnect();
      throw err;
    });
  } else redis.once('ready', () => void checkDurability(redis, { ...durability, requireDurable: false }).catch(() => undefined));
  const prefix = config.redis.prefix;
  metrics.queueSource.counts = async () => [{ queue: INGEST_QUEUE_LABEL, counts: await ingestCounts(redis, prefix) }];
  const append = (alerts: RawAlert[], receivedAt: number) => appendIngest(redis, prefix, alerts, receivedAt);
  const store = new DurableStore({ spool, append, redis, deadline: config.spool.deadline, metrics, logger: log, redisUrl, waitReplicas: config.redis.waitReplicas });
  store.start();

  // `spooled` is set on the entries of a write that went to the spool (the received metric's status).
  type Entry = { alerts: RawAlert[]; receivedAt: number; spooled?: boolean };
  const committer = new GroupCommitter<Entry>(
    async (entries) => {
      const alerts = entries.length === 1 ? entries[0]!.alerts : entries.flatMap((e) => e.alerts);
      metrics.groupCommitSize.observe(alerts.length);
      if ((await store.write(alerts, entries[0]!.receivedAt)) === 'spooled') for (const e of entries) e.spooled = true;
    },
    MAX_ALERTS_PER_WRITE,
    (entry) => entry.alerts.length,
  );
  /** One request's alerts, cut so that no ingest entry exceeds the bound (an NDJSON burst of 50,000 makes 50). */
  const submit = async (alerts: RawAlert[], receivedAt: number): Promise<void | 'spooled'> => {
    const entries: Entry[] = [];
    if (alerts.length <= MAX_ALERTS_PER_WRITE) entries.push({ alerts, receivedAt });
    else for (let i = 0; i < alerts.length; i += MAX_ALERTS_PER_WRITE) entries.push({ alerts: alerts.slice(i, i + MAX_ALERTS_PER_WRITE), receivedAt });
    await committer.submit(entries);
    if (entries.some((e) => e.spooled)) return 'spooled';
  };

  const redisAnswers = async () => {
    try {
      if (redis.status !== 'ready') return false;
      return (await Promise.race([redis.ping(), new Promise((r) => setTimeout(r, 1000))])) === 'PONG';
    } catch {
      return false;
    }
  };
  // Imported at their first request (src/collector/lazy-route.ts): both bring BullMQ.
  const dlqRoutes = lazyRoute(
    (ctx) => ctx.path.startsWith('/api/dlq'),
    async () => {
      const [{ createDlqRoutes }, { createDlqService }] = await Promise.all([import('../dlq/routes.js'), import('../dlq/service.js')]);
      return createDlqRoutes(createDlqService(config, redis));
    },
  );
  const testOutput = lazyRoute(
    (ctx) => ctx.path === '/test' && ctx.method === 'POST' && typeof ctx.query.output === 'string',
    async () => (await import('./test-output.js')).createTestOutputRoute({ config: () => opts.reloader?.config ?? config, redis, prefix: config.redis.prefix }),
  );
  // The web UI's API and page (src/ui), beside the dead-letter API.
  const sessions = config.ui.users.length > 0 ? new SessionStore(redis, config.redis.prefix) : undefined;
  const uiAccess = {
    open: config.ui.users.length === 0 && config.auth.tokens.length === 0 && config.auth.clientCerts.length === 0,
    session: createSessionRoutes(config.ui.users, sessions, config.ui.users.length === 0 && config.auth.tokens.length === 0),
  };
  const uiRoutes = config.ui.enabled ? createUiRoutes(new AlertStore(redis, config.redis.prefix, config.ui.retention), redis, log, setupView(config), uiAccess) : undefined;
  const app = createCollectorApp({
    maxBodySize: config.listen.maxBodySize,
    ingest: submit,
    // Ready while it accepts: Redis answers, or the spool has room for another request.
    ready: async () => {
      const up = await redisAnswers();
      const oldest = spool.oldestReceivedAt;
      const ready = up || spool.hasRoom(config.listen.maxBodySize);
      return {
        ready,
        body: {
          status: ready ? 'ready' : 'spool full',
          redis: up ? 'up' : 'unreachable',
          spool: { bytes: spool.bytes, maxBytes: spool.maxBytes, oldestSeconds: oldest === undefined ? 0 : (Date.now() - oldest) / 1000 },
        },
      };
    },
    metrics,
    logger: log,
    api: withReloadRoute(async (ctx) => (uiRoutes ? await uiRoutes(ctx) : false) || (await testOutput(ctx)) || dlqRoutes(ctx), opts.reloader),
    auth: new Authenticator(config.auth, metrics.registry),
    sessions: sessions && sessionAuth(sessions),
  });

  const server = await startCollectorServer(config.listen, app.callback(), log);
  const port = server.port;
  log.info(
    { port, host: config.listen.host, tls: !!config.listen.tls, plainPort: server.plainPort, auth: { tokens: config.auth.tokens.length, clientCerts: config.auth.clientCerts.length }, redis: redisUrl, spool: spool.dir },
    'collector listening',
  );

  return {
    url: server.url,
    port,
    plainPort: server.plainPort,
    reloadTls: server.reloadTls,
    async stop() {
      // Stop accepting, let in-flight requests finish (their writes complete), then close Redis.
      uiRoutes?.close();
      await server.close();
      // In-flight writes end within spool.deadline (then they are in the spool).
      const deadline = Date.now() + 10_000;
      while (!committer.idle && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await store.stop();
      await testOutput.close();
      redis.disconnect();
      await spool.close();
      log.info('collector stopped');
    },
  };
}

/** POST /-/reload next to the other API routes (behind the same authentication, when it is on). */
function withReloadRoute(api: (ctx: Context) => Promise<boolean>, reloader: ConfigReloader | undefined) {
  if (!reloader) return api;
  return async (ctx: Context): Promise<boolean> => {
    if (ctx.path !== '/-/reload') return api(ctx);
    if (ctx.method !== 'POST') {
      ctx.status = 405;
      ctx.body = { error: 'method_not_allowed', detail: 'POST /-/reload re-reads the config' };
      return true;
    }
    const { status, body } = await reloadAnswer(reloader);
    ctx.status = status;
    ctx.body = body;
    return true;
  };
}
