/**
 * An output's `concurrency` inside one worker process, shared by its two senders: the delivery
 * queue's jobs wait for a slot; the router's first attempts (src/delivery/direct.ts) take one only
 * if it is free at once, and queue the alert otherwise. A freed slot goes to a waiting job first,
 * so queued retries are never starved by first attempts.
 */
export class SendSlots {
  private used = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly size: number) {}

  get inUse(): number {
    return this.used;
  }

  /** A slot if one is free now (and no job waits for one), else false. */
  tryAcquire(): boolean {
    if (this.used >= this.size || this.waiters.length > 0) return false;
    this.used++;
    return true;
  }

  acquire(): Promise<void> {
    if (this.used < this.size && this.waiters.length === 0) {
      this.used++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    // The slot passes straight to the next waiter: `used` stays the same.
    if (next) next();
    else this.used--;
  }
}
