import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { DeadLetterStore } from '../../src/dlq/store.js';
import { createDeadLetterStage } from '../../src/delivery/stages/dead-letter.js';
import { REDIS_URL, deletePrefix } from '../helpers/harness.js';

const redis = new Redis(REDIS_URL);
const prefixes: string[] = [];
afterAll(async () => {
  for (const p of prefixes) await deletePrefix(p);
  redis.disconnect();
});

function store(opts: { maxAge?: number; maxPerOutput?: number; now?: () => number } = {}) {
  const prefix = `fnt-${randomUUID().slice(0, 8)}`;
  prefixes.push(prefix);
  return new DeadLetterStore(redis, { prefix, maxAge: opts.maxAge ?? 3_600_000, maxPerOutput: opts.maxPerOutput ?? 1000, now: opts.now });
}
const letter = (id: string, at: number, extra = {}) => ({ id, rule: 'R', alert: `{"id":"${id}","n":12345678901234567890}`, reason: 'HTTP 400', status: 400, attempts: 1, firstAttemptAt: at, lastAttemptAt: at, ...extra });

describe('dead-letter store (real Redis)', () => {
  it('one record per alert and output, oldest first, alert bytes intact; the same alert again adds up attempts', async () => {
    const now = Date.now();
    const s = store();
    await s.add('es', [letter('b', now - 10), letter('a', now - 20)]);
    await s.add('slack', [letter('a', now - 5)]);
    await s.add('es', [letter('a', now, { attempts: 3, reason: 'HTTP 503', status: 503 })]);
    const es = await s.list('es');
    expect(es.map((l) => l.id)).toEqual(['b', 'a']);
    expect(es[1]).toMatchObject({ output: 'es', attempts: 4, firstAttemptAt: now - 20, lastAttemptAt: now, reason: 'HTTP 503', status: 503 });
    expect(es[1]!.alert).toBe('{"id":"a","n":12345678901234567890}');
    expect(await s.outputs()).toEqual(['es', 'slack']);
    expect(await s.count('slack')).toBe(1);
  });

  it('prunes by age on write and on list, and bounds the count per output (oldest go)', async () => {
    let clock = 1_000_000;
    const s = store({ maxAge: 1000, maxPerOutput: 3, now: () => clock });
    await s.add('o', [letter('old', clock - 2000), letter('x1', clock - 10)]);
    expect((await s.list('o')).map((l) => l.id)).toEqual(['x1']);
    await s.add('o', [letter('x2', clock - 9), letter('x3', clock - 8), letter('x4', clock - 7)]);
    expect((await s.list('o')).map((l) => l.id)).toEqual(['x2', 'x3', 'x4']);
    clock += 992;
    expect((await s.list('o')).map((l) => l.id)).toEqual(['x3', 'x4']);
  });

  it('remove and purge (all, or older than)', async () => {
    const now = Date.now();
    const s = store();
    await s.add('o', [letter('a', now - 50_000), letter('b', now - 1000), letter('c', now)]);
    expect(await s.remove('o', ['c', 'zz'])).toBe(1);
    expect(await s.purge('o', 10_000)).toBe(1);
    expect((await s.list('o')).map((l) => l.id)).toEqual(['b']);
    expect(await s.purge('o')).toBe(1);
    expect(await s.list('o')).toEqual([]);
  });

  it('the dead-letter stage writes an outcome\'s dead alerts with the send count and first attempt', async () => {
    const s = store();
    const now = Date.now();
    const stage = createDeadLetterStage(s, 'hook', () => now);
    await stage({ sent: 2, delivered: 1, dead: [{ id: 'a1', rule: 'R', text: '{"id":"a1"}', reason: 'mapping', kind: 'rejected' }], firstAttemptAt: now - 900, sends: 3, seconds: 0 });
    expect(await s.get('hook', ['a1'])).toEqual([{ id: 'a1', output: 'hook', rule: 'R', alert: '{"id":"a1"}', reason: 'mapping', attempts: 3, firstAttemptAt: now - 900, lastAttemptAt: now }]);
  });
});
