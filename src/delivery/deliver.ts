import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { Alert } from '../alert/alert.js';
import { parseJson, stringifyJson } from '../alert/json.js';
import type { OutputInstance } from '../config/load.js';
import type { Metrics } from '../observability/metrics.js';
import type { DeliveryJobData } from '../queue/names.js';
import type { Output } from '../../outputs/types.js';
import { DeliveryError, isDeliveryError } from './errors.js';

export interface DeliverDeps {
  output: Output;
  instance: OutputInstance;
  metrics: Metrics;
  logger: Logger;
  /** Pauses this output's queue (all workers) for `ms`, for Retry-After. */
  pause(ms: number): Promise<void>;
  /** Records alerts a destination rejected item by item as a failed (dead-letter) job. */
  deadLetter(rejected: Array<{ json: string; reason: string }>): Promise<void>;
  /** Thrown to put the job back without spending an attempt while the queue is paused. */
  rateLimitError(): Error;
  shutdown: AbortSignal;
}

/**
 * Processes one delivery job: sends its alerts through the output and turns the outcome into what
 * BullMQ understands. Retryable errors are rethrown (BullMQ backs off and retries), permanent ones
 * become UnrecoverableError (straight to the failed set, our dead letters), Retry-After pauses the
 * whole output. Per-item outcomes shrink the job to the alerts still to retry.
 */
export function createDeliveryProcessor(deps: DeliverDeps) {
  const { instance, metrics } = deps;
  const name = instance.name;
  const log = deps.logger;

  return async (job: Job<DeliveryJobData>): Promise<void> => {
    if (job.data.rejected) throw new UnrecoverableError(job.data.rejected.join('; '));
    const alerts = job.data.alerts.map((text) => parseJson(text) as unknown as Alert);
    const deadline = sendDeadline(instance.config.timeout, deps.shutdown);
    const stopTimer = metrics.deliverySeconds.startTimer({ output: name });
    try {
      const result = await deps.output.send(alerts, { signal: deadline.signal });
      stopTimer();
      const rejected = result?.rejected ?? [];
      const retry = result?.retry ?? [];
      const ok = alerts.length - rejected.length - retry.length;
      if (ok > 0) metrics.delivered.inc({ output: name, status: 'ok' }, ok);
      if (rejected.length > 0) {
        metrics.delivered.inc({ output: name, status: 'rejected' }, rejected.length);
        await deps.deadLetter(rejected.map((r) => ({ json: stringifyJson(r.alert), reason: r.reason })));
      }
      if (retry.length > 0) {
        metrics.delivered.inc({ output: name, status: 'retry' }, retry.length);
        await job.updateData({ alerts: retry.map((a) => stringifyJson(a)) });
        throw new DeliveryError(`${retry.length} of ${alerts.length} alerts must be retried`, {
          retryable: true,
          reason: 'rejected_item',
        });
      }
    } catch (err) {
      stopTimer();
      throw await failure(err, job, alerts.length);
    } finally {
      deadline.done();
    }
  };

  async function failure(err: unknown, job: Job<DeliveryJobData>, count: number): Promise<Error> {
    if (!isDeliveryError(err)) {
      // A bug in an output (or a payload it cannot build) will not fix itself by retrying.
      metrics.deliveryFailures.inc({ output: name, reason: 'invalid_payload' });
      metrics.delivered.inc({ output: name, status: 'failed' }, count);
      log.error({ err, job: job.id }, 'output failed unexpectedly; job moved to dead letters');
      return new UnrecoverableError(`output error: ${(err as Error)?.message ?? String(err)}`);
    }
    metrics.deliveryFailures.inc({ output: name, reason: err.reason });
    if (err.retryAfterMs !== undefined && err.retryable) {
      log.warn({ job: job.id, status: err.status, pauseMs: err.retryAfterMs }, 'destination asked to wait; pausing output');
      await deps.pause(err.retryAfterMs);
      return deps.rateLimitError();
    }
    const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    if (!err.retryable || last) {
      metrics.delivered.inc({ output: name, status: 'failed' }, count);
      log.error({ job: job.id, reason: err.reason, status: err.status, err: err.message }, 'delivery failed for good');
      return err.retryable ? err : new UnrecoverableError(err.message);
    }
    log.warn({ job: job.id, reason: err.reason, status: err.status, attempt: job.attemptsMade + 1, err: err.message }, 'delivery failed; will retry');
    return err;
  }
}

/**
 * The signal of one send: aborted at the output's timeout or at shutdown. Hand-rolled rather than
 * AbortSignal.any(AbortSignal.timeout(), shutdown): on Node 20 that pair costs a few percent of the
 * worker's CPU per job and keeps every job's signal referenced from the long-lived shutdown signal.
 */
function sendDeadline(timeoutMs: number, shutdown: AbortSignal): { signal: AbortSignal; done(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException('send timed out', 'TimeoutError')), timeoutMs);
  const onShutdown = () => controller.abort(shutdown.reason);
  if (shutdown.aborted) onShutdown();
  else shutdown.addEventListener('abort', onShutdown, { once: true });
  return {
    signal: controller.signal,
    done() {
      clearTimeout(timer);
      shutdown.removeEventListener('abort', onShutdown);
    },
  };
}
