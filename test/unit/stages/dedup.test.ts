import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDedupStage, dedupKey, SUPPRESSED_FIELD } from '../../../src/router/stages/dedup.js';
import { DEFAULT_DEDUP_KEY } from '../../../src/config/schema.js';
import { REDIS_URL, deletePrefix } from '../../helpers/harness.js';
import { waitFor } from '../../helpers/wait.js';
import { makeAlert } from './make-alert.js';

let redis: Redis;
let prefix: string;
beforeEach(() => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  prefix = `fnt-dedup-${randomUUID().slice(0, 8)}`;
});
afterEach(async () => {
  redis.disconnect();
  await deletePrefix(prefix);
});

const same = { rule: 'Terminal shell in container', hostname: 'node-1', output_fields: { 'container.id': 'abc', 'proc.cmdline': 'bash' } };
const dup = () => makeAlert({ ...same, output_fields: { ...same.output_fields } });

describe('dedup stage (real Redis)', () => {
  it('the key is built from the configured fields only', () => {
    const a = dup();
    const b = makeAlert({ ...same, time: '2030-01-01T00:00:00Z', output_fields: { ...same.output_fields, 'evt.time': 5n } });
    expect(dedupKey(a, DEFAULT_DEDUP_KEY)).toBe(dedupKey(b, DEFAULT_DEDUP_KEY));
    expect(dedupKey(a, DEFAULT_DEDUP_KEY)).not.toBe(dedupKey(makeAlert({ ...same, hostname: 'node-2' }), DEFAULT_DEDUP_KEY));
    expect(dedupKey(a, ['rule'])).toBe(dedupKey(makeAlert({ rule: same.rule, hostname: 'other' }), ['rule']));
  });

  it('suppresses the same key within the window, in one batch and across batches; distinct keys pass', async () => {
    const stage = createDedupStage(redis, { prefix, window: 60_000, key: DEFAULT_DEDUP_KEY });
    const first = await stage([dup(), dup(), makeAlert({ ...same, hostname: 'node-2' })]);
    expect(first.map((a) => a.hostname)).toEqual(['node-1', 'node-2']);
    expect(first.every((a) => !(SUPPRESSED_FIELD in a.output_fields))).toBe(true);
    expect(await stage([dup(), dup()])).toEqual([]);
  });

  it('carries the suppressed count on the next alert passing after the window', async () => {
    const stage = createDedupStage(redis, { prefix, window: 300, key: DEFAULT_DEDUP_KEY });
    expect(await stage([dup()])).toHaveLength(1);
    expect(await stage([dup(), dup()])).toHaveLength(0);
    expect(await stage([dup()])).toHaveLength(0);
    // Three repeats were suppressed; once the window ends the next one passes and says so.
    const passed = await waitFor(async () => {
      const out = await stage([dup()]);
      return out.length === 1 ? out[0] : undefined;
    }, { timeoutMs: 5000, intervalMs: 50, what: 'window to end' });
    // The probes made by waitFor while still inside the window were suppressed too: at least 3.
    expect(passed.output_fields[SUPPRESSED_FIELD]).toBeGreaterThanOrEqual(3);
  });

  it('reports exactly the suppressed count when nothing probes inside the window', async () => {
    const stage = createDedupStage(redis, { prefix, window: 300, key: DEFAULT_DEDUP_KEY });
    const a = dup();
    expect(await stage([a, dup(), dup()])).toEqual([a]);
    const key = `${prefix}:dedup:${dedupKey(a, DEFAULT_DEDUP_KEY)}`;
    await waitFor(async () => (await redis.exists(key)) === 0, { timeoutMs: 5000, what: 'claim to expire' });
    const [next] = await stage([dup()]);
    expect(next!.output_fields[SUPPRESSED_FIELD]).toBe(2);
    // The count was consumed: after the next window with no repeats, the alert carries none.
    await waitFor(async () => (await redis.exists(key)) === 0, { timeoutMs: 5000, what: 'second claim to expire' });
    const [third] = await stage([dup()]);
    expect(third).toBeDefined();
    expect(SUPPRESSED_FIELD in third!.output_fields).toBe(false);
  });

  it('a retried batch with the same alert ids passes again', async () => {
    const stage = createDedupStage(redis, { prefix, window: 60_000, key: DEFAULT_DEDUP_KEY });
    const a = dup();
    const b = makeAlert({ rule: 'Other rule' });
    const firstTry = await stage([a, b]);
    expect(firstTry).toHaveLength(2);
    const retried = await stage([{ ...a, output_fields: { ...same.output_fields } }, { ...b, output_fields: {} }]);
    expect(retried.map((x) => x.id)).toEqual([a.id, b.id]);
    // …while a different alert with the same key is still suppressed.
    expect(await stage([dup()])).toEqual([]);
  });

  it('window 0 turns dedup off', async () => {
    const stage = createDedupStage(redis, { prefix, window: 0, key: DEFAULT_DEDUP_KEY });
    expect(await stage([dup(), dup(), dup()])).toHaveLength(3);
  });
});
