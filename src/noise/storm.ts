import type { RedisClient as Redis } from '../queue/connection.js';
import { alertNamespace, alertPod, alertTimeNanos, type Alert } from '../alert/alert.js';
import { fieldsKey } from '../alert/identity.js';
import type { NoisePolicy } from './policy.js';

/** Keys of the digest state, shared by every worker on this Redis. */
export function noiseKeys(prefix: string) {
  return {
    /** ZSET of buckets with suppressed alerts, scored by the time their digest is due (ms). */
    due: `${prefix}:noise:due`,
    gen: `${prefix}:noise:gen`,
    /** `<base>:w:<key>` holds the open window's generation; `<base>:b:<key>:<gen>` its bucket. */
    base: (output: string) => `${prefix}:noise:${output}`,
  };
}

/** A digest stays in Redis at most this long when no worker ever sends it (all workers gone). */
const BUCKET_TTL_MS = 7 * 24 * 3600 * 1000;

/**
 * One call per output and dispatch. For each alert: if a window of its key is open, it is folded
 * into that window's bucket (counts by host, namespace, pod; first and last event time; the first
 * folded alert as the digest's sample) and the bucket is put on the due set at the window's end.
 * Otherwise storm control opens a window and lets it pass, or, while the output overflows, the
 * window is opened and the alert folded at once. An alert a previous attempt of the same ingest
 * job already handled (fan-out ledger) is left alone, so a replay never counts twice.
 * Verdicts: 1 pass, 2 folded by storm control, 3 folded by overflow, 0 already handled.
 */
const FOLD_SCRIPT = `
local base, dueKey, genKey = ARGV[1], ARGV[2], ARGV[3]
local stormWindow, overflow, overflowWindow = tonumber(ARGV[4]), ARGV[5] == '1', tonumber(ARGV[6])
local ledger, output, ttl = ARGV[7], ARGV[8], tonumber(ARGV[9])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
local n = (#ARGV - 9) / 8
for i = 1, n do
  local a = 9 + (i - 1) * 8
  local key, field, ms, time, host, ns, pod, json = ARGV[a+1], ARGV[a+2], tonumber(ARGV[a+3]), ARGV[a+4], ARGV[a+5], ARGV[a+6], ARGV[a+7], ARGV[a+8]
  if ledger ~= '' and redis.call('HEXISTS', ledger, field) == 1 then
    out[i] = 0
  else
    local wkey = base .. ':w:' .. key
    local gen = redis.call('GET', wkey)
    local verdict = 1
    if gen then
      verdict = (stormWindow > 0) and 2 or 3
    elseif overflow then
      gen = redis.call('INCR', genKey)
      redis.call('SET', wkey, gen, 'PX', overflowWindow)
      verdict = 3
    elseif stormWindow > 0 then
      gen = redis.call('INCR', genKey)
      redis.call('SET', wkey, gen, 'PX', stormWindow)
    end
    if verdict > 1 then
      local b = base .. ':b:' .. key .. ':' .. gen
      local count = redis.call('HINCRBY', b, 'n', 1)
      if count == 1 then
        local left = redis.call('PTTL', wkey)
        if left < 0 then left = 0 end
        redis.call('HSET', b, 'sample', json, 'firstMs', ms, 'first', time, 'lastMs', ms, 'last', time, 'cause', verdict)
        redis.call('ZADD', dueKey, now + left, output .. '|' .. key .. '|' .. gen)
        redis.call('PEXPIRE', b, ttl)
      else
        if ms < tonumber(redis.call('HGET', b, 'firstMs')) then redis.call('HSET', b, 'firstMs', ms, 'first', time) end
        if ms > tonumber(redis.call('HGET', b, 'lastMs')) then redis.call('HSET', b, 'lastMs', ms, 'last', time) end
      end
      if verdict == 3 then redis.call('HINCRBY', b, 'overflowed', 1) end
      local dims = { { 'h', host }, { 'ns', ns }, { 'p', pod } }
      for _, d in ipairs(dims) do
        if d[2] ~= '' then
          local z = b .. ':' .. d[1]
          redis.call('ZINCRBY', z, 1, d[2])
          redis.call('HINCRBY', b, d[1] .. 'n', 1)
          if count == 1 or redis.call('PTTL', z) < 0 then redis.call('PEXPIRE', z, ttl) end
        end
      end
      if ledger ~= '' then redis.call('HSET', ledger, field, 1) end
    end
    out[i] = verdict
  end
end
if ledger ~= '' then redis.call('PEXPIRE', ledger, ttl) end
return out
`;

type FoldRedis = Redis & { falconetFold(...args: Array<string | number>): Promise<number[]> };

export interface FoldInput {
  alert: Alert;
  json: string;
  /** The fan-out ledger field of this alert for this output (see FanoutLedger). */
  ledgerField: string;
}

export interface FoldResult {
  passed: FoldInput[];
  storm: number;
  overflow: number;
  /** Already handled by a previous attempt of the same ingest job. */
  replayed: number;
}

export class StormControl {
  private readonly r: FoldRedis;
  private readonly keys: ReturnType<typeof noiseKeys>;

  constructor(redis: Redis, prefix: string) {
    // Two declared keys (also passed in ARGV, where the script reads them): a Cluster client
    // routes a script by its first key, and one without keys went to a random node.
    if (!('falconetFold' in redis)) redis.defineCommand('falconetFold', { numberOfKeys: 2, lua: FOLD_SCRIPT });
    this.r = redis as FoldRedis;
    this.keys = noiseKeys(prefix);
  }

  /** Which alerts go on to the delivery queue. `overflowing`: the output's backlog is over its bound. */
  async fold(policy: NoisePolicy, items: FoldInput[], opts: { overflowing: boolean; ledgerKey: string }): Promise<FoldResult> {
    const result: FoldResult = { passed: [], storm: 0, overflow: 0, replayed: 0 };
    const overflowing = opts.overflowing && policy.overflow !== undefined;
    if (items.length === 0 || (!policy.storm && !overflowing)) {
      result.passed = items;
      return result;
    }
    const keyFields = policy.storm?.key ?? policy.overflow!.key;
    const args: Array<string | number> = [
      this.keys.base(policy.output),
      this.keys.due,
      this.keys.gen,
      policy.storm?.window ?? 0,
      overflowing ? '1' : '0',
      policy.overflow?.window ?? 0,
      opts.ledgerKey,
      policy.output,
      BUCKET_TTL_MS,
    ];
    for (const { alert, json, ledgerField } of items) {
      args.push(
        fieldsKey(alert, keyFields),
        ledgerField,
        Number(alertTimeNanos(alert) / 1_000_000n),
        alert.time,
        alert.hostname ?? '',
        alertNamespace(alert) ?? '',
        alertPod(alert) ?? '',
        json,
      );
    }
    const verdicts = await this.r.falconetFold(this.keys.due, this.keys.gen, ...args);
    items.forEach((item, i) => {
      const v = verdicts[i];
      if (v === 1) result.passed.push(item);
      else if (v === 2) result.storm++;
      else if (v === 3) result.overflow++;
      else result.replayed++;
    });
    return result;
  }
}
