import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort, TestRedis } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { falconet, killAll, untilLogged, writeConfig, type Proc } from './procs.js';
import { Receiver } from './receiver.js';
import { sendSteady } from './sender.js';

/**
 * The chaos run of issue #9: `falconet collector` and two `falconet worker` processes on a real
 * redis-server with AOF, Falco-shaped alerts at a steady rate while a worker is SIGKILLed twice
 * (and restarted), Redis is stopped for 6 s and restarted, and the output answers 500 for 10 s,
 * then 429 with Retry-After. Dedup is off so this isolates the queue.
 *
 * `npm test` runs the short variant (1,000 alerts at 40/s); `npm run test:chaos` the full one
 * (5,000 at 100/s, from the build in dist/).
 */
const full = process.env.FALCONET_CHAOS === 'full';
const ALERTS = full ? 5000 : 1000;
const RATE = full ? 100 : 40;

const tmp = mkdtempSync(join(tmpdir(), 'falconet-chaos-'));
let redis: TestRedis | undefined;
let receiver: Receiver | undefined;
afterEach(async () => {
  await killAll();
  await redis?.destroy();
  await receiver?.stop();
  redis = receiver = undefined;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const at = (start: number, ms: number) => new Promise((r) => setTimeout(r, Math.max(0, start + ms - Date.now())));

describe('chaos', () => {
  it(`${ALERTS} alerts through worker kills, a Redis restart, 500s and 429s: none refused, none lost, duplicates <= 1%`, async () => {
    redis = await new TestRedis({ aof: true }).start();
    receiver = await new Receiver().start();
    const port = await freePort();
    const config = writeConfig(tmp, {
      listen: { host: '127.0.0.1', port },
      redis: { url: redis.url, prefix: 'chaos', embedded: false },
      spool: { dir: join(tmp, 'spool') },
      log: { level: 'info' },
      dedup: { window: 0 },
      worker: { metricsPort: 0 },
      outputs: {
        sink: { type: 'webhook', url: `${receiver.url}/hook`, concurrency: 8, retry: { attempts: 100, backoff: '200ms', maxBackoff: '2s' } },
      },
      routes: [{ outputs: ['sink'] }],
    });
    const collector = falconet('collector', config);
    const workers: Proc[] = [falconet('worker', config), falconet('worker', config)];
    await untilLogged(collector, 'collector listening');
    for (const w of workers) await untilLogged(w, 'worker started');

    const duration = (ALERTS / RATE) * 1000;
    const events: string[] = [];
    const start = Date.now();
    const note = (what: string) => events.push(`${((Date.now() - start) / 1000).toFixed(1)}s ${what}`);
    const restartWorker = async (i: number) => {
      workers[i]!.child.kill('SIGKILL');
      await workers[i]!.exit;
      note(`worker ${i} SIGKILLed`);
      workers[i] = falconet('worker', config);
      await untilLogged(workers[i]!, 'worker started');
      note(`worker ${i} restarted`);
    };
    const scenario = (async () => {
      await at(start, duration * 0.1);
      await restartWorker(0);
      await at(start, duration * 0.25);
      await redis!.stop();
      note('redis stopped');
      await at(start, duration * 0.25 + 6000);
      await redis!.start();
      note('redis restarted');
      await at(start, duration * 0.5);
      await restartWorker(1);
      await at(start, duration * 0.6);
      receiver!.answer = () => ({ status: 500 });
      note('output answers 500');
      await at(start, duration * 0.6 + 10_000);
      receiver!.answer = () => ({ status: 429, headers: { 'retry-after': '1' } });
      note('output answers 429 Retry-After: 1');
      await at(start, duration * 0.6 + 13_000);
      receiver!.answer = () => ({ status: 200 });
      note('output answers 200');
    })();
    const report = await sendSteady({ url: () => `http://127.0.0.1:${port}/`, count: ALERTS, rate: RATE, nodes: 4 });
    note('sending done');
    await scenario;

    const accepted = [...report.accepted];
    await waitFor(() => accepted.every((seq) => receiver!.delivered.has(seq)), {
      timeoutMs: 120_000,
      intervalMs: 200,
      what: `every accepted alert delivered (${accepted.filter((s) => !receiver!.delivered.has(s)).length} missing)`,
    });
    note('all delivered');
    const duplicates = receiver.duplicates;
    console.log(
      [
        `chaos (${full ? 'full' : 'short'}): ${ALERTS} sent at ${RATE}/s; ${report.accepted.size} answered 200, ${report.refused.size} refused, ` +
          `${accepted.filter((s) => !receiver!.delivered.has(s)).length} lost, ${duplicates} duplicate deliveries ` +
          `(${((duplicates / ALERTS) * 100).toFixed(2)}%), ${receiver.refusedAnswers} sends answered 500/429`,
        ...events,
      ].join('\n  '),
    );
    expect([...report.refused]).toEqual([]);
    expect(report.accepted.size).toBe(ALERTS);
    expect(receiver.delivered.size).toBe(ALERTS);
    expect(duplicates).toBeLessThanOrEqual(ALERTS * 0.01);
    expect(collector.log()).toContain('accepting into the spool');
  }, full ? 300_000 : 150_000);
});
