import type { Job } from 'bullmq';
import type { Alert } from '../alert/alert.js';
import type { Logger } from 'pino';
import type { OutputInstance } from '../config/load.js';
import type { DeadLetterStore } from '../dlq/store.js';
import type { Metrics } from '../observability/metrics.js';
import type { DeliveryJobData } from '../queue/names.js';
import type { Output } from '../../outputs/kit/types.js';
import { classifyAttempt, type JobHistory, type Outcome } from './stages/classify.js';
import { createDeadLetterStage } from './stages/dead-letter.js';
import { createIsolateStage } from './stages/isolate.js';
import { createRecordStage } from './stages/record.js';
import { createSendStage } from './stages/send.js';
import { withCustomFields } from './stages/custom-fields.js';
import type { SendSlots } from './slots.js';

export interface DeliverDeps {
  output: Output;
  instance: OutputInstance;
  metrics: Metrics;
  logger: Logger;
  deadLetters: DeadLetterStore;
  /** Pauses this output's queue (all workers) for `ms`, for Retry-After. */
  pause(ms: number): Promise<void>;
  /** Thrown to put the job back without spending an attempt while the queue is paused. */
  rateLimitError(): Error;
  shutdown: AbortSignal;
  /** The output's concurrency in this process, shared with the router's first attempts. */
  slots?: SendSlots;
  /** Aborted when a graceful stop begins: a job of many alerts starts no more sends. */
  stopping?: AbortSignal;
  now?: () => number;
  /** Told each send's outcome with the job's alert texts (the UI's delivery status, src/ui/record.ts); must not throw. */
  onOutcome?: (texts: readonly string[], outcome: Outcome) => void;
}

/** One send of some alerts through the chain up to settle: send → isolate → classify → dead-letter → record. */
export type DeliveryAttempt = (texts: string[], history: JobHistory, jobId: string | undefined, parsed?: Alert[]) => Promise<Outcome>;

export function createDeliveryAttempt(deps: Omit<DeliverDeps, 'pause' | 'rateLimitError' | 'slots'>): DeliveryAttempt {
  const { instance } = deps;
  const now = deps.now ?? Date.now;
  const send = createSendStage(withCustomFields(deps.output, instance.config.customFields), instance.config.timeout, deps.shutdown, now);
  const isolate = createIsolateStage(send);
  const deadLetter = createDeadLetterStage(deps.deadLetters, instance.name, now);
  const record = createRecordStage(deps.metrics, deps.logger, instance.name);
  const budget = { maxDuration: instance.config.retry.maxDuration, maxRetryAfter: instance.config.retry.maxRetryAfter };
  return async (texts, history, jobId, parsed) => {
    const sent = await send(texts, parsed);
    // Only a failed send needs isolating and only dead alerts a write: the happy path (every
    // first attempt at 500 alerts/s) skips both awaits, each a promise and a microtask turn.
    const attempt = sent.failed ? await isolate(sent) : sent;
    const outcome = classifyAttempt(attempt, history, budget, now());
    if (outcome.dead.length > 0) await deadLetter(outcome);
    record(outcome, jobId, texts);
    deps.onOutcome?.(texts, outcome);
    return outcome;
  };
}

/**
 * One output's delivery chain, as Alertmanager's notify pipeline is one chain of stages per
 * integration. The whole chain, in order:
 *
 *   storm control → overflow → queue → rate limit → send → isolate → classify → dead-letter → record → settle
 *
 * - storm control (`outputs.<name>.dedup`) and overflow (`overflow`) run on the router side, before
 *   an alert is queued (src/noise, built with fan-out): they fold repeats and backlog into digests.
 * - queue: the output's BullMQ delivery queue, one job per alert or per batch (src/router/stages/fanout.ts).
 * - rate limit: the queue's BullMQ limiter (`rateLimit`), and the queue-wide pause a Retry-After sets;
 *   both hold in Redis for every worker (src/worker/service.ts, startDelivery).
 * - send (stages/send.ts): the output's `send` under the timeout and shutdown signal; never throws.
 * - isolate (stages/isolate.ts): a batch the output could not even build is sent again alert by
 *   alert, so one alert it cannot render is dead-lettered alone.
 * - classify (stages/classify.ts): the send's one Outcome: delivered, rejected per item, retried
 *   (with or without a pause), or dead because the error is permanent or the retry budget
 *   (`retry.attempts`, `retry.maxDuration`, Retry-After capped by `retry.maxRetryAfter`) is spent.
 * - dead-letter (stages/dead-letter.ts): dead alerts to src/dlq, one record per alert and output.
 * - record (stages/record.ts): metrics and the log line, each alert counted once per send.
 * - settle (here): tells BullMQ: complete, retry the remaining alerts with backoff, or pause and retry.
 *
 * A job ends completed once each of its alerts was delivered or dead-lettered; BullMQ's failed set
 * is no longer where dead letters live (it holds only jobs a crash loop gave up on).
 */
