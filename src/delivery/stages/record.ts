import type { Logger } from 'pino';
import type { Metrics } from '../../observability/metrics.js';
import type { Outcome } from './classify.js';

/**
 * Stage "record": metrics and one log line per send, from the decided Outcome, so each alert is
 * counted exactly once per send under exactly one status (ok, rejected, retry, failed) and each
 * send is timed once.
 */
export function createRecordStage(metrics: Metrics, logger: Logger, output: string) {
  return (outcome: Outcome, jobId: string | undefined): void => {
    metrics.deliverySeconds.observe({ output }, outcome.seconds);
    const rejected = outcome.dead.filter((d) => d.kind === 'rejected').length;
    const failed = outcome.dead.length - rejected;
    const retry = outcome.retry?.texts.length ?? 0;
    if (outcome.delivered > 0) metrics.delivered.inc({ output, status: 'ok' }, outcome.delivered);
    if (rejected > 0) metrics.delivered.inc({ output, status: 'rejected' }, rejected);
    if (retry > 0) metrics.delivered.inc({ output, status: 'retry' }, retry);
    if (failed > 0) metrics.delivered.inc({ output, status: 'failed' }, failed);
    const failure = outcome.failure;
    if (failure) metrics.deliveryFailures.inc({ output, reason: failure.reason });

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
