import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../../src/alert/alert.js';
import type { DeliveryAttempt } from '../../../src/delivery/deliver.js';
import { DirectSender } from '../../../src/delivery/direct.js';
import { DeliveryError } from '../../../outputs/kit/errors.js';
import { SendSlots } from '../../../src/delivery/slots.js';
import type { Outcome } from '../../../src/delivery/stages/classify.js';
import { deliveryJobOptions } from '../../../src/queue/job-options.js';
import { deliveryQueueName, type DeliveryJobData } from '../../../src/queue/names.js';
import { Fanout, type DispatchContext } from '../../../src/router/stages/fanout.js';
import { REDIS_URL, deletePrefix } from '../../helpers/harness.js';
import { configOf, makeAlert } from './make-alert.js';

let redis: Redis;
let prefix: string;
let queue: Queue<DeliveryJobData>;
beforeEach(() => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  prefix = `fnt-direct-${randomUUID().slice(0, 8)}`;
  queue = new Queue<DeliveryJobData>(deliveryQueueName('one'), { connection: redis, prefix });
});
afterEach(async () => {
  await queue.close();
  redis.disconnect();
  await deletePrefix(prefix);
});

const config = () =>
  configOf({
    outputs: { one: { type: 'webhook', url: 'http://127.0.0.1:9/one', concurrency: 2, retry: { attempts: 5, backoff: '1s' } }, limited: { type: 'webhook', url: 'http://127.0.0.1:9/l', rateLimit: { max: 1, per: '1s' } } },
    routes: [{ outputs: ['one'] }],
  });

const ctx = (jobId: string, alerts: Alert[], replay = false): DispatchContext => {
  const refs = new Map(alerts.map((a, i) => [a, `${a.id}.${i}`]));
  return { jobId, replay, refOf: (a) => refs.get(a)! };
};

/** The delivery chain as seen by the router: what each send's outcome is, and which alerts were sent. */
function rig(answer: (text: string) => 'ok' | 'retry' | { pauseMs: number } = () => 'ok', hold?: Promise<void>, failingAdds: Record<string, () => Promise<never>> = {}) {
  const sent: string[] = [];
  const attempt: DeliveryAttempt = async (texts) => {
    sent.push(...texts.map((t) => (JSON.parse(t) as { id: string }).id));
    await hold;
    const a = answer(texts[0]!);
    const base: Outcome = { sent: 1, delivered: a === 'ok' ? 1 : 0, dead: [], firstAttemptAt: 1000, sends: 1, seconds: 0.001 };
    if (a === 'ok') return base;
    const error = new DeliveryError('HTTP 503', { retryable: true, reason: 'server_error', status: 503, ...(a === 'retry' ? {} : { retryAfterMs: a.pauseMs }) });
    return { ...base, retry: { texts, error, pauseMs: a === 'retry' ? undefined : a.pauseMs } };
  };
  const instance = config().outputs.one!;
  const slots = new SendSlots(instance.config.concurrency);
  const direct = new DirectSender(instance, { redis, queue, jobOptions: deliveryJobOptions(instance), slots, attempt, pause: (ms) => queue.rateLimit(ms) });
  const counted: Array<[string, string, number]> = [];
  const queueFor = (name: string) => (failingAdds[name] ? ({ ...queue, addBulk: failingAdds[name], toKey: queue.toKey.bind(queue) } as unknown as Queue<DeliveryJobData>) : queue);
  const fanout = new Fanout(config().outputs, queueFor, 100, { redis, prefix, direct: (n) => (n === 'one' ? direct : undefined), onSuppressed: (o, r, n) => counted.push([o, r, n]) });
  return { sent, fanout, slots, counted };
}

const jobsIn = async () => (await queue.getJobs(['waiting', 'delayed', 'active', 'completed'])).map((j) => ({ id: j.id, data: j.data, attempts: j.opts.attempts, delay: j.opts.delay }));

