import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alert/alert.js';
import { parseJson, stringifyJson } from '../../src/alert/json.js';
import { BacklogGauge } from '../../src/noise/backlog.js';
import { digestOf } from '../../src/alert/digest.js';
import { DigestFlusher } from '../../src/noise/flusher.js';
import { noisePolicy, type NoisePolicy } from '../../src/noise/policy.js';
import { StormControl, type FoldInput } from '../../src/noise/storm.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { REDIS_URL, deletePrefix } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { makeAlert } from './stages/make-alert.js';

let redis: Redis;
let prefix: string;
beforeEach(() => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  prefix = `fnt-noise-${randomUUID().slice(0, 8)}`;
});
afterEach(async () => {
  redis.disconnect();
  await deletePrefix(prefix);
});

const log = pino({ level: 'silent' });
let seq = 0;
function shell(over: Partial<Alert> = {}, fields: Record<string, string> = {}): FoldInput {
  seq++;
  const alert = makeAlert({
    time: `2025-06-12T10:01:${String(seq % 60).padStart(2, '0')}.000000000Z`,
    hostname: `node-${seq % 3}`,
    output: `shell ${seq}`,
    output_fields: { 'k8s.ns.name': 'team2', 'k8s.pod.name': `pod-${seq % 12}`, 'evt.time': BigInt(seq), ...fields },
    ...over,
  });
  return { alert, json: stringifyJson(alert), ledgerField: `out|${alert.id}.0` };
}

const storm = (window: number, key = ['rule']): NoisePolicy => ({ output: 'out', storm: { window, key } });

/** Collects what a flusher queues. */
function sink() {
  const queued: Array<{ output: string; jobId: string; alert: Alert }> = [];
  const enqueue = async (output: string, jobId: string, json: string) => {
    queued.push({ output, jobId, alert: parseJson(json) as unknown as Alert });
  };
  return { queued, enqueue };
}

