import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventIdentity } from '../../../src/alert/identity.js';
import { parseJson } from '../../../src/alert/json.js';
import { createDedupStage } from '../../../src/router/stages/dedup.js';
import { REDIS_URL, deletePrefix } from '../../helpers/harness.js';
import { waitFor } from '../../helpers/wait.js';
import { configOf, makeAlert } from './make-alert.js';
import type { Alert } from '../../../src/alert/alert.js';

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

const shell = (i: number, over: Partial<Alert> = {}): Alert =>
  makeAlert({
    rule: 'Terminal shell in container',
    output_fields: { 'container.id': 'abc', 'proc.cmdline': 'bash', 'evt.time': 1749722998004512930n + BigInt(i) },
    ...over,
  });

const audit = (i: number, host = 'node-1'): Alert =>
  makeAlert({
    rule: 'Attach/Exec Pod',
    source: 'k8s_audit',
    hostname: host,
    output_fields: { 'ka.user.name': `user-${i}`, 'ka.target.name': `pod-${i}`, 'ka.target.namespace': 'team1', 'evt.time': 1749722998004512930n + BigInt(i) },
  });

/** A second copy of an alert, as a second POST of the same body gives (fresh objects, own id). */
const copy = (a: Alert): Alert => ({ ...a, id: `${a.id}-copy`, output_fields: { ...a.output_fields } });

const defaults = () => createDedupStage(redis, { prefix, window: configOf({ outputs: { o: { type: 'stdout' } }, routes: [{ outputs: ['o'] }] }).dedup.window });

describe('event identity', () => {
  it('is the same event: rule, source, time, output, every output field (key order free, int64 exact), hostname for syscall only', () => {
    const a = shell(0);
    const reordered = parseJson('{"evt.time":1749722998004512930,"proc.cmdline":"bash","container.id":"abc"}') as Alert['output_fields'];
    expect(eventIdentity({ ...a, output_fields: reordered })).toBe(eventIdentity(a));
    expect(eventIdentity(shell(1))).not.toBe(eventIdentity(a)); // evt.time differs by 1 ns, beyond 2^53
    expect(eventIdentity({ ...a, hostname: 'node-2' })).not.toBe(eventIdentity(a));
    expect(eventIdentity({ ...a, source: 'k8s_audit' })).not.toBe(eventIdentity(a));
    // Events without evt.time in their fields (a custom rule, a text alert) still differ by time or output.
    const bare = makeAlert({ output_fields: {}, output: 'shell in abc' });
    expect(eventIdentity({ ...bare, time: '2025-06-12T08:00:01Z' })).not.toBe(eventIdentity(bare));
    expect(eventIdentity({ ...bare, output: 'shell in def' })).not.toBe(eventIdentity(bare));
    expect(eventIdentity({ ...a, output_fields: { ...a.output_fields, 'evt.time': '1749722998004512930' } })).not.toBe(eventIdentity(a));
    // One audit event read by two Falco instances is one event.
    expect(eventIdentity(audit(3, 'node-1'))).toBe(eventIdentity(audit(3, 'node-2')));
  });
});

describe('dedup stage (real Redis), shipped defaults', () => {
  it('passes 50 k8s_audit alerts of one rule and host with distinct users, targets and evt.time', async () => {
    const stage = defaults();
    const alerts = Array.from({ length: 50 }, (_, i) => audit(i));
    const { passed, duplicates } = await stage(alerts, '1');
    expect(passed).toHaveLength(50);
    expect(duplicates).toBe(0);
  });

  it('passes 50 syscall alerts of one rule in one container with the same cmdline and distinct evt.time', async () => {
    const stage = defaults();
    // In separate ingest jobs, as Falco posts them one by one.
    let passed = 0;
    for (let i = 0; i < 50; i++) passed += (await stage([shell(i)], String(i + 1))).passed.length;
    expect(passed).toBe(50);
  });

  it('drops the same event received again: in another job, later in the same job, or from a second Falco for audit events', async () => {
    const stage = defaults();
    const a = shell(0);
    const first = await stage([a, copy(a), shell(1)], '1');
    expect(first.passed.map((x) => x.id)).toEqual([a.id, first.passed[1]!.id]);
    expect(first.duplicates).toBe(1);
    expect(await stage([copy(a)], '2')).toMatchObject({ passed: [], duplicates: 1 });
    expect(await stage([copy(a)], '3')).toMatchObject({ passed: [], duplicates: 1 });
    const e = audit(7, 'node-1');
    expect((await stage([e], '4')).passed).toHaveLength(1);
    expect(await stage([{ ...audit(7, 'node-2') }], '5')).toMatchObject({ passed: [], duplicates: 1 });
  });

  it('a retried ingest job passes its own alerts again; a duplicate inside it stays dropped', async () => {
    const stage = defaults();
    const a = shell(0);
    const b = makeAlert({ rule: 'Other rule' });
    const job = [a, copy(a), b];
    expect((await stage(job, '41')).passed).toHaveLength(2);
    // A second POST meanwhile (another job) is a duplicate…
    expect((await stage([copy(a)], '42')).passed).toEqual([]);
    // …while the retry of job 41 (fresh objects parsed again from the same job data) passes as before.
    const retried = await stage(job.map(copy), '41');
    expect(retried.passed.map((x) => x.id)).toEqual([`${a.id}-copy`, `${b.id}-copy`]);
    expect(retried.duplicates).toBe(1);
  });

  it('the claim expires with the window: the same event later passes again', async () => {
    const stage = createDedupStage(redis, { prefix, window: 300 });
    const a = shell(0);
    expect((await stage([a], '1')).passed).toHaveLength(1);
    expect((await stage([copy(a)], '2')).passed).toHaveLength(0);
    const again = await waitFor(async () => (await stage([copy(a)], '3')).passed[0], { timeoutMs: 5000, intervalMs: 50, what: 'window to end' });
    expect(again.output_fields).toEqual(a.output_fields);
  });

  it('window 0 turns dedup off', async () => {
    const stage = createDedupStage(redis, { prefix, window: 0 });
    const a = shell(0);
    expect((await stage([a, copy(a), copy(a)], '1')).passed).toHaveLength(3);
  });

  it('the default window is 10 minutes and the global stage takes no key', () => {
    const doc = { outputs: { o: { type: 'stdout' } }, routes: [{ outputs: ['o'] }] };
    expect(configOf(doc).dedup.window).toBe(600_000);
    expect(() => configOf({ ...doc, dedup: { window: '1m', key: ['rule'] } })).toThrow(/outputs\.<name>\.dedup/);
  });
});
