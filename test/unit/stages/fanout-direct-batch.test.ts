import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Alert } from '../../../src/alert/alert.js';
import type { DeliveryAttempt } from '../../../src/delivery/deliver.js';
import { DirectSender } from '../../../src/delivery/direct.js';
import { DeliveryError } from '../../../outputs/kit/errors.js';
import { SendSlots } from '../../../src/delivery/slots.js';
import type { Outcome } from '../../../src/delivery/stages/classify.js';
import { deliveryJobOptions } from '../../../src/queue/job-options.js';
import { deliveryQueueName, type DeliveryJobData } from '../../../src/queue/names.js';
import { Fanout, type DispatchContext } from '../../../src/router/stages/fanout.js';
import { FanoutLedger } from '../../../src/router/stages/fanout-ledger.js';
import { REDIS_URL, deletePrefix } from '../../helpers/harness.js';
import { configOf, makeAlert } from './make-alert.js';

// A batched output's first attempt from the router (issue #10): a full batch is sent from the
// fan-out stage instead of becoming a delivery job; the queue is its retry path.

let redis: Redis;
let prefix: string;
let queue: Queue<DeliveryJobData>;
beforeEach(() => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  prefix = `fnt-dbatch-${randomUUID().slice(0, 8)}`;
  queue = new Queue<DeliveryJobData>(deliveryQueueName('batched'), { connection: redis, prefix });
});
afterEach(async () => {
  vi.restoreAllMocks();
  await queue.close();
  redis.disconnect();
  await deletePrefix(prefix);
});

const outputs = (size = 3) =>
  configOf({
    outputs: { batched: { type: 'webhook', url: 'http://127.0.0.1:9/b', concurrency: 1, batch: { size, interval: '10s' }, retry: { attempts: 5, backoff: '1s' } } },
    routes: [{ outputs: ['batched'] }],
  }).outputs;

const ctx = (jobId: string, alerts: Alert[], replay = false): DispatchContext => {
  const refs = new Map(alerts.map((a, i) => [a, `${a.id}.${i}`]));
  return { jobId, replay, refOf: (a) => refs.get(a)! };
};

const idOf = (text: string) => (JSON.parse(text) as { id: string }).id;

/**
 * The delivery chain as the router sees it: each send's outcome (ids it owes again), and each
 * send's alert ids. `pressureLimit`: the fan-out's (router.concurrency - 1).
 */
function rig(owed: (ids: string[]) => string[] | { pauseMs: number } = () => [], hold?: Promise<void>, { size = 3, pressureLimit = 100 } = {}) {
  const sends: string[][] = [];
  const parsedGiven: boolean[] = [];
  const attempt: DeliveryAttempt = async (texts, _history, _jobId, parsed) => {
    sends.push(texts.map(idOf));
    parsedGiven.push(parsed?.length === texts.length && parsed.every((a, i) => a.id === idOf(texts[i]!)));
    await hold;
    const answer = owed(texts.map(idOf));
    const base: Outcome = { sent: texts.length, delivered: texts.length, dead: [], firstAttemptAt: 1000, sends: 1, seconds: 0.001 };
    if (Array.isArray(answer) && answer.length === 0) return base;
    const pauseMs = Array.isArray(answer) ? undefined : answer.pauseMs;
    const retryTexts = Array.isArray(answer) ? texts.filter((t) => answer.includes(idOf(t))) : texts;
    const error = new DeliveryError('HTTP 503', { retryable: true, reason: 'server_error', status: 503, ...(pauseMs === undefined ? {} : { retryAfterMs: pauseMs }) });
    return { ...base, delivered: texts.length - retryTexts.length, retry: { texts: retryTexts, error, pauseMs } };
  };
  const instance = outputs(size).batched!;
  const slots = new SendSlots(instance.config.concurrency);
  const direct = new DirectSender(instance, { redis, queue, jobOptions: deliveryJobOptions(instance), slots, attempt, pause: (ms) => queue.rateLimit(ms) });
  const counted: Array<[string, string, number]> = [];
  const fanout = new Fanout(outputs(size), () => queue, pressureLimit, { redis, prefix, direct: () => direct, onSuppressed: (o, r, n) => counted.push([o, r, n]) });
  return { sends, parsedGiven, fanout, slots, counted };
}

const jobsIn = async () =>
  (await queue.getJobs(['waiting', 'delayed', 'active', 'completed'])).map((j) => ({ id: j.id!, alerts: j.data.alerts.map(idOf), attempts: j.opts.attempts, delay: j.opts.delay, sends: j.data.sends }));

