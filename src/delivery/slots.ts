interface Waiter {
  grant: () => void;
  /** performance.now() past which an acquireWithin waiter gives up (undefined: acquire, waits for good). */
  deadline?: number;
  /** Gave up (or was granted): left in the queue until release or the sweep reaches it. */
  gone: boolean;
  giveUp?: () => void;
}

/**
 * An output's `concurrency` inside one worker process, shared by its two senders: the delivery
 * queue's jobs wait for a slot; the router's first attempts (src/delivery/direct.ts) take one if it
 * is free, or wait a short while for one, and queue the alert otherwise. Waiters are served in
 * order, so queued retries are never starved by first attempts.
 *
 * The waits with a time limit share one timer, armed for the earliest: under overload every
 * first attempt waits, and a timer of its own (set, then cleared when a slot came) was a cost per
 * alert (issue #10).
 */
export class SendSlots {
  private used = 0;
  private readonly waiters: Waiter[] = [];
  /** Waiters in `waiters` that have not gone. */
  private live = 0;
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;

  constructor(readonly size: number) {}

  get inUse(): number {
    return this.used;
  }

  /** How many wait for a slot. */
  get waiting(): number {
    return this.live;
  }

  /** A slot if one is free now (and nobody waits for one), else false. */
  tryAcquire(): boolean {
    if (this.used >= this.size || this.live > 0) return false;
    this.used++;
    return true;
  }

  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise((resolve) => this.enqueue({ grant: resolve, gone: false }));
  }

  /** A slot within `ms`: true once granted, false (and no slot taken) if none came in time. */
  acquireWithin(ms: number): Promise<boolean> {
    if (this.tryAcquire()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const deadline = performance.now() + ms;
      this.enqueue({ grant: () => resolve(true), giveUp: () => resolve(false), deadline, gone: false });
      if (deadline < this.timerAt) this.arm(deadline);
    });
  }

  release(): void {
    let next = this.waiters.shift();
    while (next?.gone) next = this.waiters.shift();
    if (!next) {
      this.used--;
      return;
    }
    // The slot passes straight to the next waiter: `used` stays the same.
    next.gone = true;
    this.live--;
    next.grant();
  }

  private enqueue(waiter: Waiter): void {
    this.waiters.push(waiter);
    this.live++;
  }

  private arm(at: number): void {
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.expire(), Math.max(0, at - performance.now()));
  }

  /** Gives up every wait whose time is over; arms the timer for the next one. */
  private expire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const waiter of this.waiters) {
      if (waiter.gone || waiter.deadline === undefined) continue;
      if (waiter.deadline <= now) {
        waiter.gone = true;
        this.live--;
        waiter.giveUp!();
      } else if (waiter.deadline < next) next = waiter.deadline;
    }
    // Gone waiters leave the queue here too, not only from its head.
    if (this.waiters.length > 2 * this.live + 16) {
      const kept = this.waiters.filter((w) => !w.gone);
      this.waiters.length = 0;
      this.waiters.push(...kept);
    }
    if (next < Infinity) this.arm(next);
  }
}
