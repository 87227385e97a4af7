import type { Logger } from 'pino';
import type { Metrics } from '../../observability/metrics.js';
import type { Outcome } from './classify.js';

/**
 * Stage "record": metrics and one log line per send, from the decided Outcome, so each alert is
 * counted exactly once per send under exactly one status (ok, rejected, retry, failed) and each
 * send is timed once.
 */
export function createRecordStage(metrics: Metrics, logger: Logger, output: string) {
  // Bound once: a labelled observe hashes its labels on every call (issue #10, per-alert cost).
  const seconds = metrics.deliverySeconds.labels({ output });
  const ok = metrics.deliveredCounter(output);
  const endToEnd = metrics.endToEndSeconds.labels({ output });
  return (outcome: Outcome, jobId: string | undefined, texts: readonly string[] = []): void => {
    seconds.observe(outcome.seconds);
    // Everything delivered (nearly every send): nothing to log, so no log context is built.
    if (outcome.delivered === outcome.sent && outcome.dead.length === 0 && !outcome.retry && !outcome.failure) {
      if (outcome.delivered > 0) {
        ok(outcome.delivered);
        observeEndToEnd(endToEnd, texts);
      }
      return;
    }
    const rejected = outcome.dead.filter((d) => d.kind === 'rejected').length;
    const failed = outcome.dead.length - rejected;
    const retry = outcome.retry?.texts.length ?? 0;
    const failure = outcome.failure;
    const reason = failure?.reason ?? 'none';
    if (outcome.delivered > 0) ok(outcome.delivered);
    if (rejected > 0) metrics.deliveries.inc({ output, status: 'rejected', reason: 'rejected_item' }, rejected);
    if (retry > 0) metrics.deliveries.inc({ output, status: 'retry', reason }, retry);
    if (failed > 0) metrics.deliveries.inc({ output, status: 'failed', reason }, failed);
    if (outcome.delivered > 0) observeEndToEnd(endToEnd, deliveredTexts(texts, outcome));

    const context = { job: jobId, sent: outcome.sent, delivered: outcome.delivered, sends: outcome.sends };
    if (failure?.unexpected !== undefined) {
      logger.error({ ...context, err: failure.unexpected }, 'output failed unexpectedly; alerts dead-lettered');
    } else if (failed > 0) {
      logger.error({ ...context, failed, reason: failure?.reason, status: failure?.status, gaveUp: outcome.gaveUp, err: failure?.message }, 'delivery failed for good; alerts dead-lettered');
    } else if (outcome.retry?.pauseMs !== undefined) {
      logger.warn({ ...context, retry, status: failure?.status, pauseMs: outcome.retry.pauseMs, err: failure?.message }, 'destination asked to wait; pausing output');
    } else if (retry > 0) {
      logger.warn({ ...context, retry, reason: failure?.reason, status: failure?.status, err: failure?.message }, 'delivery failed; will retry');
    }
    if (rejected > 0) {
      logger.warn({ ...context, rejected, first: outcome.dead.find((d) => d.kind === 'rejected')?.reason }, 'destination rejected alerts; dead-lettered');
    }
  };
}

/** The texts of a send that were delivered: all of them unless some were dead-lettered or kept for a retry. */
function deliveredTexts(texts: readonly string[], outcome: Outcome): readonly string[] {
  if (outcome.delivered === texts.length) return texts;
  const notDelivered = new Set<string>([...outcome.dead.map((d) => d.text), ...(outcome.retry?.texts ?? [])]);
  return texts.filter((t) => !notDelivered.has(t));
}

const TIME_KEY = '"time":"';

/** Falco event time → now. The first raw `"time":"` of a normalised alert is its own (strings escape quotes). */
function observeEndToEnd(histogram: { observe(value: number): void }, texts: readonly string[]): void {
  const now = Date.now();
  for (const text of texts) {
    const at = text.indexOf(TIME_KEY);
    if (at < 0) continue;
    const end = text.indexOf('"', at + TIME_KEY.length);
    const time = Date.parse(text.slice(at + TIME_KEY.length, end));
    if (!Number.isNaN(time)) histogram.observe(Math.max(0, (now - time) / 1000));
  }
}
