import { createHash } from 'node:crypto';
import type { JobsOptions, Queue } from 'bullmq';
import type { RedisClient as Redis } from '../queue/connection.js';
import type { Alert } from '../alert/alert.js';
import type { OutputInstance } from '../config/load.js';
import { jitterBackoff } from '../queue/job-options.js';
import type { DeliveryJobData } from '../queue/names.js';
import type { DeliveryAttempt } from './deliver.js';
import type { SendSlots } from './slots.js';

/** `queue.rateLimit(ms)` (a Retry-After pause) sets the limiter counter to this; no real count gets near it. */
const PAUSED_AT = 1_000_000_000;

/**
 * How stale the pause state read from Redis may be. Reading it per ingest entry was one round
 * trip per alert at 500/s (issue #10); a pause another worker set is seen within this, and this
 * process's own Retry-After answers pause it at once.
 */
export const PAUSE_STATE_MAX_AGE_MS = 100;
/** Older than this, the pause state is read before a send rather than beside it. */
export const PAUSE_STATE_STALE_MS = 1000;

/**
 * How long a first attempt waits for one of the output's slots before its alert goes to the
 * queue. Queueing at once sent ~40 % of the alerts of a healthy destination at 500/s through a
 * delivery job (its slots are briefly all busy when a few alerts arrive together), each paying
 * three scripts and a queue hop; a destination too slow to free a slot within this spills to
 * the queue as before, so it holds routing up by no more than this (issue #10).
 */
export const SLOT_WAIT_MS = 50;

/** Alerts per delivery job when several are queued unsent together. */
export const MAX_ALERTS_PER_JOB = 32;

/** One alert the router hands to its output: the delivery job id it would have, its JSON and object. */
export interface DirectItem {
  jobId: string;
  json: string;
  alert: Alert;
}

/** What became of the items handed over: sent (then delivered, dead-lettered or queued for retry) or queued unsent. */
export interface DirectResult {
  /** Items whose first attempt this process made: each is settled (its retry, if any, is queued). */
  attempted: DirectItem[];
  /** Items that went to the delivery queue unsent (no free slot, or the output is paused). */
  queued: DirectItem[];
}

/**
 * The first attempt sent straight from the router, the output's delivery queue as the retry path
 * (issue #10): an alert of an unbatched output without a rate limit no longer pays a delivery job
 * (add, fetch, complete: three Lua scripts and 2-3 ms each idle) when its destination answers at
 * once, nor a batched output's batch its alerts' JSON written into a job and read back
 * (deliverBatch). The ingest entry holds the alert durably until then (unacknowledged), so a crash before the send is settled
 * replays it, as a crash mid-send of a delivery job does.
 *
 * Everything the queue guarantees still holds:
 * - concurrency: a first attempt needs a slot of the output's SendSlots (shared with its
 *   delivery jobs in this process, served in order); it waits for one up to SLOT_WAIT_MS (at
 *   most `maxWaiting` alerts wait at once), then the alert is queued as before, so a slow
 *   destination holds routing up by at most SLOT_WAIT_MS and never stalls it;
 * - Retry-After: while the output's queue is paused nothing is sent directly: a pause this
 *   process was answered holds at once; one another worker set (in Redis) is read at most every
 *   PAUSE_STATE_MAX_AGE_MS, so it is seen within that when alerts come often and within
 *   PAUSE_STATE_STALE_MS when they come a few per second (one alert may meet the 429 itself); a Retry-After answer to a first attempt pauses the queue and queues the alert;
 * - retry and dead letters: the outcome goes through the same chain (classify, dead-letter,
 *   record); what is owed becomes a delivery job with the job id the alert would have had, its
 *   history (first attempt, sends) and one attempt fewer, delayed by the first backoff;
 * - outputs with a rate limit never come here (their queue is their limiter).
 */
export class DirectSender {
  private readonly limiterKey: string;
  /** Until when the pause read from Redis (any worker's) and the one this process learnt itself hold. */
  private remotePausedUntil = 0;
  private localPausedUntil = 0;
  private pauseReadAt = -Infinity;
  private pauseRead?: Promise<void>;

  /** First attempts that may wait for a slot at once; beyond it alerts are queued unsent. */
  private readonly maxWaiting: number;

