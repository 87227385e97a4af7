import { Redis } from 'ioredis';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/observability/metrics.js';
import { ingestDrained, ingestEntries } from '../helpers/ingest-log.js';
import { startWorker, type RunningWorker } from '../../src/worker/service.js';
import { CaptureServer } from '../helpers/capture-server.js';
import { falcoHeaders } from '../helpers/fixtures.js';
import { startPipeline, testConfig, type Pipeline } from '../helpers/harness.js';
import { TestRedis } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

let pipeline: Pipeline | undefined;
let worker: RunningWorker | undefined;
let redis: TestRedis | undefined;
let capture: CaptureServer | undefined;

afterEach(async () => {
  await pipeline?.stop();
  await worker?.stop();
  await redis?.destroy();
  await capture?.stop();
  pipeline = worker = redis = capture = undefined;
});

const alert = (i: number) =>
  JSON.stringify({
    rule: 'Terminal shell in container', priority: 'Warning', hostname: 'node-1', source: 'syscall',
    time: `2025-06-12T08:00:00.${String(i).padStart(9, '0')}Z`,
    output: `08:00:00.${i}: Warning A shell was spawned in a container (evt ${i})`,
    output_fields: { 'container.id': 'c1', 'proc.cmdline': 'bash', n: i },
  });

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

