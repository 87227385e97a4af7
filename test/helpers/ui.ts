import type { Redis } from 'ioredis';
import type { Alert } from '../../src/alert/alert.js';
import { normalise } from '../../src/router/stages/normalise.js';
import { alertId } from '../../src/collector/decode.js';
import { fixtureAlertLines } from './fixtures.js';

/** Redis memory (MEMORY USAGE, exact: SAMPLES 0) of every key of the UI store under `key`. */
export async function uiMemory(redis: Redis, key: string): Promise<number> {
  let total = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${key}:*`, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) total += Number((await redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')) ?? 0);
  } while (cursor !== '0');
  return total;
}

const lines = fixtureAlertLines();

/** The n-th alert: a real fixture line with its own output text and time (so its own id). */
export function fixtureAlert(n: number): Alert {
  const base = JSON.parse(lines[n % lines.length]!) as Record<string, unknown>;
  const text = JSON.stringify({ ...base, output: `${String(base.output)} #${n}`, time: new Date(Date.UTC(2026, 0, 1) + n).toISOString() });
  return normalise([[alertId(text), text]])[0]!;
}
