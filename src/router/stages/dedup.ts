import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { alertField, type Alert } from '../../alert/alert.js';
import { stringifyJson } from '../../alert/json.js';

/**
 * For each key: the first alert claims it for `window` ms and passes, carrying how many were
 * suppressed since the previous claim; later alerts with the same key are counted and suppressed.
 * The claim records the alert id, so a retried ingest job lets its own alerts through again.
 * One script call per batch: atomic across every router and collector sharing this Redis.
 */
const DEDUP_SCRIPT = `
local out = {}
for i, key in ipairs(KEYS) do
  local id = ARGV[2 + i]
  local holder = redis.call('GET', key)
  if not holder then
    redis.call('SET', key, id, 'PX', ARGV[1])
    out[i] = tonumber(redis.call('GETDEL', key .. ':n')) or 0
  elseif holder == id then
    out[i] = 0
  else
    redis.call('INCR', key .. ':n')
    redis.call('PEXPIRE', key .. ':n', ARGV[2])
    out[i] = -1
  end
end
return out
`;

export const SUPPRESSED_FIELD = 'falconet.suppressed';

// The count of suppressed repeats outlives the window so the next alert through can report it.
const COUNTER_TTL_MS = 24 * 3600 * 1000;

type DedupRedis = Redis & { falconetDedup(numKeys: number, ...args: Array<string | number>): Promise<number[]> };

export function dedupKey(alert: Alert, fields: readonly string[]): string {
  const values = fields.map((f) => alertField(alert, f) ?? null);
  return createHash('sha1').update(stringifyJson(values)).digest('hex');
}

export function createDedupStage(redis: Redis, opts: { prefix: string; window: number; key: readonly string[] }) {
  if (opts.window <= 0) return async (alerts: Alert[]) => alerts;
  if (!('falconetDedup' in redis)) redis.defineCommand('falconetDedup', { lua: DEDUP_SCRIPT });
  const r = redis as DedupRedis;
  return async (alerts: Alert[]): Promise<Alert[]> => {
    if (alerts.length === 0) return alerts;
    const keys = alerts.map((a) => `${opts.prefix}:dedup:${dedupKey(a, opts.key)}`);
    const verdicts = await r.falconetDedup(keys.length, ...keys, opts.window, opts.window + COUNTER_TTL_MS, ...alerts.map((a) => a.id));
    const passed: Alert[] = [];
    alerts.forEach((alert, i) => {
      const verdict = verdicts[i]!;
      if (verdict < 0) return;
      if (verdict > 0) alert.output_fields[SUPPRESSED_FIELD] = verdict;
      passed.push(alert);
    });
    return passed;
  };
}
