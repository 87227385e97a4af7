/**
 * Gathers items for `windowMs` (or until `maxItems`) and hands them to `write` together, one write
 * at a time in order, so the UI store costs one script call per window, not one per alert.
 * `add` resolves once its items were written; a failing write is the writer's to report.
 */
export class WriteBatcher<T> {
  private items: T[] = [];
  private waiting: Array<() => void> = [];
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly windowMs: number,
    private readonly maxItems: number,
  ) {}

  add(items: readonly T[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    this.items.push(...items);
    const written = new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.items.length >= this.maxItems) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.windowMs);
    return written;
  }

  /** Writes what is gathered now; resolves once every write so far has landed. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const items = this.items;
    const waiting = this.waiting;
    this.items = [];
    this.waiting = [];
    if (items.length === 0) return this.flushing;
    this.flushing = this.flushing.then(async () => {
      await this.write(items).catch(() => undefined);
      for (const resolve of waiting) resolve();
    });
    return this.flushing;
  }
}
