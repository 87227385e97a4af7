import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort, TestRedis } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { falconet, killAll, untilLogged, writeConfig } from './procs.js';
import { Receiver } from './receiver.js';
import { sendSteady } from './sender.js';

const tmp = mkdtempSync(join(tmpdir(), 'falconet-outage-'));
let redis: TestRedis | undefined;
let receiver: Receiver | undefined;

afterEach(async () => {
  await killAll();
  await redis?.destroy();
  await receiver?.stop();
  redis = receiver = undefined;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function doc(redisUrl: string, receiverUrl: string, port: number, extra: Record<string, unknown> = {}) {
  return {
    listen: { host: '127.0.0.1', port },
    redis: { url: redisUrl, prefix: 'outage', embedded: false },
    spool: { dir: join(tmp, 'spool') },
    log: { level: 'info' },
    dedup: { window: 0 },
    worker: { metricsPort: 0 },
    outputs: { sink: { type: 'webhook', url: `${receiverUrl}/hook`, concurrency: 4, retry: { attempts: 50, backoff: '200ms', maxBackoff: '2s' } } },
    routes: [{ outputs: ['sink'] }],
    ...extra,
  };
}

describe('every role without Redis', () => {
  it('spool: Redis down → 1,000 alerts all 200 across a collector kill -9 and restart; a worker started meanwhile waits; Redis up → each delivered once', async () => {
    redis = new TestRedis();
    redis.port = await freePort(); // not started: Redis is down from the beginning
    receiver = await new Receiver().start();
    const port = await freePort();
    // The shipped exact-duplicate dedup: a request resent because the collector died before its
    // answer (as Falco does on a timeout) may already sit in the spool; it is the same event.
    const config = writeConfig(tmp, doc(redis.url, receiver.url, port, { dedup: { window: '10m' } }));

    let collector = falconet('collector', config);
    await untilLogged(collector, 'collector listening');
    const url = () => `http://127.0.0.1:${port}/`;
    const report = { accepted: new Set<number>(), refused: new Map<number, number>(), unanswered: 0 };
    const sending = sendSteady({ url, count: 1000, rate: 250, report });
    // kill -9 in the middle of the traffic (maybe mid-write: a torn record), restart on the same spool.
    await waitFor(() => report.accepted.size >= 400, { what: '400 accepted' });
    collector.child.kill('SIGKILL');
    await collector.exit;
    collector = falconet('collector', config);
    await untilLogged(collector, 'collector listening');
    expect(collector.log()).toContain('the spool holds alerts from an earlier run');
    await sending;
    expect([...report.refused]).toEqual([]);
    expect(report.accepted.size).toBe(1000);
    console.log(`spool test: 1000 answered 200, ${report.unanswered} requests unanswered during the collector restart (resent)`);

    // A worker started while Redis is still down: it starts, says what it waits for, and waits.
    const worker = falconet('worker', config);
    await untilLogged(worker, `waiting for Redis at ${redis.url} (role worker)`);
    expect(worker.running()).toBe(true);
    expect(receiver.delivered.size).toBe(0);

    await redis.start();
    await waitFor(() => receiver!.delivered.size === 1000, { timeoutMs: 60_000, what: 'all 1,000 delivered' });
    await untilLogged(collector, 'spool replayed into Redis');
    expect(receiver.duplicates).toBe(0);
    const status = await (await fetch(`http://127.0.0.1:${port}/readyz`)).json() as { redis: string; spool: { bytes: number } };
    expect(status).toMatchObject({ redis: 'up', spool: { bytes: 0 } });

    // SIGTERM while Redis is unreachable: both still exit, well within the shutdown grace period.
    await redis.stop();
    worker.child.kill('SIGTERM');
    collector.child.kill('SIGTERM');
    await waitFor(() => !worker.running() && !collector.running(), { timeoutMs: 25_000, what: 'both exited after SIGTERM with Redis down' });
    expect((await worker.exit).signal).toBeNull();
    expect((await collector.exit).code).toBe(0);
  }, 120_000);

  it('recovery: a kill -9\'d worker\'s alerts arrive within 15 s through another worker (default lock settings)', async () => {
    redis = await new TestRedis().start();
    receiver = await new Receiver().start();
    const port = await freePort();
    // No worker.lockDuration / stalledInterval here: the defaults are what is under test.
    const config = writeConfig(tmp, doc(redis.url, receiver.url, port));
    let killedAt = 0;
    // Sends the doomed worker makes are never answered; after the kill, everything is.
    receiver.answer = () => (killedAt === 0 ? { status: 200, delayMs: 120_000 } : { status: 200 });

    const collector = falconet('collector', config);
    const doomed = falconet('worker', config);
    await untilLogged(collector, 'collector listening');
    await untilLogged(doomed, 'worker started');
    await sendSteady({ url: () => `http://127.0.0.1:${port}/`, count: 4, rate: 100, nodes: 1 });
    // All four are held by the doomed worker (sink concurrency 4), mid-send.
    await waitFor(() => receiver!.pending === 4, { what: 'four sends in flight' });
    const rescuer = falconet('worker', config);
    await untilLogged(rescuer, 'worker started');
    doomed.child.kill('SIGKILL');
    await doomed.exit;
    killedAt = Date.now();

    await waitFor(() => receiver!.delivered.size === 4, { timeoutMs: 15_000, what: 'the killed worker\'s 4 alerts delivered within 15 s' });
    const recoveredMs = Math.max(...receiver.firstAt.values()) - killedAt;
    console.log(`recovery after kill -9: ${recoveredMs} ms (default worker.lockDuration and stalledInterval)`);
  }, 90_000);
});

