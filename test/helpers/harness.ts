import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import { Queue } from 'bullmq';
import { buildConfig, type FalconetConfig } from '../../src/config/load.js';
import { startCollector, type RunningCollector } from '../../src/collector/service.js';
import { startWorker, type RunningWorker } from '../../src/worker/service.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { alertId } from '../../src/collector/decode.js';
import { waitFor } from './wait.js';
import { deliveryQueueName } from '../../src/queue/names.js';
import { appendIngest } from '../../src/queue/ingest-log.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A config document with a unique Redis prefix and an ephemeral port, for one test. */
export function testConfig(doc: Record<string, unknown>): FalconetConfig {
  return buildConfig(
    {
      listen: { host: '127.0.0.1', port: 0 },
      ...doc,
      redis: { url: REDIS_URL, prefix: `fnt-${randomUUID().slice(0, 8)}`, ...(doc.redis as object) },
      // Each test's spool is <dir>/<its prefix>, outside the repository.
      spool: { dir: join(tmpdir(), 'falconet-test-spool'), ...(doc.spool as object) },
    },
    { ...process.env, REDIS_URL: undefined },
  );
}

export interface Pipeline {
  config: FalconetConfig;
  collector: RunningCollector;
  worker?: RunningWorker;
  /** The metrics the in-process collector and worker count into. */
  metrics: Metrics;
  /** POSTs one body as Falco does; resolves to the response. */
  post(body: string, headers?: Record<string, string>, path?: string): Promise<Response>;
  queue(output: string): Queue;
  stop(): Promise<void>;
}

/** Collector + worker in this process against the real Redis, isolated by the config's prefix. */
export async function startPipeline(config: FalconetConfig, opts: { worker?: boolean } = {}): Promise<Pipeline> {
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const metrics = createMetrics();
  const worker = opts.worker === false ? undefined : await startWorker(config, logger, metrics);
  const collector = await startCollector(config, logger, metrics);
  const queues: Queue[] = [];
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  return {
    config,
    collector,
    worker,
    metrics,
    post: (body, headers = { 'content-type': 'application/json', 'user-agent': 'falcosecurity/falco' }, path = '/') =>
      fetch(`${collector.url}${path}`, { method: 'POST', body, headers }),
    queue(output) {
      const q = new Queue(deliveryQueueName(output), { connection, prefix: config.redis.prefix });
      queues.push(q);
      return q;
    },
    async stop() {
      await collector.stop();
      await worker?.stop();
      await Promise.all(queues.map((q) => q.close()));
      connection.disconnect();
      await deletePrefix(config.redis.prefix);
    },
  };
}

/**
 * Appends alert bodies to the ingest log as one entry, as a collector would, but without its input
 * checks: what an older collector or a spool written by one may hand the router.
 */
export async function enqueueIngest(config: FalconetConfig, bodies: string[]): Promise<void> {
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  try {
    await appendIngest(connection, config.redis.prefix, bodies.map((b) => [alertId(b), b]), Date.now());
  } finally {
    connection.disconnect();
  }
}

/** Waits until every named delivery queue is drained (nothing waiting, active, delayed or prioritized). */
export async function drained(p: Pipeline, outputs: string[], timeoutMs = 20_000): Promise<void> {
  await waitFor(async () => {
    for (const o of outputs) {
      const c = await p.queue(o).getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      if (Object.values(c).some((n) => n > 0)) return false;
    }
    return true;
  }, { what: 'queues drained', timeoutMs });
}

/** Removes every key a test wrote (its unique prefix). */
export async function deletePrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