describe('storm control (real Redis)', () => {
  it('first alert of a key passes, the rest are counted and come back as one digest at the window end', async () => {
    const control = new StormControl(redis, prefix);
    const items = Array.from({ length: 30 }, () => shell());
    const other = shell({ rule: 'Other rule' });
    const first = await control.fold(storm(400), [...items.slice(0, 10), other], { overflowing: false, ledgerKey: '' });
    expect(first.passed.map((p) => p.alert.id)).toEqual([items[0]!.alert.id, other.alert.id]);
    expect(first.storm).toBe(9);
    const second = await control.fold(storm(400), items.slice(10), { overflowing: false, ledgerKey: '' });
    expect(second).toMatchObject({ passed: [], storm: 20 });

    const { queued, enqueue } = sink();
    const flusher = new DigestFlusher(redis, prefix, enqueue, new Set(['out']), log, { topK: 3 });
    // Nothing is due before the window ends.
    expect(await flusher.flushDue()).toBe(0);
    await waitFor(async () => (await flusher.flushDue()) === 1, { what: 'digest due', timeoutMs: 5000, intervalMs: 50 });
    expect(queued).toHaveLength(1);
    const digest = digestOf(queued[0]!.alert)!;
    expect(digest).toMatchObject({ suppressed: 29, cause: 'storm', example: items[1]!.alert.output });
    expect(digest.firstTime).toBe(items[1]!.alert.time);
    expect(digest.lastTime).toBe(items[29]!.alert.time);
    expect(digest.hosts.distinct).toBe(3);
    expect(digest.hosts.top.reduce((n, t) => n + t.count, 0) + digest.hosts.others).toBe(29);
    expect(digest.pods).toMatchObject({ distinct: 12 });
    expect(digest.pods.top).toHaveLength(3);
    expect(digest.pods.top.reduce((n, t) => n + t.count, 0) + digest.pods.others).toBe(29);
    expect(digest.namespaces).toEqual({ distinct: 1, top: [{ name: 'team2', count: 29 }], others: 0 });
    // Sent once: acknowledged, nothing left due; the next alert opens a new window and passes.
    expect(await flusher.flushDue()).toBe(0);
    expect((await control.fold(storm(400), [shell()], { overflowing: false, ledgerKey: '' })).passed).toHaveLength(1);
  });

  it('a window without repeats sends no digest; keys are separate storms', async () => {
    const control = new StormControl(redis, prefix);
    const policy = storm(200, ['rule', 'output_fields.k8s.ns.name']);
    const r = await control.fold(policy, [shell({}, { 'k8s.ns.name': 'a' }), shell({}, { 'k8s.ns.name': 'b' })], { overflowing: false, ledgerKey: '' });
    expect(r.passed).toHaveLength(2);
    const { queued, enqueue } = sink();
    const flusher = new DigestFlusher(redis, prefix, enqueue, new Set(['out']), log);
    await waitFor(async () => (await redis.keys(`${prefix}:noise:out:w:*`)).length === 0, { what: 'windows to end', timeoutMs: 5000 });
    expect(await flusher.flushDue()).toBe(0);
    expect(queued).toHaveLength(0);
  });

  it('a replayed ingest job is not counted twice (ledger)', async () => {
    const control = new StormControl(redis, prefix);
    const items = Array.from({ length: 5 }, () => shell());
    const ledgerKey = `${prefix}:fanout:7`;
    expect((await control.fold(storm(60_000), items, { overflowing: false, ledgerKey })).storm).toBe(4);
    // The retry of job 7: the four folded ones were recorded by the fold itself; the passed one by the fan-out (not here).
    const again = await control.fold(storm(60_000), items, { overflowing: false, ledgerKey });
    expect(again).toMatchObject({ replayed: 4, storm: 1, passed: [] });
  });

  it('while the output overflows, every alert is folded (the first too), keyed by rule without dedup', async () => {
    const instance = parseOutputInstance('out', { type: 'slack', webhookUrl: 'https://hooks.slack.com/services/x', overflow: { after: '10s', window: '300ms' } });
    const policy = noisePolicy(instance)!;
    expect(policy.storm).toBeUndefined();
    expect(policy.overflow).toMatchObject({ afterMs: 10_000, window: 300, key: ['rule'], rate: { max: 1, per: 1000 } });
    const control = new StormControl(redis, prefix);
    const items = Array.from({ length: 8 }, () => shell());
    expect((await control.fold(policy, items.slice(0, 3), { overflowing: false, ledgerKey: '' })).passed).toHaveLength(3);
    expect(await control.fold(policy, items.slice(3), { overflowing: true, ledgerKey: '' })).toMatchObject({ passed: [], overflow: 5 });
    const { queued, enqueue } = sink();
    const flusher = new DigestFlusher(redis, prefix, enqueue, new Set(['out']), log);
    await waitFor(async () => (await flusher.flushDue()) === 1, { what: 'overflow digest', timeoutMs: 5000, intervalMs: 50 });
    expect(digestOf(queued[0]!.alert)).toMatchObject({ suppressed: 5, cause: 'overflow' });
  });

  it('a digest claimed by a worker that dies before queueing it is sent by another after the lease', async () => {
    const control = new StormControl(redis, prefix);
    await control.fold(storm(100), [shell(), shell(), shell()], { overflowing: false, ledgerKey: '' });
    // Worker A claims, then "dies": its enqueue never completes, nothing is acknowledged.
    const dying = new DigestFlusher(redis, prefix, () => new Promise<void>(() => undefined), new Set(['out']), log, { leaseMs: 500 });
    await waitFor(async () => (await redis.zcard(`${prefix}:noise:due`)) === 1, { what: 'bucket due' });
    await waitFor(async () => {
      void dying.flushDue();
      const [member] = await redis.zrange(`${prefix}:noise:due`, '0', '0');
      const score = member === undefined ? null : await redis.zscore(`${prefix}:noise:due`, member);
      return Number(score) > Date.now();
    }, { what: 'claimed by A', timeoutMs: 5000, intervalMs: 50 });
    const { queued, enqueue } = sink();
    const survivor = new DigestFlusher(redis, prefix, enqueue, new Set(['out']), log);
    expect(await survivor.flushDue()).toBe(0); // A's lease still holds
    await waitFor(async () => (await survivor.flushDue()) === 1, { what: 'B sends it after the lease', timeoutMs: 5000, intervalMs: 50 });
    expect(digestOf(queued[0]!.alert)).toMatchObject({ suppressed: 2 });
    expect(await redis.zcard(`${prefix}:noise:due`)).toBe(0);
  });
});

describe('backlog gauge', () => {
  it('reads the queue at most once per refresh period and adds what this process queued since', async () => {
    let reads = 0;
    let now = 1000;
    const gauge = new BacklogGauge(async () => (reads++, 50), 1000, 60_000, 250, () => now);
    expect(await gauge.admit(0)).toBe(false); // 50 jobs at 1/s = 50 s
    for (let i = 0; i < 100; i++) await gauge.admit(0);
    expect(reads).toBe(1);
    // A burst of concurrent dispatches: each admission counts for the next ones.
    const verdicts = await Promise.all(Array.from({ length: 15 }, () => gauge.admit(1)));
    expect(verdicts.filter((over) => !over)).toHaveLength(11); // admitted while at most 60 s; the rest overflow
    expect(gauge.backlogMs()).toBe(61_000);
    gauge.added(-11);
    expect(await gauge.admit(0)).toBe(false);
    now += 300;
    await gauge.admit(0);
    await waitFor(() => reads === 2, { what: 'background refresh' });
    expect(gauge.backlogMs()).toBe(50_000);
  });
});
