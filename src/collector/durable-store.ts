import type { RedisClient as Redis } from '../queue/connection.js';
import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics.js';
import type { RawAlert } from './decode.js';
import type { Spool } from './spool.js';

/** Alerts per replayed ingest entry: the same bound as a live group commit. */
const REPLAY_ENTRY_ALERTS = 1000;
/** A replay write gets longer than a live one: nobody waits on it, but a hung one must not stall replay. */
const REPLAY_WRITE_TIMEOUT_MS = 10_000;

class DeadlineError extends Error {}

/**
 * `promise`, or a DeadlineError after `ms`. One promise and one timer per call (it runs once per
 * group commit): no Promise.race, no finally, no promise for the timeout.
 */
function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DeadlineError(`no answer within ${ms} ms`)), ms);
    // After the deadline the abandoned write may still settle: that rejection is expected, and
    // settling an already rejected promise again is a no-op, not an unhandled rejection.
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/**
 * Where the collector puts a group commit before answering 200: Redis when it answers within
 * `deadline`, else the local spool (fsync'd). Order: while the spool holds anything, every new
 * write goes to the spool too, and a single replayer drains it into Redis oldest first; only an
 * empty spool lets writes go straight to Redis again. So alerts reach the ingest log in the
 * order they were accepted (concurrent routers reorder them no more than usual).
 *
 * A write that missed the deadline may still land in Redis later. Its alerts are replayed as a
 * NEW ingest entry (the stream's next id, never the id of the write that timed out), so the
 * router's global dedup, which lets a reclaimed entry through but suppresses the same Falco event
 * arriving in a different entry, drops the copy that landed anyway.
 */
export class DurableStore {
  private replaying?: Promise<void>;
  private stopped = false;
  private wake?: () => void;
  private redisDownSince: number | undefined;

  constructor(
    private readonly deps: {
      spool: Spool;
      /** Appends one entry to the ingest log (src/queue/ingest-log.ts). */
      append: (alerts: RawAlert[], receivedAt: number) => Promise<unknown>;
      redis: Redis;
      deadline: number;
      metrics: Metrics;
      logger: Logger;
      /** For log lines: the Redis URL without credentials. */
      redisUrl: string;
      /** Replicas that must confirm a write (WAIT) before it counts as kept; 0: the master's word. */
      waitReplicas?: number;
    },
  ) {}

  /** Resolves once `alerts` are in Redis or fsync'd to the spool; rejects with SpoolFullError. */
  async write(alerts: RawAlert[], receivedAt: number): Promise<'redis' | 'spooled'> {
    const { spool, append, redis, deadline, metrics } = this.deps;
    // Not ready: the write would wait for the connection, and land after we spooled it.
    if (spool.empty && redis.status === 'ready') {
      try {
        const started = Date.now();
        await withDeadline(append(alerts, receivedAt), deadline);
        this.redisUp();
        // Without waitReplicas the master's answer is the acknowledgement: no WAIT, no extra await.
        if (!this.deps.waitReplicas || (await this.replicated(Math.max(1, deadline - (Date.now() - started))))) return 'redis';
        // On the master only: a failover now would lose it. The spooled copy is replayed as a new
        // ingest entry, which the router's dedup drops if the first one survived.
        this.deps.logger.warn({ waitReplicas: this.deps.waitReplicas }, 'no replica confirmed the write in time; spooling it as well');
      } catch (err) {
        this.redisDown(err);
      }
    } else if (spool.empty) {
      this.redisDown(new Error(`connection ${redis.status}`));
    }
    await spool.append({ receivedAt, alerts });
    metrics.spooledAlerts.inc(alerts.length);
    this.kick();
    return 'spooled';
  }

  /** Whether enough replicas hold everything written so far (Redis WAIT), within `ms`. */
  private async replicated(ms: number): Promise<boolean> {
    const wanted = this.deps.waitReplicas ?? 0;
    if (wanted === 0) return true;
    try {
      const acked = (await withDeadline(this.deps.redis.call('WAIT', wanted, ms) as Promise<number>, ms + 500)) as number;
      return acked >= wanted;
    } catch {
      return false;
    }
  }

