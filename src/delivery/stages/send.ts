import { setMaxListeners } from 'node:events';
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

/** Sends started within one slice of time: they share one signal, aborted once the last of their deadlines passed. */
interface DeadlineGroup {
  controller: AbortController;
  /** Latest deadline of a send in this group: its slice's end plus the timeout. */
  deadline: number;
  /** Sends of this group still running. */
  running: number;
}

/**
 * The signals of one output's sends: each aborted at the output's timeout or at shutdown.
 * Hand-rolled rather than AbortSignal.any(AbortSignal.timeout(), shutdown), which on Node 20
 * cost a few percent of the worker's CPU per send and kept every signal referenced from the
 * long-lived shutdown signal; and one clock per output rather than a timer and a shutdown
 * listener per send (another 3 % at 500 alerts/s, issue #10).
 *
 * Nor a signal per send: the sends started within one slice (half the sweep period) share one,
 * aborted when the slice's last deadline passed, so a send is aborted at most one sweep period
 * late, as with a signal of its own, and never early. A send that finished is not affected:
 * whoever listened for it (undici) let go when it ended. Every send of an output has the same
 * timeout, so the groups' deadlines come in the order they were opened: a sweep looks only at
 * the oldest.
 */
class SendDeadlines {
  private readonly groups: DeadlineGroup[] = [];
  private head = 0;
  private current?: DeadlineGroup;
  private currentUntil = -Infinity;
  private sweeper?: NodeJS.Timeout;
  /** Swept this often (a twentieth of the timeout, 10-250 ms): a send is aborted that much late at most. */
  private readonly period: number;

  constructor(
    private readonly timeoutMs: number,
    private readonly shutdown: AbortSignal,
  ) {
    this.period = Math.min(250, Math.max(10, timeoutMs / 20));
    shutdown.addEventListener('abort', () => {
      for (let i = this.head; i < this.groups.length; i++) this.groups[i]!.controller.abort(shutdown.reason);
    }, { once: true });
  }

  start(): { signal: AbortSignal; done(): void } {
    const now = performance.now();
    let group = this.current;
    if (!group || now >= this.currentUntil || group.controller.signal.aborted) {
      const slice = this.period / 2;
      const controller = new AbortController();
      // Every send of the slice may listen to it at once: many listeners are expected, not a leak.
      setMaxListeners(0, controller.signal);
      if (this.shutdown.aborted) controller.abort(this.shutdown.reason);
      group = { controller, deadline: now + slice + this.timeoutMs, running: 0 };
      this.current = group;
      this.currentUntil = now + slice;
      this.groups.push(group);
      this.sweeper ??= setInterval(() => this.sweep(), slice).unref();
    }
    const mine = group;
    mine.running++;
    let finished = false;
    return {
      signal: mine.controller.signal,
      done: () => {
        if (finished) return;
        finished = true;
        mine.running--;
      },
    };
  }

  private sweep(): void {
    const now = performance.now();
    while (this.head < this.groups.length) {
      const group = this.groups[this.head]!;
      if (group.deadline > now) break;
      if (group.running > 0) group.controller.abort(new DOMException('send timed out', 'TimeoutError'));
      if (group === this.current) this.current = undefined;
      this.head++;
    }
    if (this.head > 1024 || this.head === this.groups.length) {
      this.groups.splice(0, this.head);
      this.head = 0;
    }
    if (this.groups.length === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}
