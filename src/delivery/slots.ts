interface Waiter {
  grant: () => void;
}

/**
 * An output's `concurrency` inside one worker process, shared by its two senders: the delivery
 * queue's jobs wait for a slot; the router's first attempts (src/delivery/direct.ts) take one if it
 * is free, or wait a short while for one, and queue the alert otherwise. Waiters are served in
 * order, so queued retries are never starved by first attempts.
 */
export class SendSlots {
  private used = 0;
  private readonly waiters: Waiter[] = [];

  constructor(readonly size: number) {}

  get inUse(): number {
    return this.used;
  }

  /** How many wait for a slot. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** A slot if one is free now (and nobody waits for one), else false. */
  tryAcquire(): boolean {
    if (this.used >= this.size || this.waiters.length > 0) return false;
    this.used++;
    return true;
  }

  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ grant: resolve }));
  }

  /** A slot within `ms`: true once granted, false (and no slot taken) if none came in time. */
  acquireWithin(ms: number): Promise<boolean> {
    if (this.tryAcquire()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        resolve(false);
      }, ms);
      this.waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    // The slot passes straight to the next waiter: `used` stays the same.
    if (next) next.grant();
    else this.used--;
  }
}
