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
 * once. The ingest entry holds the alert durably until then (unacknowledged), so a crash before the send is settled
 * replays it, as a crash mid-send of a delivery job does.
 *
 * Everything the queue guarantees still holds:
 * - concurrency: a first attempt needs a free slot of the output's SendSlots (shared with its
 *   delivery jobs in this process); none free → the alert is queued as before, so a slow
 *   destination holds at most `concurrency` ingest entries and never stalls routing;
 * - Retry-After: while the output's queue is paused (in Redis, by any worker) nothing is sent
 *   directly; a Retry-After answer to a first attempt pauses the queue and queues the alert;
 * - retry and dead letters: the outcome goes through the same chain (classify, dead-letter,
 *   record); what is owed becomes a delivery job with the job id the alert would have had, its
 *   history (first attempt, sends) and one attempt fewer, delayed by the first backoff;
 * - outputs with a rate limit or batching never come here (their queue is their limiter).
 */
export class DirectSender {
  private readonly limiterKey: string;
  private pausedUntil = 0;
  private pauseReadAt = -Infinity;
  private pauseRead?: Promise<void>;

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
  }

  /** Outputs whose first attempt can skip the queue: one alert per send and no rate limit. */
  static eligible(instance: OutputInstance): boolean {
    return instance.batchSize === 1 && !instance.config.rateLimit;
  }

  async deliver(items: DirectItem[]): Promise<DirectResult> {
    // Slots first (local, free): a saturated output (a backlog, every slot busy) costs no Redis read.
    let granted = 0;
    while (granted < items.length && this.deps.slots.tryAcquire()) granted++;
    if (granted > 0) {
      let paused = true;
      try {
        paused = await this.paused();
      } finally {
        // Not sending (paused, or Redis did not answer: the entry's run fails and runs again).
        if (paused) for (; granted > 0; granted--) this.deps.slots.release();
      }
    }
    const attempted = items.slice(0, granted);
    const queued = items.slice(granted);
    const sends = attempted.map((item) => this.sendOne(item));
    if (queued.length === 1) {
      const job = this.job(queued[0]!, { alerts: [queued[0]!.json] });
      await this.deps.queue.add(job.name, job.data, job.opts);
    }
    // addBulk is one MULTI; keep each short (as fan-out does).
    for (let i = 0; queued.length > 1 && i < queued.length; i += 200) {
      await this.deps.queue.addBulk(queued.slice(i, i + 200).map((item) => this.job(item, { alerts: [item.json] })));
    }
    await Promise.all(sends);
    return { attempted, queued };
  }

  /** Whether the output's queue is paused (a Retry-After, by any worker), read at most every PAUSE_STATE_MAX_AGE_MS. */
  private async paused(): Promise<boolean> {
    const now = performance.now();
    if (now - this.pauseReadAt >= PAUSE_STATE_MAX_AGE_MS) {
      this.pauseRead ??= this.readPause(now).finally(() => (this.pauseRead = undefined));
      await this.pauseRead;
    }
    return performance.now() < this.pausedUntil;
  }

  private async readPause(now: number): Promise<void> {
    const [[, value], [, ttl]] = (await this.deps.redis.multi().get(this.limiterKey).pttl(this.limiterKey).exec()) as [[unknown, string | null], [unknown, number]];
    this.pauseReadAt = now;
    this.pausedUntil = Number(value) >= PAUSED_AT ? now + Math.max(1, ttl) : 0;
  }

  /** A Retry-After answered here: no first attempt of this process goes out until it is over. */
  private async pauseFor(ms: number): Promise<void> {
    this.pausedUntil = Math.max(this.pausedUntil, performance.now() + ms);
    await this.deps.pause(ms);
  }

  private async sendOne(item: DirectItem): Promise<void> {
    let outcome;
    try {
      outcome = await this.deps.attempt([item.json], { attemptsMade: 0, attempts: this.instance.config.retry.attempts, sends: 0 }, item.jobId, [item.alert]);
    } finally {
      this.deps.slots.release();
    }
    const retry = outcome.retry;
    if (!retry) return;
    const data: DeliveryJobData = { alerts: retry.texts, firstAttemptAt: outcome.firstAttemptAt, sends: outcome.sends };
    if (retry.pauseMs !== undefined) {
      // A pause is not an attempt (as in the queue's processor): the job keeps all of them.
      await this.pauseFor(retry.pauseMs);
      await this.deps.queue.add(this.instance.name, data, this.job(item, data).opts);
      return;
    }
    const { attempts, backoff, maxBackoff } = this.instance.config.retry;
    const opts = { ...this.job(item, data).opts, attempts: Math.max(1, attempts - 1), delay: jitterBackoff(1, backoff, maxBackoff) };
    await this.deps.queue.add(this.instance.name, data, opts);
  }

  private job(item: DirectItem, data: DeliveryJobData) {
    return { name: this.instance.name, data, opts: { ...this.deps.jobOptions, jobId: item.jobId } };
  }
}
