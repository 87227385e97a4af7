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
  const deadlines = new SendDeadlines(timeoutMs, shutdown);
  /** `parsed`: the alerts of `texts` when the caller has them already (the router's first attempt). */
  return async (texts: string[], parsed?: Alert[]): Promise<SendAttempt> => {
    const startedAt = now();
    const started = performance.now();
    let alerts: Alert[] = [];
    const deadline = deadlines.start();
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
 * The signals of one output's sends: each aborted at the output's timeout or at shutdown.
 * Hand-rolled rather than AbortSignal.any(AbortSignal.timeout(), shutdown), which on Node 20
 * cost a few percent of the worker's CPU per send and kept every signal referenced from the
 * long-lived shutdown signal; and one clock per output rather than a timer and a shutdown
 * listener per send (another 3 % at 500 alerts/s, issue #10). Every send of an output has the
 * same timeout, so deadlines come in the order sends start: a sweep looks only at the oldest.
 */
class SendDeadlines {
  private readonly running: Array<{ controller: AbortController; deadline: number; done: boolean }> = [];
  private head = 0;
  private sweeper?: NodeJS.Timeout;
  private readonly active = new Set<AbortController>();

  constructor(
    private readonly timeoutMs: number,
    private readonly shutdown: AbortSignal,
  ) {
    shutdown.addEventListener('abort', () => {
      for (const controller of this.active) controller.abort(shutdown.reason);
    }, { once: true });
  }

  start(): { signal: AbortSignal; done(): void } {
    const controller = new AbortController();
    if (this.shutdown.aborted) controller.abort(this.shutdown.reason);
    const entry = { controller, deadline: performance.now() + this.timeoutMs, done: false };
    this.running.push(entry);
    this.active.add(controller);
    // Swept at a twentieth of the timeout (10-250 ms): a send is aborted that much late at most.
    this.sweeper ??= setInterval(() => this.sweep(), Math.min(250, Math.max(10, this.timeoutMs / 20))).unref();
    return {
      signal: controller.signal,
      done: () => {
        entry.done = true;
        this.active.delete(controller);
      },
    };
  }

  private sweep(): void {
    const now = performance.now();
    while (this.head < this.running.length) {
      const entry = this.running[this.head]!;
      if (!entry.done && entry.deadline > now) break;
      if (!entry.done) {
        entry.done = true;
        this.active.delete(entry.controller);
        entry.controller.abort(new DOMException('send timed out', 'TimeoutError'));
      }
      this.head++;
    }
    if (this.head > 1024 || this.head === this.running.length) {
      this.running.splice(0, this.head);
      this.head = 0;
    }
    if (this.running.length === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}