describe('collector with Redis unreachable: the spool', () => {
  it('answers 200 into the spool, /readyz stays ready and reports the spool; Redis back → replayed and delivered once', async () => {
    redis = await new TestRedis({ aof: false }).start();
    capture = await new CaptureServer().start();
    const config = testConfig({
      redis: { url: redis.url },
      dedup: { window: 0 },
      outputs: { sink: { type: 'webhook', url: `${capture.url}/hook` } },
      routes: [{ outputs: ['sink'] }],
    });
    pipeline = await startPipeline(config, { worker: false });
    const base = pipeline.collector.url;
    expect((await pipeline.post(alert(0), falcoHeaders())).status).toBe(200);

    await redis.stop();
    const statuses: number[] = [];
    for (let i = 1; i <= 200; i++) statuses.push((await pipeline.post(alert(i), falcoHeaders())).status);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);

    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { status: string; redis: string; spool: { bytes: number; oldestSeconds: number } };
    expect(body.status).toBe('ready');
    expect(body.redis).toBe('unreachable');
    expect(body.spool.bytes).toBeGreaterThan(0);
    expect(await metric(base, 'falconet_spool_bytes')).toBe(body.spool.bytes);
    expect(await metric(base, 'falconet_spool_oldest_seconds')).toBeGreaterThan(0);
    expect(await metric(base, 'falconet_spool_spooled_alerts_total')).toBe(200);
    // Received as spooled, not as accepted into Redis: each alert once.
    expect(await metric(base, 'falconet_alerts_received_total{source="syscall",priority="Warning",status="spooled"}')).toBe(200);
    expect(await metric(base, 'falconet_alerts_received_total{source="syscall",priority="Warning",status="accepted"}')).toBe(1); // alert 0, before the outage
    expect((await fetch(`${base}/healthz`)).status).toBe(200);

    // Redis back (empty: no persistence in this test): the spool replays into it by itself.
    await redis.start();
    await waitFor(async () => (await metric(base, 'falconet_spool_bytes')) === 0, { timeoutMs: 20_000, what: 'spool drained' });
    expect(await metric(base, 'falconet_spool_replayed_alerts_total')).toBe(200);
    const queued = (await ingestEntries(redis.url, config.redis.prefix)).flatMap((e) => e.alerts);
    expect(queued).toHaveLength(200);
    // In the order they were accepted.
    expect(queued.map(([, json]) => (JSON.parse(json) as { output_fields: { n: number } }).output_fields.n)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect((await pipeline.post(alert(201), falcoHeaders())).status).toBe(200);

    worker = await startWorker(config, pino({ level: 'silent' }), createMetrics());
    const delivered = () => capture!.requests.map((r) => (JSON.parse(r.body) as { output_fields: { n: number } }).output_fields.n);
    await waitFor(() => new Set(delivered()).size === 201, { timeoutMs: 20_000, what: 'every accepted alert delivered' });
    expect(delivered().length).toBe(201); // once each (alert 0 went to the Redis that restarted empty)
  });

  it('a write that misses spool.deadline is spooled and answered 200; the late copy that lands anyway is delivered once', async () => {
    redis = await new TestRedis({ aof: false, debug: true }).start();
    capture = await new CaptureServer().start();
    const config = testConfig({
      redis: { url: redis.url },
      // The shipped dedup (exact duplicates, 10 min): what drops the late copy, replayed as a new ingest job.
      spool: { deadline: '300ms' },
      outputs: { sink: { type: 'webhook', url: `${capture.url}/hook` } },
      routes: [{ outputs: ['sink'] }],
    });
    const metrics = createMetrics();
    pipeline = await startPipeline(config, { worker: false });
    worker = await startWorker(config, pino({ level: 'silent' }), metrics);
    expect((await pipeline.post(alert(0), falcoHeaders())).status).toBe(200);
    await waitFor(() => capture!.requests.length === 1, { what: 'warm-up delivered' });

    // Redis stalls for 1.5 s (a fork, a slow disk): the write in flight misses the deadline.
    const staller = new Redis(redis.url);
    await staller.ping(); // connected: the DEBUG SLEEP below reaches Redis before any alert
    const stall = staller.call('DEBUG', 'SLEEP', '1.5');
    const statuses = await Promise.all([1, 2, 3, 4, 5].map((i) => pipeline!.post(alert(i), falcoHeaders()).then((r) => r.status)));
    await stall;
    staller.disconnect();
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    const base = pipeline.collector.url;
    expect(await metric(base, 'falconet_spool_spooled_alerts_total')).toBe(5);

    await waitFor(async () => (await metric(base, 'falconet_spool_replayed_alerts_total')) === 5, { what: 'spool replayed' });
    const n = () => capture!.requests.map((r) => (JSON.parse(r.body) as { output_fields: { n: number } }).output_fields.n);
    await waitFor(() => new Set(n()).size === 6, { what: 'all delivered' });
    // Every routed copy has been through the router once the queues are empty: then count.
    await waitFor(() => ingestDrained(redis!.url, config.redis.prefix), { what: 'ingest drained' });
    const routed = (await metrics.routed.get()).values.find((v) => v.labels.outcome === 'routed')?.value ?? 0;
    const duplicates = (await metrics.routed.get()).values.find((v) => v.labels.outcome === 'duplicate')?.value ?? 0;
    console.log(`deadline test: ${routed} alerts routed, ${duplicates} duplicates dropped (the late write landed too), ${n().length} delivered for 6 accepted`);
    // The copy that landed anyway is the same Falco event in another ingest job: dropped, not delivered again.
    expect(n().length).toBe(6);
  });

  it('answers 503 spool_full with a JSON error and counts it when Redis is down and the spool is full', async () => {
    redis = await new TestRedis({ aof: false }).start();
    const config = testConfig({
      redis: { url: redis.url },
      spool: { maxBytes: 4096 },
      outputs: { sink: { type: 'stdout' } },
      routes: [{ outputs: ['sink'] }],
    });
    pipeline = await startPipeline(config, { worker: false });
    await redis.stop();
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push((await pipeline.post(alert(i), falcoHeaders())).status);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    const refused = await pipeline.post(alert(99), falcoHeaders());
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: 'spool_full' });
    expect(await metric(pipeline.collector.url, 'falconet_spool_full_total')).toBe(statuses.filter((s) => s === 503).length + 1);
    const ready = await fetch(`${pipeline.collector.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'spool full', redis: 'unreachable' });
  });
});
