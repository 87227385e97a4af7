import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../../src/alert/alert.js';
import { Fanout, type DispatchContext } from '../../../src/router/stages/fanout.js';
import { deliveryQueueName, type DeliveryJobData } from '../../../src/queue/names.js';
import { REDIS_URL, deletePrefix } from '../../helpers/harness.js';
import { configOf, makeAlert } from './make-alert.js';
import { waitFor } from '../../helpers/wait.js';

let redis: Redis;
let prefix: string;
let queues: Map<string, Queue<DeliveryJobData>>;
beforeEach(() => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  prefix = `fnt-fanout-${randomUUID().slice(0, 8)}`;
  queues = new Map();
});
afterEach(async () => {
  await Promise.all([...queues.values()].map((q) => q.close()));
  redis.disconnect();
  await deletePrefix(prefix);
});

const config = () =>
  configOf({
    outputs: { chat: { type: 'webhook', url: 'http://127.0.0.1:9/chat', dedup: { window: '1m', key: ['rule'] } }, one: { type: 'webhook', url: 'http://127.0.0.1:9/one' }, batched: { type: 'webhook', url: 'http://127.0.0.1:9/b', batch: { size: 100, interval: 0 } } },
    routes: [{ outputs: ['chat', 'one', 'batched'] }],
  });

function fanout(onSuppressed?: (output: string, reason: string, n: number) => void): Fanout {
  const queueFor = (name: string) => {
    let q = queues.get(name);
    if (!q) queues.set(name, (q = new Queue<DeliveryJobData>(deliveryQueueName(name), { connection: redis, prefix })));
    return q;
  };
  return new Fanout(config().outputs, queueFor, 100, { redis, prefix, onSuppressed });
}

const ctx = (jobId: string, alerts: Alert[], replay = false): DispatchContext => {
  const refs = new Map(alerts.map((a, i) => [a, `${a.id}.${i}`]));
  return { jobId, replay, refOf: (a) => refs.get(a)! };
};

const routed = (alerts: Alert[]) => new Map([['one', alerts], ['batched', alerts]]);
const stored = async (name: string) => (await queues.get(name)!.getJobs(['waiting', 'active', 'completed', 'delayed'])).flatMap((j) => j.data.alerts);

describe('fan-out (real Redis, real BullMQ queues)', () => {
  it('a replayed ingest job queues nothing twice, for a single-alert and a batched output; the skip is counted', async () => {
    const counted: Array<[string, string, number]> = [];
    const f = fanout((o, r, n) => counted.push([o, r, n]));
    const alerts = [makeAlert({ id: 'a1' }), makeAlert({ id: 'a2' })];
    await f.dispatch(routed(alerts), ctx('41', alerts));
    // The retry of job 41 (parsed again: new objects, same ids).
    const again = alerts.map((a) => ({ ...a }));
    await f.dispatch(routed(again), ctx('41', again, true));
    expect(await stored('one')).toHaveLength(2);
    expect(await stored('batched')).toHaveLength(2);
    expect(counted).toEqual(expect.arrayContaining([['one', 'replay', 2], ['batched', 'replay', 2]]));
    // Single-alert job ids name the ingest job and carry no ':' (BullMQ forbids it).
    const ids = (await queues.get('one')!.getJobs(['waiting'])).map((j) => j.id!);
    expect(ids.sort()).toEqual(['41-a1.0', '41-a2.1']);
  });

  it('a replay through storm control counts nothing twice: the alert that went out is not folded into the digest', async () => {
    const counted: Array<[string, string, number]> = [];
    const f = fanout((o, r, n) => counted.push([o, r, n]));
    const alerts = [makeAlert({ id: 's1' }), makeAlert({ id: 's2' }), makeAlert({ id: 's3' })];
    await f.dispatch(new Map([['chat', alerts]]), ctx('5', alerts));
    expect(await stored('chat')).toHaveLength(1);
    const bucket = async () => {
      const [key] = await redis.keys(`${prefix}:noise:chat:b:*[0-9]`);
      return Number(await redis.hget(key!, 'n'));
    };
    expect(await bucket()).toBe(2);
    const again = alerts.map((a) => ({ ...a }));
    await f.dispatch(new Map([['chat', again]]), ctx('5', again, true));
    expect(await stored('chat')).toHaveLength(1);
    expect(await bucket()).toBe(2);
    expect(counted).toEqual([['chat', 'storm', 2], ['chat', 'replay', 3]]);
  });

  it('the same alert in a later ingest job is queued again: delivery job ids never suppress a later repeat', async () => {
    const f = fanout();
    const a = makeAlert({ id: 'same' });
    await f.dispatch(routed([a]), ctx('1', [a]));
    await f.dispatch(routed([{ ...a }]), ctx('2', [{ ...a }]));
    expect(await stored('one')).toHaveLength(2);
    expect(await stored('batched')).toHaveLength(2);
  });

  it('only batched outputs write a ledger (single-alert job ids are enough); it is deleted when the ingest job completes', async () => {
    const f = fanout();
    const a = makeAlert({ id: 'x' });
    await f.dispatch(routed([a]), ctx('9', [a]));
    expect(await redis.hkeys(`${prefix}:fanout:9`)).toEqual(['batched|x.0']);
    expect(await redis.pttl(`${prefix}:fanout:9`)).toBeGreaterThan(0);
    f.completed('9');
    await waitFor(async () => (await redis.exists(`${prefix}:fanout:9`)) === 0, { what: 'ledger deleted' });
  });
});