  constructor(
    private readonly instance: OutputInstance,
    private readonly deps: {
      redis: Redis;
      queue: Queue<DeliveryJobData>;
      jobOptions: JobsOptions;
      slots: SendSlots;
      attempt: DeliveryAttempt;
      pause(ms: number): Promise<void>;
    },
  ) {
    this.limiterKey = deps.queue.toKey('limiter');
    this.maxWaiting = Math.max(64, 16 * deps.slots.size);
  }

  /** Outputs whose first attempt can skip the queue: those without a rate limit (the queue's limiter is their only one). */
  static eligible(instance: OutputInstance): boolean {
    return !instance.config.rateLimit;
  }

  /**
   * A batched output's full (or timed-out) batch, sent here rather than queued as one delivery job
   * when a slot frees within SLOT_WAIT_MS and the output is not paused; otherwise it becomes that
   * job unsent. Resolves once it is settled: delivered, dead-lettered, or its retry queued (issue
   * #10: a queued batch paid its alerts' JSON written into the job, read back and parsed again).
   */
  async deliverBatch(jobId: string, jsons: string[], alerts: Alert[]): Promise<'attempted' | 'queued'> {
    const paused = this.paused();
    const slot = (typeof paused === 'boolean' ? paused : await paused) ? false : this.slot();
    if (slot === false || (slot !== true && !(await slot))) {
      await this.deps.queue.add(this.instance.name, { alerts: jsons }, this.jobOpts(jobId));
      return 'queued';
    }
    await this.sendOne(jobId, jsons, alerts);
    return 'attempted';
  }

  /**
   * A send slot for a first attempt: taken at once (true), refused (false: too many wait already),
   * or waited for up to SLOT_WAIT_MS (a promise; false also when a pause began meanwhile).
   */
  private slot(): boolean | Promise<boolean> {
    const slots = this.deps.slots;
    if (slots.tryAcquire()) return true;
    if (slots.waiting >= this.maxWaiting) return false;
    return slots.acquireWithin(SLOT_WAIT_MS).then((granted) => {
      if (!granted || !this.pausedNow()) return granted;
      slots.release();
      return false;
    });
  }

  /** Single-alert outputs. `onQueued`: told the alerts queued unsent once their jobs exist (the fan-out ledger records them), before the sends settle. */
  async deliver(items: DirectItem[], onQueued: (queued: DirectItem[]) => Promise<void> = async () => undefined): Promise<DirectResult> {
    const queue = async (unsent: DirectItem[]) => {
      if (unsent.length === 0) return;
      await this.queueUnsent(unsent);
      await onQueued(unsent);
    };
    // Paused by a Retry-After (any worker): everything waits in the queue. Redis not answering: the entry's run fails and runs again.
    // The state is read from Redis only when stale: otherwise no await, no microtask turn per entry.
    const paused = this.paused();
    if (typeof paused === 'boolean' ? paused : await paused) {
      await queue(items);
      return { attempted: [], queued: items };
    }
    const attempted: DirectItem[] = [];
    const queued: DirectItem[] = [];
    const sends: Array<Promise<void>> = [];
    const waits: Array<Promise<void>> = [];
    const send = (item: DirectItem) => {
      attempted.push(item);
      sends.push(this.sendOne(item.jobId, [item.json], [item.alert]));
    };
    for (const item of items) {
      const slot = this.slot();
      if (slot === true) send(item);
      else if (slot === false) queued.push(item);
      else waits.push(slot.then((granted) => (granted ? send(item) : void queued.push(item))));
    }
    if (waits.length > 0) await Promise.all(waits);
    // Every send settled before the entry's run ends, even when the queueing failed (the run then fails).
    const settled = await Promise.allSettled(queued.length > 0 ? [queue(queued), ...sends] : sends);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return { attempted, queued };
  }

