import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { FalconetConfig } from '../config/load.js';
import type { Metrics } from '../observability/metrics.js';
import { producerConnection, waitForRedis } from '../queue/connection.js';
import { INGEST_JOB_OPTIONS } from '../queue/job-options.js';
import { INGEST_QUEUE, type IngestJobData } from '../queue/names.js';
import { createDlqRoutes } from '../dlq/routes.js';
import { createDlqService } from '../dlq/service.js';
import { createCollectorApp } from './app.js';
import type { RawAlert } from './decode.js';
import { GroupCommitter } from './group-commit.js';

export interface RunningCollector {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts the collector: HTTP server + group-committed writes of ingest jobs to Redis. */
export async function startCollector(config: FalconetConfig, logger: Logger, metrics: Metrics): Promise<RunningCollector> {
  const log = logger.child({ component: 'collector' });
  const redis = producerConnection(config.redis.url);
  redis.on('error', (err) => log.debug({ err: err.message }, 'redis connection error'));
  await waitForRedis(redis, 10_000);
  const queue = new Queue<IngestJobData>(INGEST_QUEUE, { connection: redis, prefix: config.redis.prefix });
  queue.on('error', (err) => log.debug({ err: err.message }, 'ingest queue error'));

  type Entry = { alerts: RawAlert[]; receivedAt: number };
  const committer = new GroupCommitter<Entry>(async (entries) => {
    const alerts = entries.length === 1 ? entries[0]!.alerts : entries.flatMap((e) => e.alerts);
    metrics.groupCommitSize.observe(alerts.length);
    await queue.add('alerts', { alerts, receivedAt: entries[0]!.receivedAt }, INGEST_JOB_OPTIONS);
  });

  const app = createCollectorApp({
    maxBodySize: config.listen.maxBodySize,
    ingest: (alerts, receivedAt) => committer.submit([{ alerts, receivedAt }]),
    ready: async () => {
      try {
        return (await redis.ping()) === 'PONG';
      } catch {
        return false;
      }
    },
    metrics,
    logger: log,
    api: createDlqRoutes(createDlqService(config, redis)),
  });

  const koaHandler = app.callback();
  let stopping = false;
  // Once stopping, every response closes its connection: a keep-alive client (Falco's libcurl)
  // would otherwise hold the server open forever and `stop` would never finish.
  const handler: typeof koaHandler = (req, res) => {
    if (stopping) res.setHeader('connection', 'close');
    return koaHandler(req, res);
  };
  const server: Server = createServer(handler);
  // Falco (libcurl) keeps one connection per node open; don't drop it between alerts.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  // Answer an oversized `Expect: 100-continue` request before its body is sent.
  server.on('checkContinue', (req, res) => {
    if (Number(req.headers['content-length']) > config.listen.maxBodySize) {
      res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ error: 'body_too_large', detail: `the body exceeds ${config.listen.maxBodySize} bytes` }));
      return;
    }
    res.writeContinue();
    handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = config.listen.host === '0.0.0.0' ? '127.0.0.1' : config.listen.host;
  log.info({ port, host: config.listen.host }, 'collector listening');

  return {
    url: `http://${host}:${port}`,
    port,
    async stop() {
      // Stop accepting, let in-flight requests finish (their writes complete), then close Redis.
      stopping = true;
      await new Promise<void>((resolve) => {
        // Connections busy now become idle later: keep closing idle ones until the server is closed.
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        server.close(() => {
          clearInterval(sweep);
          resolve();
        });
        server.closeIdleConnections();
      });
      const deadline = Date.now() + 10_000;
      while (!committer.idle && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await queue.close();
      redis.disconnect();
      log.info('collector stopped');
    },
  };
}