  /** Replays what an earlier process left in the spool. */
  start(): void {
    if (!this.deps.spool.empty) this.kick();
  }

  /** Stops replaying (a replay in progress stops after its current write); the spool keeps the rest. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.replaying;
  }

  private kick(): void {
    if (this.replaying || this.stopped) return;
    let failed = false;
    this.replaying = this.replay()
      .catch((err) => {
        failed = true;
        this.deps.logger.error({ err }, 'spool replay failed; retrying in 1 s');
      })
      .finally(() => {
        this.replaying = undefined;
        // A record appended while the replayer was finishing must not wait for the next alert.
        if (this.stopped || this.deps.spool.empty) return;
        if (failed) setTimeout(() => this.kick(), 1000).unref();
        else this.kick();
      });
  }

  private async replay(): Promise<void> {
    const { spool, append, metrics, logger } = this.deps;
    while (!this.stopped) {
      if (!(await this.untilRedisAnswers())) return;
      const segments = await spool.takeSealed();
      if (segments.length === 0) return;
      for (const segment of segments) {
        const { records, skippedBytes } = await spool.read(segment);
        if (skippedBytes > 0) {
          logger.error({ segment: segment.name, skippedBytes }, 'spool segment has a torn or damaged stretch; it is skipped, the intact records are replayed');
          metrics.spoolSkippedBytes.inc(skippedBytes);
        }
        let i = 0;
        while (i < records.length) {
          // Consecutive records become one ingest entry of up to REPLAY_ENTRY_ALERTS alerts.
          const alerts: RawAlert[] = [...records[i]!.record.alerts];
          const receivedAt = records[i]!.record.receivedAt;
          let j = i + 1;
          while (j < records.length && alerts.length + records[j]!.record.alerts.length <= REPLAY_ENTRY_ALERTS) {
            alerts.push(...records[j]!.record.alerts);
            j++;
          }
          for (let retry = 0; ; retry++) {
            if (this.stopped) return;
            try {
              await withDeadline(append(alerts, receivedAt), REPLAY_WRITE_TIMEOUT_MS);
              break;
            } catch (err) {
              this.redisDown(err);
              // Redis may answer PING yet refuse writes (OOM, read-only replica): never spin.
              await this.sleep(Math.min(200 * 2 ** retry, 5000));
              if (!(await this.untilRedisAnswers())) return;
            }
          }
          metrics.replayedAlerts.inc(alerts.length);
          await spool.replayed(segment.name, records[j - 1]!.end, records[j]?.record.receivedAt);
          i = j;
        }
        await spool.finished(segment.name);
      }
      logger.info({ bytes: spool.bytes }, 'spool replayed into Redis');
    }
  }

  /** Polls until Redis answers PING (true) or the store stops (false). */
  private async untilRedisAnswers(): Promise<boolean> {
    let wait = 100;
    while (!this.stopped) {
      try {
        if (this.deps.redis.status === 'ready' && (await withDeadline(this.deps.redis.ping(), 1000)) === 'PONG') {
          this.redisUp();
          return true;
        }
      } catch {
        // still down
      }
      await this.sleep(wait);
      wait = Math.min(wait * 2, 2000);
    }
    return false;
  }

  /** A pause that stop() cuts short. */
  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      setTimeout(resolve, ms);
    });
  }

  private redisDown(err: unknown): void {
    if (this.redisDownSince !== undefined) return;
    this.redisDownSince = Date.now();
    this.deps.logger.warn(
      { role: 'collector', redis: this.deps.redisUrl, spool: this.deps.spool.dir, err: (err as Error).message },
      `Redis at ${this.deps.redisUrl} did not take a write (role collector); accepting into the spool at ${this.deps.spool.dir}`,
    );
  }

  private redisUp(): void {
    if (this.redisDownSince === undefined) return;
    this.deps.logger.info({ role: 'collector', redis: this.deps.redisUrl, downMs: Date.now() - this.redisDownSince }, `Redis at ${this.deps.redisUrl} answers again (role collector)`);
    this.redisDownSince = undefined;
  }
}
