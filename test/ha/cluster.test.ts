import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCollector } from '../../src/collector/service.js';
import { buildConfig } from '../../src/config/load.js';
import { createDlqService } from '../../src/dlq/service.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { toolConnection, waitForRedis } from '../../src/queue/connection.js';
import { startWorker } from '../../src/worker/service.js';
import { CaptureServer } from '../helpers/capture-server.js';
import { falcoHeaders } from '../helpers/fixtures.js';
import { TestRedisCluster } from '../helpers/redis-cluster.js';
import { waitFor } from '../helpers/wait.js';

const cluster = new TestRedisCluster();
beforeAll(() => cluster.start().then(() => undefined), 90_000);
afterAll(() => cluster.destroy());

const alert = (over: Record<string, unknown>) =>
  JSON.stringify({ rule: 'Terminal shell in container', priority: 'Warning', hostname: 'node-1', time: '2026-12-01T08:00:00.000000000Z', output: 'shell', output_fields: { 'k8s.ns.name': 'team1' }, ...over });

describe('Redis Cluster (3 masters)', () => {
  it('posting, routing by field, dedup, retry and the DLQ work end to end; every key shares one hash tag', async () => {
    const [team1, team2, flaky, broken, storm] = await Promise.all([0, 1, 2, 3, 4].map(() => new CaptureServer().start()));
    flaky!.respondWith({ status: 500 }, { status: 503 }); // two failures, then the fallback 200
    broken!.fallback = { status: 400, body: 'bad request' }; // permanent: dead-lettered at once
    const prefix = `fnt-${randomUUID().slice(0, 8)}`;
    const config = buildConfig({
      listen: { host: '127.0.0.1', port: 0 },
      redis: { cluster: cluster.nodes, prefix, embedded: false },
      spool: { dir: join(tmpdir(), 'falconet-test-spool') },
      dedup: { window: '10m' },
      outputs: {
        team1: { type: 'webhook', url: team1!.url },
        team2: { type: 'webhook', url: team2!.url },
        flaky: { type: 'webhook', url: flaky!.url, retry: { attempts: 5, backoff: '50ms' } },
        broken: { type: 'webhook', url: broken!.url },
        // Storm control and its digest (src/noise): the first of a rule at once, the rest as one digest after 1 s.
        storm: { type: 'webhook', url: storm!.url, dedup: { window: '1s', key: ['rule'] } },
      },
      routes: [
        { match: { 'output_fields.k8s.ns.name': 'team1' }, outputs: ['team1', 'flaky', 'broken', 'storm'] },
        { match: { 'output_fields.k8s.ns.name': 'team2' }, outputs: ['team2'] },
      ],
    }, {});
    // Cluster mode hash-tags the prefix, as BullMQ documents for Cluster.
    expect(config.redis.prefix).toBe(`{${prefix}}`);
    // Errors are collected: a script sent to the wrong node fails its ingest job, which then retries.
    const errors: string[] = [];
    const logger = pino({ level: 'error' }, new Writable({ write: (chunk, _e, cb) => (errors.push(String(chunk)), cb()) }));
    const metrics = createMetrics();
    const worker = await startWorker(config, logger, metrics);
    const collector = await startCollector(config, logger, metrics);
    const admin = toolConnection(config.redis, { retryStrategy: () => 100, maxRetriesPerRequest: 3 });
    try {
      const post = async (body: string) => (await fetch(collector.url, { method: 'POST', body, headers: falcoHeaders() })).status;
      const bodies = [
        alert({}),
        alert({}), // the same event again: dropped by dedup
        alert({ time: '2026-12-01T08:00:01.000000000Z', output: 'shell 2' }),
        alert({ time: '2026-12-01T08:00:02.000000000Z', output: 'other', output_fields: { 'k8s.ns.name': 'team2' } }),
      ];
      for (const b of bodies) expect(await post(b)).toBe(200);
      expect(metrics.spoolSource.bytes()).toBe(0); // written to the cluster, not spooled

      await waitFor(() => team1!.requests.length === 2 && team2!.requests.length === 1, { timeoutMs: 30_000, what: 'routed deliveries' });
      await waitFor(() => flaky!.requests.filter((r) => r.at > 0).length >= 4, { timeoutMs: 30_000, what: 'flaky retried until delivered' });
      const dlq = createDlqService(config, admin);
      await waitFor(async () => (await dlq.list('broken')).length === 2, { timeoutMs: 30_000, what: 'broken dead-lettered twice' });
      expect(team2!.requests.map((r) => (JSON.parse(r.body) as { output: string }).output)).toEqual(['other']);
      // flaky: 2 failures then both alerts once each (a retry resends only what failed).
      expect(flaky!.requests).toHaveLength(4);
      const flakyOk = flaky!.requests.slice(2).map((r) => (JSON.parse(r.body) as { output: string }).output).sort();
      expect(flakyOk).toEqual(['shell', 'shell 2']);
      expect(broken!.requests).toHaveLength(2); // 400 is permanent: no retry

      await waitFor(() => storm!.requests.length === 2, { timeoutMs: 30_000, what: 'storm: first alert, then a digest' });
      expect((JSON.parse(storm!.requests[0]!.body) as { output: string }).output).toBe('shell');
      expect(storm!.requests[1]!.body).toContain('shell 2');

      // A replay from the DLQ once the destination is fixed delivers them.
      broken!.fallback = { status: 200 };
      expect((await dlq.replay('broken')).replayed).toBe(2);
      await waitFor(() => broken!.requests.length === 4, { timeoutMs: 30_000, what: 'replayed dead letters delivered' });
      expect(await dlq.list('broken')).toHaveLength(0);

      // Every key Falconet and BullMQ wrote carries the tag, so all of them sit in one slot (one node).
      const keys = await cluster.keys(`*${prefix}*`);
      expect(keys.length).toBeGreaterThan(5);
      expect(keys.every((k) => k.key.startsWith(`{${prefix}}:`))).toBe(true);
      expect(new Set(keys.map((k) => k.port)).size).toBe(1);
      // No script crossed slots or went to a node without the slot (CROSSSLOT, MOVED, non local key).
      expect(errors.filter((e) => !e.includes('alerts dead-lettered'))).toEqual([]);
    } finally {
      await collector.stop();
      await worker.stop();
      admin.disconnect();
      await Promise.all([team1, team2, flaky, broken, storm].map((c) => c!.stop()));
    }
  }, 120_000);
});
