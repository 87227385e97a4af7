import type { RedisClient as Redis } from '../queue/connection.js';
import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { FalconetConfig } from '../config/load.js';
import type { Metrics } from '../observability/metrics.js';
import { deliveryJobOptions } from '../queue/job-options.js';
import type { DeliveryJobData } from '../queue/names.js';
import { noisePolicy } from './policy.js';
import { stringifyJson } from '../alert/json.js';
import { buildDigestAlert, type BucketState, type TopCounts } from '../alert/digest.js';
import { noiseKeys } from './storm.js';

/**
 * Claims due digests: each due bucket's score is pushed `lease` ms ahead (so that if this worker
 * dies before the digest is queued, another worker claims it again when the lease runs out) and
 * its state is returned with the top counts of each dimension. Atomic, so two workers polling at
 * once never both claim the same bucket inside one lease.
 */
const CLAIM_SCRIPT = `
local dueKey, prefix = KEYS[1], ARGV[1]
local lease, limit, topK = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]) - 1
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local members = redis.call('ZRANGEBYSCORE', dueKey, '-inf', now, 'LIMIT', 0, limit)
local out = {}
for i, m in ipairs(members) do
  redis.call('ZADD', dueKey, now + lease, m)
  local output, key, gen = string.match(m, '^(.*)|(.*)|(.*)$')
  local b = prefix .. output .. ':b:' .. key .. ':' .. gen
  out[i] = {
    m,
    redis.call('HGETALL', b),
    redis.call('ZREVRANGE', b .. ':h', 0, topK, 'WITHSCORES'), redis.call('ZCARD', b .. ':h'),
    redis.call('ZREVRANGE', b .. ':ns', 0, topK, 'WITHSCORES'), redis.call('ZCARD', b .. ':ns'),
    redis.call('ZREVRANGE', b .. ':p', 0, topK, 'WITHSCORES'), redis.call('ZCARD', b .. ':p'),
  }
end
return out
`;

/** Removes digests that are queued (or whose bucket is gone). */
const ACK_SCRIPT = `
local dueKey, prefix = KEYS[1], ARGV[1]
for i = 2, #ARGV do
  local m = ARGV[i]
  local output, key, gen = string.match(m, '^(.*)|(.*)|(.*)$')
  local b = prefix .. output .. ':b:' .. key .. ':' .. gen
  redis.call('ZREM', dueKey, m)
  redis.call('DEL', b, b .. ':h', b .. ':ns', b .. ':p')
end
return #ARGV - 1
`;

type FlushRedis = Redis & {
  falconetDigestClaim(...args: Array<string | number>): Promise<unknown[]>;
  falconetDigestAck(...args: Array<string | number>): Promise<number>;
};

export interface DigestFlusherOptions {
  /** How often every worker looks for due digests. */
  intervalMs?: number;
  /** A claimed digest not queued within this time is claimed again by any worker. */
  leaseMs?: number;
  /** Digests claimed per poll. */
  batch?: number;
  /** Values per dimension listed by name; the rest are summed. */
  topK?: number;
}

function pairs(flat: string[]): Array<{ name: string; count: number }> {
  const out: Array<{ name: string; count: number }> = [];
  for (let i = 0; i < flat.length; i += 2) out.push({ name: flat[i]!, count: Number(flat[i + 1]) });
  return out;
}

function counts(flat: string[], distinct: number, total: number): TopCounts {
  const top = pairs(flat);
  return { distinct, top, others: Math.max(0, total - top.reduce((n, t) => n + t.count, 0)) };
}

/**
 * Sends the digest of every window that ended with suppressed alerts. Every worker runs one; a
 * digest whose claimer died is sent by another after the lease. At-least-once: the delivery job
 * id is the bucket's, so a second claim of a digest still retained in the queue is not queued twice.
 */
