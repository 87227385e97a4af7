import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCollector } from '../../src/collector/service.js';
import { buildConfig } from '../../src/config/load.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { startWorker } from '../../src/worker/service.js';
import { CaptureServer } from '../helpers/capture-server.js';
import { falcoHeaders, fixtureAlertLines } from '../helpers/fixtures.js';
import { TestRedisCluster } from '../helpers/redis-cluster.js';
import { waitFor } from '../helpers/wait.js';

const cluster = new TestRedisCluster();
beforeAll(() => cluster.start().then(() => undefined), 90_000);
afterAll(() => cluster.destroy());

describe('UI store on a Redis Cluster', () => {
  it('alerts are stored and listed, their delivery status written, over a 3-master cluster', async () => {
    const sink = await new CaptureServer().start();
    const config = buildConfig(
      {
        listen: { host: '127.0.0.1', port: 0 },
        redis: { cluster: cluster.nodes, prefix: `fnt-${randomUUID().slice(0, 8)}`, embedded: false },
        spool: { dir: join(tmpdir(), 'falconet-test-spool') },
        dedup: { window: 0 },
        outputs: { hook: { type: 'webhook', url: `${sink.url}/h` } },
        routes: [{ outputs: ['hook'] }],
      },
      { ...process.env, REDIS_URL: undefined },
    );
    const logger = pino({ level: 'silent' });
    const metrics = createMetrics();
    const worker = await startWorker(config, logger, metrics);
    const collector = await startCollector(config, logger, metrics);
    try {
      const lines = fixtureAlertLines().slice(0, 5);
      for (const l of lines) expect((await fetch(collector.url, { method: 'POST', body: l, headers: falcoHeaders() })).status).toBe(200);
      const listed = await waitFor(async () => {
        const r = (await (await fetch(`${collector.url}/api/alerts`)).json()) as { alerts: Array<{ id: string }>; total: number };
        return r.total === lines.length ? r : undefined;
      }, { timeoutMs: 30_000, what: 'alerts listed from the cluster' });
      await waitFor(async () => {
        const d = (await (await fetch(`${collector.url}/api/alerts/${listed.alerts[0]!.id}`)).json()) as { deliveries: Record<string, { status: string }> };
        return d.deliveries.hook?.status === 'delivered';
      }, { timeoutMs: 30_000, what: 'delivery status written on the cluster' });
    } finally {
      await collector.stop();
      await worker.stop();
      await sink.stop();
    }
  }, 120_000);
});
