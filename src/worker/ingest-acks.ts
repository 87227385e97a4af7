import type { Logger } from 'pino';
import type { RedisClient } from '../queue/connection.js';
import { INGEST_GROUP, ingestErrorsKey, ingestLogKey } from '../queue/ingest-log.js';

/**
 * Acknowledges finished ingest entries in bulk: the entries that finish while one acknowledgement
 * is in flight go together in the next, so at load it is one MULTI per event-loop turn, not per
 * entry. XACK and XDEL in one transaction: an acknowledged entry is gone from the log (it never
 * grows), and a deleted one is never left pending. Until it is confirmed an entry stays held
 * (renewed), so nobody takes it over; a failed acknowledgement is retried, never dropped.
 */
export class AckBatcher {
  private ids: string[] = [];
  private flushing?: Promise<void>;
  private stopped = false;
  private retryTimer?: NodeJS.Timeout;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly logger: Logger,
    private readonly onAcked: (ids: readonly string[]) => void,
  ) {}

  add(id: string): void {
    this.ids.push(id);
    if (!this.flushing && !this.retryTimer) this.flushing = this.flush();
  }

  /** Resolves once everything added so far is acknowledged (retrying while Redis does not answer). */
  async drain(): Promise<void> {
    while (!this.stopped && (this.ids.length > 0 || this.flushing || this.retryTimer)) {
      if (this.retryTimer) {
        clearTimeout(this.retryTimer);
        this.retryTimer = undefined;
        this.flushing ??= this.flush();
      }
      await (this.flushing ?? new Promise((r) => setTimeout(r, 10)));
    }
  }

  /** No more acknowledgements: unacknowledged entries come back to a worker after lockDuration. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
  }

  private async flush(): Promise<void> {
    // Let the entries finishing in this event-loop turn join.
    await new Promise((r) => setImmediate(r));
    while (this.ids.length > 0 && !this.stopped) {
      const ids = this.ids;
      this.ids = [];
      const key = ingestLogKey(this.prefix);
      try {
        const results = await this.redis.multi().xack(key, INGEST_GROUP, ...ids).xdel(key, ...ids).hdel(ingestErrorsKey(this.prefix), ...ids).exec();
        const failed = results?.find(([err]) => err);
        if (!results || failed) throw failed?.[0] ?? new Error('transaction aborted');
      } catch (err) {
        this.ids.unshift(...ids);
        this.logger.warn({ err: (err as Error).message, entries: ids.length }, 'acknowledging ingest entries failed; retrying in 1 s');
        this.flushing = undefined;
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          if (!this.flushing) this.flushing = this.flush();
        }, 1000);
        return;
      }
      this.onAcked(ids);
    }
    this.flushing = undefined;
  }
}
