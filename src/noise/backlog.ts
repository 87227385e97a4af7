/**
 * How far behind a rate-limited output is, without asking Redis per alert: the queue length is
 * read at most every `refreshMs` (in the background), and jobs this process queued since are
 * added to it, so a burst inside one refresh period still counts.
 */
export class BacklogGauge {
  private known = 0;
  private addedSince = 0;
  private readAt = 0;
  private reading?: Promise<void>;

  constructor(
    private readonly countJobs: () => Promise<number>,
    /** Milliseconds of sending at the output's rate that one queued job represents. */
    private readonly msPerJob: number,
    private readonly limitMs: number,
    private readonly refreshMs = 250,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether the backlog exceeds the bound (may refresh the count; never waits more than one read). */
  async overflowing(): Promise<boolean> {
    if (this.now() - this.readAt >= this.refreshMs) {
      this.reading ??= this.countJobs()
        .then((n) => {
          this.known = n;
          this.addedSince = 0;
          this.readAt = this.now();
        })
        // A failed read keeps the last value until the next period (Redis trouble shows elsewhere).
        .catch(() => void (this.readAt = this.now()))
        .finally(() => (this.reading = undefined));
      // The first read is awaited; later ones refresh in the background on the previous value.
      if (this.readAt === 0) await this.reading;
    }
    return this.backlogMs() > this.limitMs;
  }

  backlogMs(): number {
    return (this.known + this.addedSince) * this.msPerJob;
  }

  /** Jobs this process just queued on the output. */
  added(jobs: number): void {
    this.addedSince += jobs;
  }
}
