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

  /**
   * Whether the backlog exceeds the bound, counting `jobs` as queued from now on when it does not
   * (give back what is not queued after all with `added(-n)`). Decision and reservation are one
   * synchronous step, so the concurrent dispatches of a burst each see the ones before them.
   */
  async admit(jobs: number): Promise<boolean> {
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
    const over = this.backlogMs() > this.limitMs;
    if (!over) this.addedSince += jobs;
    return over;
  }

  backlogMs(): number {
    return (this.known + this.addedSince) * this.msPerJob;
  }

  /** Jobs this process is queueing on the output (negative: taken back). */
  added(jobs: number): void {
    this.addedSince += jobs;
  }
}
