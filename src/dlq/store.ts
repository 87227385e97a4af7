import type { RedisClient as Redis } from '../queue/connection.js';

/**
 * A dead letter: one alert that one output (or the router) could not take, with why and how often.
 * `alert` is the alert's JSON text, byte for byte (big integers intact).
 */
export interface DeadLetter {
  /** The alert id: stable, so a replayed alert that fails again updates the same record. */
  id: string;
  /** The output name, or ROUTER_OUTPUT for alerts the router could not process. */
  output: string;
  rule: string;
  alert: string;
  /** The last error, as the destination (or the router) put it. */
  reason: string;
  /** The last HTTP status, when there was one. */
  status?: number;
  /** Sends (or router tries) over the alert's whole life, replays included. */
  attempts: number;
  firstAttemptAt: number;
  lastAttemptAt: number;
}

/** The pseudo-output of alerts the router could not process (poison alerts, ingest entries given up on). */
export const ROUTER_OUTPUT = '@router';

export interface DeadLetterStoreOptions {
  prefix: string;
  /** Records whose last attempt is older are pruned (dlq.maxAge). */
  maxAge: number;
  /** At most this many records per output; the oldest go first (dlq.maxPerOutput). */
  maxPerOutput: number;
  now?: () => number;
}

// Removes records older than the cut-off, then the oldest beyond the count bound; returns how many.
const PRUNE_SCRIPT = `
local removed = 0
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])
for _, id in ipairs(old) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  removed = removed + 1
end
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[2])
if excess > 0 then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, excess - 1)
  for _, id in ipairs(oldest) do
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    removed = removed + 1
  end
end
return removed
`;

type PruneRedis = Redis & { falconetDlqPrune(items: string, byTime: string, cutoff: number, max: number): Promise<number> };

/**
 * Dead letters in Redis, apart from the live delivery queues: per output a hash (id → record) and a
 * sorted set (id by last attempt time), so that listing is ordered, pruning by age is a range, and
 * the size is bounded. Pruned on every write and every read: nothing outlives `maxAge`.
 */
export class DeadLetterStore {
  private readonly redis: PruneRedis;
  private readonly now: () => number;

  constructor(
    redis: Redis,
    private readonly opts: DeadLetterStoreOptions,
  ) {
    if (!('falconetDlqPrune' in redis)) redis.defineCommand('falconetDlqPrune', { numberOfKeys: 2, lua: PRUNE_SCRIPT });
    this.redis = redis as PruneRedis;
    this.now = opts.now ?? Date.now;
  }

  private itemsKey(output: string): string {
    return `${this.opts.prefix}:dlq:${output}:items`;
  }

  private timeKey(output: string): string {
    return `${this.opts.prefix}:dlq:${output}:by-time`;
  }

  private get outputsKey(): string {
    return `${this.opts.prefix}:dlq:outputs`;
  }

  /**
   * Records dead letters of one output. A record already there for the same alert (a replay that
   * failed again) keeps its first attempt time and adds up the attempts.
   */
  async add(output: string, letters: ReadonlyArray<Omit<DeadLetter, 'output'>>): Promise<void> {
    if (letters.length === 0) return;
    const items = this.itemsKey(output);
    const previous = await this.redis.hmget(items, ...letters.map((l) => l.id));
    const tx = this.redis.multi();
    letters.forEach((letter, i) => {
      const old = previous[i] ? (JSON.parse(previous[i]!) as DeadLetter) : undefined;
      const record: DeadLetter = {
        ...letter,
        output,
        attempts: letter.attempts + (old?.attempts ?? 0),
        firstAttemptAt: Math.min(letter.firstAttemptAt, old?.firstAttemptAt ?? Number.POSITIVE_INFINITY),
      };
      tx.hset(items, letter.id, JSON.stringify(record));
      tx.zadd(this.timeKey(output), record.lastAttemptAt, letter.id);
    });
    tx.sadd(this.outputsKey, output);
    await tx.exec();
    await this.prune(output);
  }

  /** Removes what is past `maxAge` or beyond `maxPerOutput`; returns how many records went. */
  prune(output: string): Promise<number> {
    return this.redis.falconetDlqPrune(this.itemsKey(output), this.timeKey(output), this.now() - this.opts.maxAge, this.opts.maxPerOutput);
  }

  /** Outputs that have (or had) dead letters. */
  async outputs(): Promise<string[]> {
    return (await this.redis.smembers(this.outputsKey)).sort();
  }

  /** One output's records, oldest last attempt first. */
  async list(output: string, limit = Number.POSITIVE_INFINITY): Promise<DeadLetter[]> {
    await this.prune(output);
    const stop = Number.isFinite(limit) ? Math.max(0, limit - 1) : -1;
    const ids = await this.redis.zrange(this.timeKey(output), '0', String(stop));
    return this.get(output, ids);
  }

  /** The records with these ids (missing ones are left out). */
  async get(output: string, ids: readonly string[]): Promise<DeadLetter[]> {
    if (ids.length === 0) return [];
    const texts = await this.redis.hmget(this.itemsKey(output), ...ids);
    return texts.flatMap((t) => (t ? [JSON.parse(t) as DeadLetter] : []));
  }

  async count(output: string): Promise<number> {
    return this.redis.zcard(this.timeKey(output));
  }

  /** Deletes these records; returns how many existed. */
  async remove(output: string, ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const [[, removed]] = (await this.redis.multi().hdel(this.itemsKey(output), ...ids).zrem(this.timeKey(output), ...ids).exec()) as [
      [Error | null, number],
      ...unknown[],
    ];
    return removed;
  }

  /** Deletes an output's records, all of them or those whose last attempt is older than `olderThanMs`. */
  async purge(output: string, olderThanMs?: number): Promise<number> {
    const cutoff = olderThanMs === undefined ? Number.POSITIVE_INFINITY : this.now() - olderThanMs;
    const ids = await this.redis.zrangebyscore(this.timeKey(output), '-inf', Number.isFinite(cutoff) ? `(${cutoff}` : '+inf');
    let removed = 0;
    for (let i = 0; i < ids.length; i += 1000) removed += await this.remove(output, ids.slice(i, i + 1000));
    return removed;
  }
}
