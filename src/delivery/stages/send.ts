import type { Alert } from '../../alert/alert.js';
import { parsedAlertJson } from '../../alert/json.js';
import type { Output, SendResult } from '../../../outputs/kit/types.js';

/** One send of a job's alerts, as it happened: what was sent, when, how long, and what came back. */
export interface SendAttempt {
  /** The alerts' JSON texts as queued; dead letters keep these bytes. */
  texts: string[];
  /** The parsed alerts, index for index with `texts` (empty when the job data could not be parsed). */
  alerts: Alert[];
  startedAt: number;
  seconds: number;
  /** Set when the output resolved. */
  result?: SendResult | void;
  /** Set when the output (or parsing the job) threw. */
  error?: unknown;
  failed: boolean;
}

/**
 * Stage "send": parses the job's alerts and hands them to the output with a signal that fires at
 * the output's timeout or at shutdown. Never throws: every outcome is data for the classify stage.
 */
export function createSendStage(output: Output, timeoutMs: number, shutdown: AbortSignal, now: () => number = Date.now) {
  /** `parsed`: the alerts of `texts` when the caller has them already (the router's first attempt). */
  return async (texts: string[], parsed?: Alert[]): Promise<SendAttempt> => {
    const startedAt = now();
    const started = performance.now();
    let alerts: Alert[] = [];
    const deadline = sendDeadline(timeoutMs, shutdown);
    try {
      // Job texts are what the router's alertJson wrote: kept with each parsed alert.
      alerts = parsed ?? texts.map((text) => parsedAlertJson(text) as unknown as Alert);
      const result = await output.send(alerts, { signal: deadline.signal });
      return { texts, alerts, startedAt, seconds: (performance.now() - started) / 1000, result, failed: false };
    } catch (error) {
      return { texts, alerts, startedAt, seconds: (performance.now() - started) / 1000, error, failed: true };
    } finally {
      deadline.done();
    }
  };
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
