import type { JobsOptions } from 'bullmq';
import type { OutputInstance } from '../config/load.js';

/** Name of the backoff strategy registered on every delivery worker (full jitter). */
export const JITTER_BACKOFF = 'falconet-jitter';

/**
 * Delivery jobs: retries per the output's config. Job ids name the ingest job (`<ingest job>-<alert
 * ref>`, digests `dg-<bucket>`), so they only ever repeat for a replay of the same ingest job or a
 * second claim of the same digest; the fan-out ledger catches replays first, and completed jobs are
 * kept 15 minutes (at most 10,000 per output) as the backstop for the moment between queueing and
 * recording. A later POST of the same alert is a new ingest job and never collides (BullMQ prunes
 * completed jobs only when later ones complete, so on a quiet install an id keyed by the alert
 * alone silently swallowed a repeat hours later). Failed ones are the dead-letter set, kept a week.
 */
export function deliveryJobOptions(output: OutputInstance): JobsOptions {
  return {
    attempts: output.config.retry.attempts,
    backoff: { type: JITTER_BACKOFF },
    removeOnComplete: { age: 900, count: 10_000 },
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}

/**
 * Exponential backoff with full jitter (AWS architecture blog): a delay drawn uniformly from
 * [0, min(max, initial·2^(attempt-1))], which spreads the retries of a burst over the whole range.
 */
export function jitterBackoff(attemptsMade: number, initialMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(random() * ceiling);
}