export class DigestFlusher {
  private readonly r: FlushRedis;
  private readonly keys: ReturnType<typeof noiseKeys>;
  private readonly opts: Required<DigestFlusherOptions>;
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    /** Queues one digest (alert JSON) on the output's delivery queue under `jobId`. */
    private readonly enqueue: (output: string, jobId: string, json: string) => Promise<void>,
    private readonly outputs: ReadonlySet<string>,
    private readonly log: Logger,
    opts: DigestFlusherOptions = {},
    private readonly onSent: (output: string, suppressed: number) => void = () => undefined,
  ) {
    for (const [name, lua] of [['falconetDigestClaim', CLAIM_SCRIPT], ['falconetDigestAck', ACK_SCRIPT]] as const) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 1, lua });
    }
    this.r = redis as FlushRedis;
    this.keys = noiseKeys(prefix);
    this.opts = { intervalMs: 250, leaseMs: 30_000, batch: 100, topK: 5, ...opts };
  }

  start(): void {
    const tick = () => {
      this.running = this.flushDue()
        .catch((err: Error) => this.log.warn({ err: err.message }, 'digest flush failed; will retry'))
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, this.opts.intervalMs);
        });
    };
    this.timer = setTimeout(tick, this.opts.intervalMs);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Claims, queues and acknowledges the digests due now; returns how many were queued. */
  async flushDue(): Promise<number> {
    let sent = 0;
    for (;;) {
      const claimed = (await this.r.falconetDigestClaim(this.keys.due, `${this.prefix}:noise:`, this.opts.leaseMs, this.opts.batch, this.opts.topK)) as Array<
        [string, string[], string[], number, string[], number, string[], number]
      >;
      if (claimed.length === 0) return sent;
      const done: string[] = [];
      await Promise.all(
        claimed.map(async ([member, flat, h, hn, ns, nsn, p, pn]) => {
          const [output, key, gen] = member.split('|') as [string, string, string];
          const fields: Record<string, string> = {};
          for (let i = 0; i < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
          if (!fields.sample || !this.outputs.has(output)) {
            if (fields.sample) this.log.warn({ output, suppressed: fields.n }, 'digest for an output no longer configured; dropped');
            done.push(member);
            return;
          }
          const bucket: BucketState = {
            id: `digest-${gen}-${key.slice(0, 16)}`,
            fields,
            hosts: counts(h, hn, Number(fields.hn ?? 0)),
            namespaces: counts(ns, nsn, Number(fields.nsn ?? 0)),
            pods: counts(p, pn, Number(fields.pn ?? 0)),
          };
          await this.enqueue(output, `dg-${gen}-${key.slice(0, 16)}`, stringifyJson(buildDigestAlert(bucket)));
          this.onSent(output, Number(fields.n));
          done.push(member);
          sent++;
        }),
      ).finally(async () => {
        if (done.length > 0) await this.r.falconetDigestAck(this.keys.due, `${this.prefix}:noise:`, ...done);
      });
      if (claimed.length < this.opts.batch) return sent;
    }
  }
}

/**
 * The worker's digest flusher: queues each due digest on its output's delivery queue. Runs only
 * when some output makes digests (storm control or overflow); the others never poll.
 */
export function startDigestFlusher(
  config: FalconetConfig,
  deps: { redis: Redis; queueFor: (output: string) => Queue<DeliveryJobData>; metrics: Metrics; log: Logger },
): { stop(): Promise<void> } {
  const flusher = new DigestFlusher(
    deps.redis,
    config.redis.prefix,
    async (output, jobId, json) => {
      await deps.queueFor(output).add(output, { alerts: [json] }, { ...deliveryJobOptions(config.outputs[output]!), jobId });
    },
    new Set(Object.keys(config.outputs)),
    deps.log,
    {},
    (output, n) => {
      deps.metrics.digests.inc({ output, kind: 'digests' });
      deps.metrics.digests.inc({ output, kind: 'alerts' }, n);
    },
  );
  if (Object.values(config.outputs).some((o) => noisePolicy(o))) flusher.start();
  return flusher;
}
