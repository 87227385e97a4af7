import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { falconet, killAll, untilLogged, writeConfig } from '../chaos/procs.js';
import { CaptureServer } from '../helpers/capture-server.js';
import { falcoHeaders } from '../helpers/fixtures.js';
import { freePort } from '../helpers/redis-server.js';
import { TestRedisSentinel } from '../helpers/redis-sentinel.js';
import { waitFor } from '../helpers/wait.js';

// ~20 s with five servers and two child processes: `npm run test:ha` (FALCONET_HA=full), not `npm test`.
const full = process.env.FALCONET_HA === 'full';
const redis = new TestRedisSentinel();
beforeAll(() => (full ? redis.start().then(() => undefined) : undefined), 60_000);
afterAll(async () => {
  await killAll();
  await redis.destroy();
});

const TOTAL = 300;
const KILL_AFTER = 80;

describe.runIf(full)('Sentinel failover under traffic', () => {
  it('the master is SIGKILLed while alerts flow: Falconet follows the promotion and delivers every acknowledged alert', async () => {
    const sink = await new CaptureServer().start();
    const port = await freePort();
    const doc = {
      listen: { host: '127.0.0.1', port },
      redis: { sentinels: redis.sentinels, sentinelName: redis.name, prefix: `fnt-${randomUUID().slice(0, 8)}`, embedded: false, waitReplicas: 1 },
      spool: { dir: join(redis.dir, 'spool'), deadline: '500ms' },
      dedup: { window: '10m' },
      worker: { metricsPort: 0 },
      log: { level: 'info' },
      outputs: { sink: { type: 'webhook', url: sink.url, retry: { attempts: 20, backoff: '100ms', maxBackoff: '1s' } } },
      routes: [{ outputs: ['sink'] }],
    };
    const collector = falconet('collector', writeConfig(redis.dir, doc));
    const worker = falconet('worker', writeConfig(redis.dir, doc));
    await untilLogged(collector, 'collector listening');
    await untilLogged(worker, 'worker started');

    // Falco's http_output: one alert per POST, serially. Each alert is its own event (own time and text).
    const acked: string[] = [];
    const refused: string[] = [];
    let killedAt = 0;
    let promoted: Promise<number> | undefined;
    const deadline = Date.now() + 45_000;
    for (let i = 0; i < TOTAL && Date.now() < deadline; i++) {
      const text = `alert-${i}`;
      const body = JSON.stringify({ rule: 'Terminal shell in container', priority: 'Warning', hostname: 'node-1', output: text, time: new Date(Date.UTC(2026, 11, 1, 8, 0, 0, i)).toISOString() });
      const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body, headers: falcoHeaders() }).catch(() => undefined);
      (res?.status === 200 ? acked : refused).push(text);
      if (acked.length === KILL_AFTER && killedAt === 0) {
        redis.killMaster();
        killedAt = Date.now();
        // Watched while the alerts keep flowing: when the sentinels name the replica as master.
        promoted = waitFor(async () => (await redis.masterAddress()) === redis.replicaPort, { timeoutMs: 30_000, intervalMs: 100, what: 'replica promoted' }).then(() => Date.now());
      }
      // Paced like a busy node (≈100/s), so the failover happens mid-stream.
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(killedAt).toBeGreaterThan(0);
    expect(refused).toEqual([]);
    expect(acked).toHaveLength(TOTAL);

    // The sentinels promoted the replica; alerts posted after the kill reach the sink through it.
    const promotedAt = await promoted!;
    const delivered = () => new Set(sink.requests.map((r) => (JSON.parse(r.body) as { output: string }).output));
    await waitFor(() => acked.every((t) => delivered().has(t)), { timeoutMs: 60_000, what: 'every acknowledged alert delivered' });
    const duplicates = sink.requests.length - delivered().size;
    // The spool covered the gap: what Redis could not take (or no replica confirmed) during the failover.
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const spooled = Number(/falconet_spool_spooled_alerts_total (\d+)/.exec(metrics)?.[1] ?? 0);
    expect(spooled).toBeGreaterThan(0);
    console.log(`sentinel failover: ${acked.length} acknowledged, ${delivered().size} delivered, ${duplicates} duplicates, ${spooled} spooled, replica promoted ${promotedAt - killedAt} ms after the kill`);
    expect(collector.running() && worker.running()).toBe(true);
  }, 150_000);
});