  /**
   * Delivery jobs for alerts not attempted here, all attempts left: one alone keeps its usual job
   * id; several share jobs of up to MAX_ALERTS_PER_JOB, which the delivery processor sends alert by
   * alert (src/delivery/deliver.ts), so an overload or a slow destination costs one job per group,
   * not per alert. Their ids hash the alerts' own, so a replay that spills other alerts never
   * collides with an earlier job; the fan-out ledger records what was queued.
   */
  private async queueUnsent(items: DirectItem[]): Promise<void> {
    if (items.length === 0) return;
    if (items.length === 1) {
      await this.deps.queue.add(this.instance.name, { alerts: [items[0]!.json] }, this.jobOpts(items[0]!.jobId));
      return;
    }
    const jobs = [];
    for (let i = 0; i < items.length; i += MAX_ALERTS_PER_JOB) {
      const group = items.slice(i, i + MAX_ALERTS_PER_JOB);
      const jobId = `m${createHash('sha1').update(group.map((item) => item.jobId).join(',')).digest('hex')}`;
      jobs.push({ name: this.instance.name, data: { alerts: group.map((item) => item.json) }, opts: this.jobOpts(jobId) });
    }
    // addBulk is one MULTI; keep each short (as fan-out does).
    for (let i = 0; i < jobs.length; i += 20) await this.deps.queue.addBulk(jobs.slice(i, i + 20));
  }

  private pausedNow(): boolean {
    return performance.now() < Math.max(this.remotePausedUntil, this.localPausedUntil);
  }

  /**
   * Whether the output's queue is paused (a Retry-After, by any worker): Redis read at most every
   * PAUSE_STATE_MAX_AGE_MS. A promise only when the caller must wait for that read.
   */
  private paused(): boolean | Promise<boolean> {
    const now = performance.now();
    const age = now - this.pauseReadAt;
    if (age >= PAUSE_STATE_MAX_AGE_MS) {
      const read = (this.pauseRead ??= this.readPause(now).finally(() => (this.pauseRead = undefined)));
      // Up to PAUSE_STATE_STALE_MS old, the state read before serves while it is read again, so
      // alerts a few hundred ms apart do not each wait for a round trip before their send.
      if (age >= PAUSE_STATE_STALE_MS) return read.then(() => this.pausedNow());
      read.catch(() => undefined);
    }
    return this.pausedNow();
  }

  private async readPause(now: number): Promise<void> {
    const [[, value], [, ttl]] = (await this.deps.redis.multi().get(this.limiterKey).pttl(this.limiterKey).exec()) as [[unknown, string | null], [unknown, number]];
    this.pauseReadAt = now;
    this.remotePausedUntil = Number(value) >= PAUSED_AT ? now + Math.max(1, ttl) : 0;
  }

  /** A Retry-After answered here: no first attempt of this process goes out until it is over. */
  private async pauseFor(ms: number): Promise<void> {
    this.pausedFor(ms);
    await this.deps.pause(ms);
  }

  /** A Retry-After this process was answered (here or by the output's delivery jobs): first attempts hold off at once. */
  pausedFor(ms: number): void {
    this.localPausedUntil = Math.max(this.localPausedUntil, performance.now() + ms);
  }

  /** One send of a slot already acquired (released here); what is owed is queued under `jobId`. */
  private async sendOne(jobId: string, jsons: string[], alerts: Alert[]): Promise<void> {
    let outcome;
    try {
      outcome = await this.deps.attempt(jsons, { attemptsMade: 0, attempts: this.instance.config.retry.attempts, sends: 0 }, jobId, alerts);
    } finally {
      this.deps.slots.release();
    }
    const retry = outcome.retry;
    if (!retry) return;
    const data: DeliveryJobData = { alerts: retry.texts, firstAttemptAt: outcome.firstAttemptAt, sends: outcome.sends };
    const opts = this.jobOpts(jobId);
    if (retry.pauseMs !== undefined) {
      // A pause is not an attempt (as in the queue's processor): the job keeps all of them.
      await this.pauseFor(retry.pauseMs);
      await this.deps.queue.add(this.instance.name, data, opts);
      return;
    }
    const { attempts, backoff, maxBackoff } = this.instance.config.retry;
    await this.deps.queue.add(this.instance.name, data, { ...opts, attempts: Math.max(1, attempts - 1), delay: jitterBackoff(1, backoff, maxBackoff) });
  }

  private jobOpts(jobId: string): JobsOptions {
    return { ...this.deps.jobOptions, jobId };
  }
}
