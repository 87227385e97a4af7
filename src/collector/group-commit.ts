interface Submission<T> {
  items: T[];
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
     * A backlog is cut into writes of about this many items (whole submissions, never split). Big
     * enough to amortise a job (BullMQ moves ~80k alerts/s at 100 per job), small enough that no
     * single Redis transaction downstream (the router's fan-out of one job) stalls everyone else.
     */
    private readonly maxItems = 1000,
  ) {}

  /** Resolves once `items` are written, or rejects with the write's error. */
  submit(items: T[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ items, resolve, reject });
      if (!this.writing) void this.drain();
    });
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
    while (n < this.queue.length && (n === 0 || count + this.queue[n]!.items.length <= this.maxItems)) {
      count += this.queue[n]!.items.length;
      n++;
    }
    return this.queue.splice(0, n);
  }
}