export function createDeliveryProcessor(deps: DeliverDeps) {
  const { instance } = deps;
  const now = deps.now ?? Date.now;
  const attempt = createDeliveryAttempt(deps);

  return async (job: Job<DeliveryJobData>): Promise<void> => {
    if (job.data.rejected) return legacyDeadLetter(job);
    const history = {
      attemptsMade: job.attemptsMade,
      attempts: job.opts.attempts ?? 1,
      firstAttemptAt: job.data.firstAttemptAt,
      sends: job.data.sends ?? 0,
    };
    const texts = job.data.alerts;
    if (instance.batchSize === 1 && texts.length > 1) return settleEach(job, await attemptEach(texts, history, job.id));
    await settle(job, await inSlot(() => attempt(texts, history, job.id)));
  };

  /**
   * Several alerts for an unbatched output (queued together by the router's first attempts): each
   * is its own send, as many at once as the output's slots allow. No send starts once one was
   * answered with a Retry-After (the output is paused at once, for every worker) or a graceful
   * stop began; those alerts, and any whose attempt threw, are owed, never resent if delivered.
   */
  async function attemptEach(texts: string[], history: JobHistory, jobId: string | undefined): Promise<EachResult> {
    const outcomes: Outcome[] = [];
    const unsent: string[] = [];
    let pausedMs: number | undefined;
    let failure: Error | undefined;
    await Promise.all(
      texts.map((text) =>
        inSlot(async () => {
          if (pausedMs !== undefined || deps.stopping?.aborted || failure) return void unsent.push(text);
          try {
            const outcome = await attempt([text], history, jobId);
            outcomes.push(outcome);
            const ms = outcome.retry?.pauseMs;
            if (ms !== undefined && pausedMs === undefined) {
              pausedMs = ms;
              await deps.pause(ms);
            }
          } catch (err) {
            // A stage failed after the send (a dead-letter write, Redis down): owed; BullMQ retries the job.
            failure ??= err as Error;
            unsent.push(text);
          }
        }),
      ),
    );
    const outcome = mergeOutcomes(outcomes);
    if (outcomes.length === 0) outcome.firstAttemptAt = history.firstAttemptAt ?? now();
    return { outcome, unsent, failure };
  }

  /** settle for a job sent alert by alert: the job shrinks to its retried alerts plus the unsent ones. */
  async function settleEach(job: Job<DeliveryJobData>, { outcome, unsent, failure }: EachResult): Promise<void> {
    const owed = [...(outcome.retry?.texts ?? []), ...unsent];
    if (owed.length === 0) return;
    await job.updateData({ ...job.data, alerts: owed, firstAttemptAt: outcome.firstAttemptAt, sends: Math.max(outcome.sends, job.data.sends ?? 0) });
    if (failure) throw failure;
    // Paused, or a stop with nothing failed: back to the queue without spending an attempt.
    if (outcome.retry?.pauseMs !== undefined || !outcome.retry) throw deps.rateLimitError();
    throw outcome.retry.error;
  }

  async function inSlot<T>(fn: () => Promise<T>): Promise<T> {
    await deps.slots?.acquire();
    try {
      return await fn();
    } finally {
      deps.slots?.release();
    }
  }

  async function settle(job: Job<DeliveryJobData>, outcome: Outcome): Promise<void> {
    const retry = outcome.retry;
    if (!retry) return;
    // The job shrinks to what is left to send and remembers its history for the budget.
    await job.updateData({ ...job.data, alerts: retry.texts, firstAttemptAt: outcome.firstAttemptAt, sends: outcome.sends });
    if (retry.pauseMs !== undefined) {
      await deps.pause(retry.pauseMs);
      throw deps.rateLimitError();
    }
    throw retry.error;
  }

  /** A dead letter of the old kind (a job built to fail, from before src/dlq): moved to the store. */
  async function legacyDeadLetter(job: Job<DeliveryJobData>): Promise<void> {
    const reasons = job.data.rejected!;
    const at = now();
    await deps.deadLetters.add(
      instance.name,
      job.data.alerts.map((text, i) => {
        const alert = JSON.parse(text) as { id?: string; rule?: string };
        return { id: String(alert.id), rule: String(alert.rule ?? ''), alert: text, reason: reasons[i] ?? reasons.join('; '), attempts: 1, firstAttemptAt: job.timestamp, lastAttemptAt: at };
      }),
    );
  }
}

/** What a job sent alert by alert came to: the sends' merged outcome, the alerts not sent, a stage that threw. */
interface EachResult {
  outcome: Outcome;
  unsent: string[];
  failure?: Error;
}

/** One outcome for a job whose alerts were sent one by one: what is owed is retried together. */
export function mergeOutcomes(outcomes: readonly Outcome[]): Outcome {
  const merged: Outcome = { sent: 0, delivered: 0, dead: [], firstAttemptAt: Infinity, sends: 0, seconds: 0 };
  for (const o of outcomes) {
    merged.sent += o.sent;
    merged.delivered += o.delivered;
    merged.dead.push(...o.dead);
    merged.firstAttemptAt = Math.min(merged.firstAttemptAt, o.firstAttemptAt);
    merged.sends = Math.max(merged.sends, o.sends);
    merged.seconds = Math.max(merged.seconds, o.seconds);
    merged.failure ??= o.failure;
    merged.gaveUp ??= o.gaveUp;
    if (!o.retry) continue;
    if (!merged.retry) merged.retry = { texts: [...o.retry.texts], error: o.retry.error, pauseMs: o.retry.pauseMs };
    else {
      merged.retry.texts.push(...o.retry.texts);
      if (o.retry.pauseMs !== undefined) merged.retry.pauseMs = Math.max(merged.retry.pauseMs ?? 0, o.retry.pauseMs);
    }
  }
  return merged;
}
