/**
 * Redis memory per queued alert (README, "Capacity"): `npx tsx bench/redis-memory.ts [N]`.
 * Starts its own redis-server (never 6379), posts N alerts from test/fixtures/falco-events.jsonl
 * (each its own event: unique time and text) to an in-process collector with 8 concurrent
 * senders, and reads INFO memory: (1) no worker running: alerts wait in the ingest queue;
 * (2) a worker routes them to an output that is down: they wait in its delivery queue, retrying.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ingestCounts } from '../src/queue/ingest-log.js';
import pino from 'pino';
import { startCollector } from '../src/collector/service.js';
import { buildConfig } from '../src/config/load.js';
import { createMetrics } from '../src/observability/metrics.js';
import { startWorker } from '../src/worker/service.js';
import { TestRedis } from '../test/helpers/redis-server.js';

const N = Number(process.argv[2] ?? 10_000);
const lines = readFileSync(new URL('../test/fixtures/falco-events.jsonl', import.meta.url), 'utf8').split('\n').filter(Boolean);

async function usedMemory(r: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await r.info('memory'))![1]);
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 300_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const server = await new TestRedis().start();
const admin = new Redis(server.url);
try {
  const config = buildConfig({
    listen: { host: '127.0.0.1', port: 0 },
    redis: { url: server.url, embedded: false },
    spool: { dir: join(tmpdir(), `falconet-bench-spool-${process.pid}`) },
    dedup: { window: '10m' },
    // Port 9 (discard) refuses: every delivery fails and waits for its next retry, as in an outage.
    outputs: { down: { type: 'webhook', url: 'http://127.0.0.1:9/', retry: { attempts: 20, backoff: '10m', maxBackoff: '1h' } } },
    routes: [{ outputs: ['down'] }],
  }, {});
  const logger = pino({ level: 'silent' });
  const metrics = createMetrics();
  const collector = await startCollector(config, logger, metrics);
  const before = await usedMemory(admin);
  let bytes = 0;
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let i = next++; i < N; i = next++) {
      const alert = JSON.parse(lines[i % lines.length]!) as Record<string, unknown>;
      alert.output = `${String(alert.output)} #${i}`;
      alert.time = new Date(Date.UTC(2026, 11, 1) + i).toISOString();
      const body = JSON.stringify(alert);
      bytes += body.length;
      const res = await fetch(collector.url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      if (res.status !== 200) throw new Error(`POST answered ${res.status}`);
    }
  }));
  const delivery = new Queue('deliver.down', { connection: admin, prefix: config.redis.prefix });
  const pending = async (q: Queue) => Object.values(await q.getJobCounts('waiting', 'delayed', 'active', 'prioritized')).reduce((a, b) => a + b, 0);
  const ingestPending = async () => { const c = await ingestCounts(admin, config.redis.prefix); return c.waiting + c.active; };
  await until(async () => (await ingestPending()) > 0, 'ingest log filled');
  const ingestPhase = (await usedMemory(admin)) - before;
  console.log(`${N} alerts posted, ${Math.round(bytes / N)} B of JSON each on average`);
  console.log(`ingest log (no worker): ${Math.round(ingestPhase / N)} B of Redis memory per alert (${(ingestPhase / 1e6).toFixed(1)} MB)`);

  const worker = await startWorker(config, logger, metrics);
  await until(async () => (await ingestPending()) === 0 && ((await delivery.getJobCounts('delayed')).delayed ?? 0) >= N, 'routed and waiting for retry');
  const deliveryPhase = (await usedMemory(admin)) - before;
  console.log(`delivery queue, output down (worker routed them): ${Math.round(deliveryPhase / N)} B per alert (${(deliveryPhase / 1e6).toFixed(1)} MB), dedup claims included`);
  await worker.stop();
  await collector.stop();
  await delivery.close();
} finally {
  admin.disconnect();
  await server.destroy();
}
