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
 * How long finished entries wait for the router's next XREADGROUP to carry their acknowledgement
 * (see AckCarrier); after that they go on their own. Only the acknowledgement waits (delivery is
 * done): an entry is held, and renewed, that much longer at most.
 */
export const ACK_RIDE_MS = 5;

/**
 * The connection of the router's blocking XREADGROUP, which can carry acknowledgements: written
 * in the same socket write as the next read, they cost neither a write and a read of their own
 * (in the worker and in Redis) nor an ioredis Pipeline, as they do on the auto-pipelined
 * connection; at 500 alerts/s that is most of them (issue #10).
 */
export interface AckCarrier {
  /** Whether a read is under way, so that the next one comes soon (the loop reads again at once when one returns). */
  readonly reading: boolean;
}

/**
 * Acknowledges finished ingest entries in bulk: the entries that finish while one acknowledgement
 * is in flight go together in the next, so at load it is one call per event-loop turn, not per
 * entry. XACK and XDEL in one script: an acknowledged entry is gone from the log (it never grows),
 * and a deleted one is never left pending. A script rather than MULTI: one command, and no
 * ioredis Pipeline (each copies every BullMQ script command onto itself, bench/README.md). While
 * the router's read is under way, they wait up to ACK_RIDE_MS to go out with the next one instead
 * (AckCarrier). Until
 * it is confirmed an entry stays held (renewed), so nobody takes it over; a failed
 * acknowledgement is retried, never dropped.
 */
export class AckBatcher {
  private ids: string[] = [];
  private flushing?: Promise<void>;
  private stopped = false;
  private retryTimer?: NodeJS.Timeout;
  /** Set while a flush waits for the next read to carry the ids: calling it lets the flush go on. */
  private rideWake?: () => void;
  /** Acknowledgements sent along with a read, not confirmed yet. */
  private readonly riding = new Set<Promise<void>>();

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly logger: Logger,
    private readonly onAcked: (ids: readonly string[]) => void,
    private readonly carrier?: AckCarrier,
  ) {
    if (!('falconetIngestAck' in redis)) redis.defineCommand('falconetIngestAck', { numberOfKeys: 2, lua: ACK_SCRIPT });
  }

  /**
   * Called by the read loop right before it reads: if finished entries wait for a ride, their
   * acknowledgement is sent on `connection` now (the caller writes the read in the same socket
   * write). The flush that waited goes on with whatever came after.
   */
  carry(connection: RedisClient): void {
    const wake = this.rideWake;
    if (!wake || this.ids.length === 0 || this.stopped) return;
    this.rideWake = undefined;
    const ids = this.ids.length > IDS_PER_CALL ? this.ids.splice(0, IDS_PER_CALL) : this.ids;
    if (ids === this.ids) this.ids = [];
    let sent: Promise<number>;
    try {
      if (!('falconetIngestAck' in connection)) connection.defineCommand('falconetIngestAck', { numberOfKeys: 2, lua: ACK_SCRIPT });
      sent = (connection as AckRedis).falconetIngestAck(ingestLogKey(this.prefix), ingestErrorsKey(this.prefix), INGEST_GROUP, ...ids);
    } catch {
      // Never taken and dropped: the waiting flush sends them on the shared connection.
      this.ids.unshift(...ids);
      wake();
      return;
    }
    const ride: Promise<void> = sent.then(
      () => this.onAcked(ids),
      // Not lost: back to the ordinary path (its own call on the shared connection, retried while failing).
      () => {
        if (this.stopped) return;
        this.ids.unshift(...ids);
        if (!this.flushing && !this.retryTimer) this.flushing = this.flush();
      },
    ).finally(() => this.riding.delete(ride));
    this.riding.add(ride);
    wake();
  }

  add(id: string): void {
    this.ids.push(id);
    if (!this.flushing && !this.retryTimer) this.flushing = this.flush();
  }

  /** Resolves once everything added so far is acknowledged (retrying while Redis does not answer). */
  async drain(): Promise<void> {
    while (!this.stopped && (this.ids.length > 0 || this.flushing || this.retryTimer || this.riding.size > 0)) {
      // No read is coming to carry them: they go on their own.
      this.rideWake?.();
      if (this.riding.size > 0 && !this.flushing && !this.retryTimer) {
        await Promise.all([...this.riding]);
        continue;
      }
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
    this.rideWake?.();
  }

  /** Until the read loop's next read carries the ids (carry) or ACK_RIDE_MS passed. */
  private waitForRide(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.rideWake = undefined;
        resolve();
      }, ACK_RIDE_MS);
      this.rideWake = () => {
        this.rideWake = undefined;
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async flush(): Promise<void> {
    // Let the entries finishing in this event-loop turn join.
    await new Promise((r) => setImmediate(r));
    if (this.carrier?.reading && this.ids.length > 0 && !this.stopped) await this.waitForRide();
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
