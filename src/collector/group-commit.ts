interface Submission<T> {
  items: T[];
  weight: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: the first submission is written at once; submissions arriving while a write is in
 * flight wait and go together in the next write. Falco sends serially (one request in flight per
 * node), so acknowledging fast matters more than batching by timer: no timer ever delays a write.
 */
export class GroupCommitter<T> {
  private queue: Submission<T>[] = [];
  private writing = false;

  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    /**
     * No write holds more than this many items: a backlog is cut into writes of whole small
     * submissions, and a submission larger than this (an NDJSON or array request) into parts.
     * Big enough to amortise a job (BullMQ moves ~80k alerts/s at 100 per job), small enough that
     * no single Redis transaction downstream (the router's fan-out of one job) stalls everyone else.
     */
    private readonly maxItems = 1000,
    /** How many items one T counts for (the collector's T is a request's alerts: their number). */
    private readonly weigh: (item: T) => number = () => 1,
  ) {}

  /** Resolves once all of `items` are written (every part of a large one), or rejects with a write's error. */
  submit(items: T[]): Promise<void> {
    const weights = items.map(this.weigh);
    const weight = weights.reduce((a, b) => a + b, 0);
    if (weight <= this.maxItems || items.length === 1) {
      return new Promise<void>((resolve, reject) => {
        this.queue.push({ items, weight, resolve, reject });
        if (!this.writing) void this.drain();
      });
    }
    const parts: Array<Promise<void>> = [];
    let start = 0;
    let sum = 0;
    for (let i = 0; i <= items.length; i++) {
      if (i === items.length || (i > start && sum + weights[i]! > this.maxItems)) {
        parts.push(this.submit(items.slice(start, i)));
        start = i;
        sum = 0;
      }
      if (i < items.length) sum += weights[i]!;
    }
    // A part that failed already answers the request (503); the others still finish their writes.
    for (const p of parts) p.catch(() => undefined);
    return Promise.all(parts).then(() => undefined);
  }

  get idle(): boolean {
    return !this.writing && this.queue.length === 0;
  }

  private async drain(): Promise<void> {
    this.writing = true;
    while (this.queue.length > 0) {
      const group = this.takeGroup();
      const items = group.length === 1 ? group[0]!.items : group.flatMap((s) => s.items);
      try {
        await this.write(items);
        for (const s of group) s.resolve();
      } catch (err) {
        for (const s of group) s.reject(err);
      }
    }
    this.writing = false;
  }

  private takeGroup(): Submission<T>[] {
    let count = 0;
    let n = 0;
    while (n < this.queue.length && (n === 0 || count + this.queue[n]!.weight <= this.maxItems)) {
      count += this.queue[n]!.weight;
      n++;
    }
    return this.queue.splice(0, n);
  }
}