describe('first attempt from the router (real Redis, real BullMQ queue)', () => {
  it('a delivered alert costs no delivery job; when another output of its entry fails, the replay sends it no second time', async () => {
    const { sent, fanout, counted } = rig(undefined, undefined, {
      // The other output's queueing fails at once, before the direct sends finish.
      limited: async () => {
        throw new Error('Redis went away');
      },
    });
    const alerts = [makeAlert({ id: 'd1' }), makeAlert({ id: 'd2' })];
    await expect(fanout.dispatch(new Map([['one', alerts], ['limited', alerts]]), ctx('7', alerts))).rejects.toThrow('Redis went away');
    // The entry's run failed while the direct sends were still out; they finish and are recorded
    // (the failed output never counts as settled), long before a worker takes the entry over.
    await expect.poll(() => redis.hlen(`${prefix}:fanout:7`)).toBe(2);
    expect(sent.sort()).toEqual(['d1', 'd2']);
    expect(await jobsIn()).toEqual([]);
    const again = alerts.map((a) => ({ ...a }));
    await fanout.dispatch(new Map([['one', again]]), ctx('7', again, true));
    expect(sent).toHaveLength(2);
    expect(counted).toEqual([['one', 'replay', 2]]);
  });

  it('the last output of an entry to finish writes no ledger: the entry is acknowledged next, which is its record', async () => {
    const { sent, fanout } = rig();
    const alerts = [makeAlert({ id: 'e1' }), makeAlert({ id: 'e2' })];
    await fanout.dispatch(new Map([['one', alerts]]), ctx('12', alerts));
    expect(sent.sort()).toEqual(['e1', 'e2']);
    expect(await redis.exists(`${prefix}:fanout:12`)).toBe(0);
  });

  it('no free slot: the alert is queued unsent, with its usual job id, and a replay does not queue it again', async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    const { sent, fanout } = rig(() => 'ok', hold);
    const alerts = [makeAlert({ id: 's1' }), makeAlert({ id: 's2' }), makeAlert({ id: 's3' })];
    const dispatched = fanout.dispatch(new Map([['one', alerts]]), ctx('8', alerts));
    // concurrency 2: two are sent (held), the third goes to the queue.
    await expect.poll(async () => (await jobsIn()).map((j) => j.id)).toEqual(['8-s3.2']);
    expect(sent.sort()).toEqual(['s1', 's2']);
    release();
    await dispatched;
    // The replay (only after a crash before the entry's acknowledgement) finds the queued one's job.
    const again = alerts.map((a) => ({ ...a }));
    await fanout.dispatch(new Map([['one', again]]), ctx('8', again, true));
    expect(await jobsIn()).toHaveLength(1);
    expect(sent).toHaveLength(2);
  });

  it('several alerts queued unsent share one job, recorded before the sends settle: a replay meanwhile sends and queues none of them', async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    const { sent, fanout, counted } = rig(() => 'ok', hold);
    const alerts = ['m1', 'm2', 'm3', 'm4', 'm5'].map((id) => makeAlert({ id }));
    const dispatched = fanout.dispatch(new Map([['one', alerts]]), ctx('14', alerts));
    // concurrency 2: two sent and held; three wait SLOT_WAIT_MS, then go to one job.
    await expect.poll(async () => (await jobsIn()).map((j) => j.data.alerts.length)).toEqual([3]);
    await expect.poll(() => redis.hlen(`${prefix}:fanout:14`)).toBe(3);
    // A replay while the first run still waits on its two sends (a stall taken over by another worker).
    const again = alerts.map((a) => ({ ...a }));
    const replay = fanout.dispatch(new Map([['one', again]]), ctx('14', again, true));
    release();
    await Promise.all([dispatched, replay]);
    expect(sent.sort()).toEqual(['m1', 'm2', 'm1', 'm2'].sort());
    expect((await jobsIn()).map((j) => j.id)).toEqual([expect.stringMatching(/^m[0-9a-f]{40}$/)]);
    expect(counted).toEqual([['one', 'replay', 3]]);
  });

  it('a slot freed while an alert waits for one: it is sent from the router, no delivery job', async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    const { sent, fanout } = rig(() => 'ok', hold);
    const alerts = [makeAlert({ id: 'w1' }), makeAlert({ id: 'w2' }), makeAlert({ id: 'w3' })];
    const dispatched = fanout.dispatch(new Map([['one', alerts]]), ctx('13', alerts));
    await expect.poll(() => sent.length).toBe(2);
    release(); // both slots free at once, well within SLOT_WAIT_MS
    await dispatched;
    expect(sent.sort()).toEqual(['w1', 'w2', 'w3']);
    expect(await jobsIn()).toEqual([]);
  });

  it('a retryable failure becomes a delayed delivery job holding the history, one attempt fewer', async () => {
    const { sent, fanout } = rig(() => 'retry');
    const a = makeAlert({ id: 'r1' });
    await fanout.dispatch(new Map([['one', [a]]]), ctx('9', [a]));
    expect(sent).toEqual(['r1']);
    const [job, ...rest] = await jobsIn();
    expect(rest).toEqual([]);
    expect(job).toMatchObject({ id: '9-r1.0', attempts: 4, data: { firstAttemptAt: 1000, sends: 1 } });
    expect(job!.delay).toBeLessThanOrEqual(1000);
    expect(JSON.parse(job!.data.alerts[0]!).id).toBe('r1');
  });

  it('a paused output (Retry-After, set by any worker) gets nothing directly; a Retry-After answer pauses it and queues the alert', async () => {
    const { sent, fanout } = rig(() => ({ pauseMs: 5000 }));
    const first = makeAlert({ id: 'p1' });
    await fanout.dispatch(new Map([['one', [first]]]), ctx('10', [first]));
    expect(sent).toEqual(['p1']);
    expect(await queue.getRateLimitTtl()).toBeGreaterThan(3000);
    // The pause holds in Redis: the next alert is queued unsent.
    const second = makeAlert({ id: 'p2' });
    await fanout.dispatch(new Map([['one', [second]]]), ctx('11', [second]));
    expect(sent).toEqual(['p1']);
    const jobs = await jobsIn();
    expect(jobs.map((j) => j.id).sort()).toEqual(['10-p1.0', '11-p2.0']);
    // A pause is not an attempt: the paused alert's job keeps all five.
    expect(jobs.find((j) => j.id === '10-p1.0')).toMatchObject({ attempts: 5, data: { sends: 1 } });
  });

  it('outputs without a rate limit send first attempts from the router, batched ones too', () => {
    const outputs = configOf({
      outputs: { one: { type: 'webhook', url: 'http://127.0.0.1:9/a' }, limited: { type: 'webhook', url: 'http://127.0.0.1:9/l', rateLimit: { max: 1, per: '1s' } }, batched: { type: 'webhook', url: 'http://127.0.0.1:9/b', batch: { size: 10 } }, slack: { type: 'slack', webhookUrl: 'https://hooks.slack.com/services/T/B/x' } },
      routes: [{ outputs: ['one'] }],
    }).outputs;
    expect(Object.fromEntries(Object.entries(outputs).map(([n, i]) => [n, DirectSender.eligible(i)]))).toEqual({ one: true, limited: false, batched: true, slack: false });
  });
});

describe('send slots', () => {
  it('a freed slot goes to a waiting job before any first attempt', async () => {
    const slots = new SendSlots(1);
    expect(slots.tryAcquire()).toBe(true);
    let got = false;
    const waiting = slots.acquire().then(() => (got = true));
    expect(slots.tryAcquire()).toBe(false);
    slots.release();
    await waiting;
    expect(got).toBe(true);
    expect(slots.tryAcquire()).toBe(false);
    slots.release();
    expect(slots.tryAcquire()).toBe(true);
  });

  it('a bounded wait ends without a slot when none is freed, and takes its place in line when one is', async () => {
    const slots = new SendSlots(1);
    expect(slots.tryAcquire()).toBe(true);
    expect(await slots.acquireWithin(20)).toBe(false);
    expect(slots.waiting).toBe(0);
    const job = slots.acquire();
    const attempt = slots.acquireWithin(10_000);
    slots.release(); // to the job, first in line
    await job;
    expect(slots.waiting).toBe(1);
    slots.release(); // to the waiting attempt
    expect(await attempt).toBe(true);
    expect(slots.inUse).toBe(1);
  });
});
