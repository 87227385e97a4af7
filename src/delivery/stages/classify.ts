import { createHash } from 'node:crypto';
import type { Alert } from '../../alert/alert.js';
import { DeliveryError, isDeliveryError, type FailureReason } from '../../../outputs/kit/errors.js';
import type { SendAttempt } from './send.js';

/** How long retrying may go on (the output's `retry.maxDuration`, `retry.maxRetryAfter`). */
export interface RetryBudget {
  maxDuration: number;
  maxRetryAfter: number;
}

/** What the job has been through before this send. */
export interface JobHistory {
  /** BullMQ's attempts made (Retry-After pauses do not count) and allowed. */
  attemptsMade: number;
  attempts: number;
  /** When the first send of this job happened, if an earlier one failed. */
  firstAttemptAt?: number;
  /** Sends before this one (pauses included). */
  sends: number;
}

/** An alert that leaves the delivery queue for the dead letters. */
export interface DeadItem {
  id: string;
  rule: string;
  text: string;
  reason: string;
  status?: number;
  /** `rejected`: the destination refused this one alert; `failed`: the whole send failed for good. */
  kind: 'rejected' | 'failed';
}

/** The outcome of one send, decided once: every alert of the job is in exactly one bucket. */
export interface Outcome {
  sent: number;
  delivered: number;
  dead: DeadItem[];
  /** Alerts to send again: after the output's pause (Retry-After) or after BullMQ's backoff. */
  retry?: { texts: string[]; error: DeliveryError; pauseMs?: number };
  /** What went wrong with the send, for the failure metric and the log. */
  failure?: { reason: FailureReason; status?: number; message: string; unexpected?: unknown };
  /** Why retrying ended (only with dead items of kind `failed`). */
  gaveUp?: 'permanent' | 'retry.attempts' | 'retry.maxDuration';
  firstAttemptAt: number;
  /** Sends of this job including this one. */
  sends: number;
  seconds: number;
}

/**
 * Stage "classify": turns a send attempt into an Outcome. Per-item results split the job (delivered,
 * rejected, retried); a retryable failure is retried while the budget lasts (BullMQ attempts for
 * backoff retries; `retry.maxDuration` from the first send for every retry, a Retry-After pause
 * counted in); otherwise the alerts are dead-lettered with the reason.
 */
export function classifyAttempt(attempt: SendAttempt, history: JobHistory, budget: RetryBudget, now: number): Outcome {
  const firstAttemptAt = history.firstAttemptAt ?? attempt.startedAt;
  const sent = attempt.texts.length;
  const sends = history.sends + 1;
  // Everything delivered (nearly every send): no per-item bookkeeping, no closures.
  const result = attempt.failed ? undefined : (attempt.result ?? undefined);
  if (!attempt.failed && !result?.rejected?.length && !result?.retry?.length) {
    return { sent, delivered: sent, dead: [], firstAttemptAt, sends, seconds: attempt.seconds };
  }
  const base = { sent, firstAttemptAt, sends, seconds: attempt.seconds };
  const item = (i: number, reason: string, kind: DeadItem['kind'], status?: number): DeadItem => ({
    ...identify(attempt.alerts[i], attempt.texts[i]!),
    text: attempt.texts[i]!,
    reason,
    status,
    kind,
  });
  const all = (reason: string, status?: number) => attempt.texts.map((_, i) => item(i, reason, 'failed', status));

  if (!attempt.failed) {
    const index = new Map<Alert, number>(attempt.alerts.map((a, i) => [a, i]));
    const dead = (result?.rejected ?? []).map((r) => item(index.get(r.alert)!, r.reason, 'rejected'));
    const retryIndexes = (result?.retry ?? []).map((a) => index.get(a)!);
    const delivered = base.sent - dead.length - retryIndexes.length;
    if (retryIndexes.length === 0) return { ...base, delivered, dead };
    const error = new DeliveryError(`${retryIndexes.length} of ${base.sent} alerts must be retried`, { retryable: true, reason: 'rejected_item' });
    const outcome: Outcome = { ...base, delivered, dead, failure: { reason: error.reason, message: error.message } };
    const texts = retryIndexes.map((i) => attempt.texts[i]!);
    return retryOrGiveUp(outcome, texts, error, (reason) => retryIndexes.map((i) => item(i, reason, 'failed')));
  }

  const err = attempt.error;
  if (!isDeliveryError(err)) {
    // A bug in an output (or a payload it cannot build) will not fix itself by retrying.
    const message = `output error: ${(err as Error)?.message ?? String(err)}`;
    return {
      ...base,
      delivered: 0,
      dead: all(message),
      failure: { reason: 'invalid_payload', message, unexpected: err },
      gaveUp: 'permanent',
    };
  }
  const outcome: Outcome = { ...base, delivered: 0, dead: [], failure: { reason: err.reason, status: err.status, message: err.message } };
  if (!err.retryable) return { ...outcome, dead: all(err.message, err.status), gaveUp: 'permanent' };
  return retryOrGiveUp(outcome, attempt.texts, err, (reason) => all(reason, err.status));

  function retryOrGiveUp(outcome: Outcome, texts: string[], error: DeliveryError, deadAs: (reason: string) => DeadItem[]): Outcome {
    // Retry-After 0 or a date in the past: no pause, an ordinary (prompt, jittered) retry.
    const pauseMs = error.retryAfterMs && error.retryAfterMs > 0 ? Math.min(error.retryAfterMs, budget.maxRetryAfter) : undefined;
    let gaveUp: Outcome['gaveUp'];
    if (pauseMs === undefined && history.attemptsMade + 1 >= history.attempts) gaveUp = 'retry.attempts';
    else if (now - firstAttemptAt + (pauseMs ?? 0) >= budget.maxDuration) gaveUp = 'retry.maxDuration';
    if (!gaveUp) return { ...outcome, retry: { texts, error, pauseMs } };
    const reason = `${error.message} (gave up after ${outcome.sends} sends in ${Math.round((now - firstAttemptAt) / 1000)} s: ${gaveUp})`;
    return { ...outcome, dead: [...outcome.dead, ...deadAs(reason)], gaveUp };
  }
}

/** The alert's id and rule for its dead letter; a text that did not even parse gets a content id. */
function identify(alert: Alert | undefined, text: string): { id: string; rule: string } {
  if (alert && typeof alert.id === 'string') return { id: alert.id, rule: String(alert.rule ?? '') };
  return { id: createHash('sha256').update(text).digest('hex').slice(0, 32), rule: '' };
}
