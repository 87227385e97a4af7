import type { Logger } from 'pino';
import type { RedisClient } from '../queue/connection.js';
import { INGEST_GROUP, ingestErrorsKey, ingestLogKey } from '../queue/ingest-log.js';

/** KEYS: the log, its error notes; ARGV[1] the group, ARGV[2..] entry ids. */
const ACK_SCRIPT = `
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
local acked = redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
redis.call('XDEL', KEYS[1], unpack(ids))
redis.call('HDEL', KEYS[2], unpack(ids))
return acked`;

type AckRedis = RedisClient & { falconetIngestAck(log: string, errors: string, group: string, ...ids: string[]): Promise<number> };

/** Ids per script call: Lua's unpack() is limited by the C stack (~8,000 values). */
const IDS_PER_CALL = 1000;

/**
 * Acknowledges finished ingest entries in bulk: the entries that finish while one acknowledgement
 * is in flight go together in the next, so at load it is one call per event-loop turn, not per
 * entry. XACK and XDEL in one script: an acknowledged entry is gone from the log (it never grows),
 * and a deleted one is never left pending. A script rather than MULTI: one command, and no
 * ioredis Pipeline (each copies every BullMQ script command onto itself, bench/README.md). Until
 * it is confirmed an entry stays held (renewed), so nobody takes it over; a failed
 * acknowledgement is retried, never dropped.
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
  ) {
    if (!('falconetIngestAck' in redis)) redis.defineCommand('falconetIngestAck', { numberOfKeys: 2, lua: ACK_SCRIPT });
  }

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
      const ids = this.ids.length > IDS_PER_CALL ? this.ids.splice(0, IDS_PER_CALL) : this.ids;
      if (ids === this.ids) this.ids = [];
      try {
        await (this.redis as AckRedis).falconetIngestAck(ingestLogKey(this.prefix), ingestErrorsKey(this.prefix), INGEST_GROUP, ...ids);
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
