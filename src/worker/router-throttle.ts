import { performance } from 'node:perf_hooks';

export interface ThrottleOptions {
  /** Delivery jobs waiting (all outputs of this worker) above which routing may pause… */
  highBacklog?: number;
  /** …and below which it resumes. */
  lowBacklog?: number;
  /** Event-loop utilisation above which the process counts as CPU-bound… */
  highUtilisation?: number;
  /** …and below which it no longer does. */
  lowUtilisation?: number;
  everyMs?: number;
}

/**
 * Fair share between routing and delivery inside one worker process. Routing a large
 * group-committed ingest job is cheap per alert; delivering costs a job and a request per alert.
 * Unchecked, a CPU-bound worker routes everything into the delivery queues while delivery starves
 * (measured: 4,500 alerts/s routed, 278/s delivered). So routing waits while the process is
 * CPU-bound AND its delivery queues hold a backlog; the surplus stays in the ingest queue, just as
 * durable. A slow or rate-limited destination does not load the event loop, so it never holds up
 * routing to the other outputs.
 */
export class RouterThrottle {
  private timer?: NodeJS.Timeout;
  private lastElu = performance.eventLoopUtilization();
  private paused = false;
  private waiters: Array<() => void> = [];
  private sampling = false;

  constructor(
    private readonly deliveryBacklog: () => Promise<number>,
    private readonly opts: ThrottleOptions = {},
  ) {}

  get isPaused(): boolean {
    return this.paused;
  }

  start(): void {
    this.timer = setInterval(() => void this.sample(), this.opts.everyMs ?? 250);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.release();
  }

  /** Resolves at once unless routing is paused; then when it resumes. */
  admit(): Promise<void> {
    if (!this.paused) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** One decision; the arguments are for tests (defaults: measured now). */
  async sample(utilisation?: number, backlog?: number): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const elu = utilisation ?? this.measureElu();
      if (!this.paused && elu < (this.opts.highUtilisation ?? 0.85)) return;
      const waiting = backlog ?? (await this.deliveryBacklog());
      if (!this.paused && waiting >= (this.opts.highBacklog ?? 2000)) this.paused = true;
      else if (this.paused && (waiting <= (this.opts.lowBacklog ?? 500) || elu <= (this.opts.lowUtilisation ?? 0.6))) {
        this.release();
      }
    } catch {
      // Redis hiccup: keep the current decision; the next sample decides again.
    } finally {
      this.sampling = false;
    }
  }

  private measureElu(): number {
    const now = performance.eventLoopUtilization();
    const delta = performance.eventLoopUtilization(now, this.lastElu);
    this.lastElu = now;
    return delta.utilization;
  }

  private release(): void {
    this.paused = false;
    for (const resolve of this.waiters.splice(0)) resolve();
  }
}