describe('a batched output’s first attempt from the router (real Redis, real BullMQ queue)', () => {
  it('a full batch is one send from the router with the parsed alerts, and no delivery job; a replay of its entries sends none of it again', async () => {
    const { sends, parsedGiven, fanout, counted } = rig();
    const first = [makeAlert({ id: 'a1' }), makeAlert({ id: 'a2' })];
    const second = [makeAlert({ id: 'a3' })];
    // Two ingest entries fill one batch of 3 between them.
    await Promise.all([fanout.dispatch(new Map([['batched', first]]), ctx('21', first)), fanout.dispatch(new Map([['batched', second]]), ctx('22', second))]);
    expect(sends).toEqual([['a1', 'a2', 'a3']]);
    expect(parsedGiven).toEqual([true]);
    expect(await jobsIn()).toEqual([]);
    // Each entry's part of the batch is in its ledger: a replay (after a crash before the acknowledgement) skips it.
    expect(await redis.hlen(`${prefix}:fanout:21`)).toBe(2);
    const again = first.map((a) => ({ ...a }));
    await fanout.dispatch(new Map([['batched', again]]), ctx('21', again, true));
    await fanout.flushAll();
    expect(sends).toHaveLength(1);
    expect(counted).toEqual([['batched', 'replay', 2]]);
  });

  it('a send that owes some alerts again queues only those, delayed, with the history and one attempt fewer', async () => {
    const { sends, fanout } = rig((ids) => ids.filter((id) => id !== 'r2'));
    const alerts = ['r1', 'r2', 'r3'].map((id) => makeAlert({ id }));
    await fanout.dispatch(new Map([['batched', alerts]]), ctx('23', alerts));
    expect(sends).toEqual([['r1', 'r2', 'r3']]);
    const jobs = await jobsIn();
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ alerts: ['r1', 'r3'], attempts: 4, sends: 1 });
    expect(jobs[0]!.id).toMatch(/^b[0-9a-f]{40}$/);
    expect(jobs[0]!.delay).toBeGreaterThan(0);
  });

  it('a paused output (Retry-After) gets its batch queued unsent as one job with every attempt; the answer that paused it queues its own batch too', async () => {
    const { sends, fanout } = rig(() => ({ pauseMs: 5000 }));
    const first = ['p1', 'p2', 'p3'].map((id) => makeAlert({ id }));
    await fanout.dispatch(new Map([['batched', first]]), ctx('24', first));
    expect(await queue.getRateLimitTtl()).toBeGreaterThan(3000);
    const second = ['p4', 'p5', 'p6'].map((id) => makeAlert({ id }));
    await fanout.dispatch(new Map([['batched', second]]), ctx('25', second));
    expect(sends).toEqual([['p1', 'p2', 'p3']]);
    const jobs = (await jobsIn()).sort((a, b) => a.alerts[0]!.localeCompare(b.alerts[0]!));
    expect(jobs.map((j) => j.alerts)).toEqual([['p1', 'p2', 'p3'], ['p4', 'p5', 'p6']]);
    // A pause is not an attempt: both keep all five.
    expect(jobs.map((j) => j.attempts)).toEqual([5, 5]);
  });

  it('no slot frees within the wait: the batch is queued unsent, and the entry does not wait for the slow send', async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    const { sends, fanout } = rig(() => [], hold);
    const first = ['s1', 's2', 's3'].map((id) => makeAlert({ id }));
    const held = fanout.dispatch(new Map([['batched', first]]), ctx('26', first));
    await expect.poll(() => sends.length).toBe(1);
    // concurrency 1 and that send is held: the next batch waits SLOT_WAIT_MS, then becomes a job.
    const second = ['s4', 's5', 's6'].map((id) => makeAlert({ id }));
    await fanout.dispatch(new Map([['batched', second]]), ctx('27', second));
    expect((await jobsIn()).map((j) => j.alerts)).toEqual([['s4', 's5', 's6']]);
    expect(sends).toHaveLength(1);
    release();
    await held;
  });

  it('a replay of an entry whose batch was queued unsent, but not recorded in the ledger, does not send it again: its job is the record', async () => {
    const { sends, fanout, slots } = rig();
    // The output's only slot is busy (a delivery job sending): the batch waits SLOT_WAIT_MS, then becomes its job.
    expect(slots.tryAcquire()).toBe(true);
    // The ledger record after the add fails (a Redis blip; or kill -9 between the two): the entry runs again.
    const record = vi.spyOn(FanoutLedger.prototype, 'record').mockRejectedValueOnce(new Error('connection lost'));
    const alerts = ['k1', 'k2', 'k3'].map((id) => makeAlert({ id }));
    await expect(fanout.dispatch(new Map([['batched', alerts]]), ctx('31', alerts))).rejects.toThrow('connection lost');
    expect(record).toHaveBeenCalledTimes(1);
    expect((await jobsIn()).map((j) => j.alerts)).toEqual([['k1', 'k2', 'k3']]);
    slots.release();
    // The replay rebuilds the same batch (same job id) with a slot free: the job exists, so nothing is sent or added.
    const again = alerts.map((a) => ({ ...a }));
    await fanout.dispatch(new Map([['batched', again]]), ctx('31', again, true));
    expect(sends).toEqual([]);
    expect(await jobsIn()).toHaveLength(1);
    expect(await redis.hlen(`${prefix}:fanout:31`)).toBe(3);
  });

  it('a hanging destination holds at most half the router slots: a batch of more entries than that is queued, not sent from here', async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    // router.concurrency 4 (pressure limit 3): at most 1 entry may wait on a send from the router.
    const { sends, fanout } = rig(() => [], hold, { size: 4, pressureLimit: 3 });
    const settled: string[] = [];
    const runs = ['x1', 'x2', 'x3', 'x4'].map((id) => {
      const a = [makeAlert({ id })];
      return fanout.dispatch(new Map([['batched', a]]), ctx(id, a)).then(() => void settled.push(id));
    });
    // Three entries waiting on the partial batch (the pressure limit) flush it: 3 entries > 1, so it is
    // queued and they finish at once; the fourth starts a batch of its own, sent when flushed.
    await expect.poll(() => settled.sort()).toEqual(['x1', 'x2', 'x3']);
    expect((await jobsIn()).map((j) => j.alerts)).toEqual([['x1', 'x2', 'x3']]);
    await expect.poll(() => sends).toEqual([['x4']]);
    // Held by the hanging send, one router slot only.
    expect(settled).toHaveLength(3);
    release();
    await Promise.all(runs);
    expect(settled).toHaveLength(4);
  });
});
