import type { RedisClient as Redis } from '../../queue/connection.js';

/** A ledger outlives its ingest job this long at most (when the completion clean-up was missed). */
export const LEDGER_TTL_MS = 24 * 3600 * 1000;

/** KEYS[1] the ledger; ARGV[1] its TTL in ms; ARGV[2..] fields recorded (value 1). */
const ADD_SCRIPT = `
for i = 2, #ARGV do redis.call('HSET', KEYS[1], ARGV[i], 1) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return #ARGV - 1`;

type LedgerRedis = Redis & { falconetLedgerAdd(key: string, ttlMs: number, ...fields: string[]): Promise<number> };

/**
 * What one ingest job has already put in a batch or folded into a digest, so that a retried or
 * stalled job queues only the rest: a batched output would otherwise store a second copy (its
 * batches mix alerts of several ingest jobs, so no job id can say "already queued").
 * One hash per ingest job, `<output>|<alert ref>` fields, written after the queueing it records
 * (at least once: a crash between the two repeats that one step), deleted when the job completes.
 */
export class FanoutLedger {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    if (!('falconetLedgerAdd' in redis)) redis.defineCommand('falconetLedgerAdd', { numberOfKeys: 1, lua: ADD_SCRIPT });
  }

  key(jobId: string): string {
    return `${this.prefix}:fanout:${jobId}`;
  }

  /** The fields of `fields` already recorded for this job. */
  async recorded(jobId: string, fields: string[]): Promise<Set<string>> {
    if (fields.length === 0) return new Set();
    const found = await this.redis.hmget(this.key(jobId), ...fields);
    return new Set(fields.filter((_, i) => found[i] !== null));
  }

  /** Records queued alerts: `fieldsByKey` maps a ledger key to its new fields (one round trip). */
  async record(fieldsByKey: ReadonlyMap<string, string[]>): Promise<void> {
    if (fieldsByKey.size === 0) return;
    if (fieldsByKey.size === 1) {
      // The common case (one ingest job, e.g. each first attempt sent from the router): one script
      // call, one write, rather than an ioredis Pipeline (each copies every BullMQ script command
      // onto itself) or two commands.
      const [key, fields] = fieldsByKey.entries().next().value!;
      await (this.redis as LedgerRedis).falconetLedgerAdd(key, LEDGER_TTL_MS, ...fields);
      return;
    }
    const multi = this.redis.pipeline();
    for (const [key, fields] of fieldsByKey) {
      multi.hset(key, Object.fromEntries(fields.map((f) => [f, 1])));
      multi.pexpire(key, LEDGER_TTL_MS);
    }
    const results = await multi.exec();
    const failed = results?.find(([err]) => err);
    if (failed) throw failed[0];
  }

  /** The ingest jobs completed: nothing of them will run again. */
  async forget(jobIds: string[]): Promise<void> {
    if (jobIds.length > 0) await this.redis.unlink(...jobIds.map((id) => this.key(id)));
  }
}
