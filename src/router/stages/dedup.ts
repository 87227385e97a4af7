import type { RedisClient as Redis } from '../../queue/connection.js';
import type { Alert } from '../../alert/alert.js';
import { eventIdentity } from '../../alert/identity.js';

/**
 * Stage 4: drops exact duplicates only, i.e. the same Falco event received twice (a second POST,
 * a spool replay under a new ingest job, one audit event read by two Falco instances). Similar
 * events are never folded here: that is a choice per output (src/noise, `outputs.<name>.dedup`).
 *
 * Each event claims its identity for `window` ms. The claim names the ingest job and the event's
 * occurrence inside it (`<job>#<n>`), so a retried or stalled ingest job passes its own events
 * again (crash safety) while a second copy, in another job or later in the same one, is dropped.
 * One script call per batch: atomic across every worker sharing this Redis.
 */
const CLAIM_SCRIPT = `
local out = {}
for i, key in ipairs(KEYS) do
  local holder = ARGV[1 + i]
  if redis.call('SET', key, holder, 'NX', 'PX', ARGV[1]) then
    out[i] = 1
  elseif redis.call('GET', key) == holder then
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
`;

type DedupRedis = Redis & { falconetClaim(numKeys: number, ...args: Array<string | number>): Promise<number[]> };

export interface DedupResult {
  passed: Alert[];
  duplicates: number;
}

export function createDedupStage(redis: Redis, opts: { prefix: string; window: number }) {
  if (opts.window <= 0) return async (alerts: Alert[]): Promise<DedupResult> => ({ passed: alerts, duplicates: 0 });
  if (!('falconetClaim' in redis)) redis.defineCommand('falconetClaim', { lua: CLAIM_SCRIPT });
  const r = redis as DedupRedis;
  /** `jobId`: the ingest job these alerts came in (the same on every retry of that job). */
  return async (alerts: Alert[], jobId: string): Promise<DedupResult> => {
    if (alerts.length === 0) return { passed: alerts, duplicates: 0 };
    const seen = new Map<string, number>();
    const keys: string[] = [];
    const holders: string[] = [];
    for (const alert of alerts) {
      const identity = eventIdentity(alert);
      const occurrence = seen.get(identity) ?? 0;
      seen.set(identity, occurrence + 1);
      keys.push(`${opts.prefix}:dedup:${identity}`);
      holders.push(`${jobId}#${occurrence}`);
    }
    const verdicts = await r.falconetClaim(keys.length, ...keys, opts.window, ...holders);
    const passed = alerts.filter((_, i) => verdicts[i] === 1);
    return { passed, duplicates: alerts.length - passed.length };
  };
}
