import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { alertId } from '../../src/collector/decode.js';
import { ROUTER_OUTPUT } from '../../src/dlq/store.js';
import { deliveryQueueName } from '../../src/queue/names.js';
import { appendIngest } from '../../src/queue/ingest-log.js';
import { DeadLetterStore } from '../../src/dlq/store.js';
import { IngestConsumer } from '../../src/worker/ingest-consumer.js';
import pino from 'pino';
import { ingestBacklog } from '../helpers/ingest-log.js';
import type { CapturedRequest, ScriptedResponse } from '../helpers/capture-server.js';
import { deadLetters } from '../helpers/dlq.js';
import { falcoHeaders } from '../helpers/fixtures.js';
import { REDIS_URL, enqueueIngest, testConfig } from '../helpers/harness.js';
import { useRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'falconet-dlq-'));
const rig = useRig();

// The real command, as installed: bin/falconet.js runs the build in dist/.
beforeAll(async () => {
  await run('npm', ['run', 'build', '--silent'], { cwd: root });
}, 120_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function falconet(configPath: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/falconet.js', ...args, '--config', configPath], { cwd: root, env: { ...process.env, REDIS_URL } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const alert = (rule: string, n: number) =>
  JSON.stringify({ rule, priority: 'Warning', time: `2025-06-12T08:00:0${n}.123456789Z`, hostname: 'node-1', output: `${rule} #${n}`, output_fields: { 'evt.time': 1749715200123456789n + BigInt(n), 'container.id': 'c1', 'proc.cmdline': 'bash' } }, (_k, v: unknown) => (typeof v === 'bigint' ? `__${v}__` : v)).replace(/"__(\d+)__"/g, '$1');

/** A webhook receiver that refuses rules starting with "bad" while `broken`, and counts 2xx answers by alert id. */
function receiver() {
  const state = { broken: true, okById: new Map<string, number>() };
  const respond = (req: CapturedRequest): ScriptedResponse => {
    const body = JSON.parse(req.body.replace(/:(\d{16,})/g, ':"$1"')) as { id: string; rule: string };
    if (state.broken && body.rule.startsWith('bad')) return { status: 400, body: `{"error":"schema: ${body.rule} is not accepted"}` };
    state.okById.set(body.id, (state.okById.get(body.id) ?? 0) + 1);
    return { status: 200 };
  };
  return { state, respond };
}

function documentFor(sinkUrl: string): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    redis: { url: REDIS_URL, prefix: `fnt-${randomUUID().slice(0, 8)}`, embedded: false },
    dedup: { window: 0 },
    outputs: { hook: { type: 'webhook', url: `${sinkUrl}/hook`, retry: { attempts: 3, backoff: '50ms', maxBackoff: '100ms' } } },
    routes: [{ outputs: ['hook'] }],
  };
}

async function settled(queue: Queue): Promise<void> {
  await waitFor(async () => {
    const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    return Object.values(c).every((n) => n === 0);
  }, { timeoutMs: 20_000, what: 'the delivery queue to settle' });
}

describe('dead letters: list, replay, purge', () => {
  it('round trip with the built `falconet dlq`: 400s listed with reasons, replayed once each after the fix, purged', async () => {
    const sink = await rig.capture();
    const { state, respond } = receiver();
    sink.fallback = respond;
    const doc = documentFor(sink.url);
    const configPath = join(tmp, `${randomUUID().slice(0, 8)}.yaml`);
    writeFileSync(configPath, stringify(doc));
    const pipeline = await rig.pipeline(testConfig(doc));
    const dlq = deadLetters(pipeline.config);

    const bad = [1, 2, 3].map((n) => alert(`bad rule ${n}`, n));
    const good = [4, 5].map((n) => alert('good rule', n));
    for (const body of [...bad, ...good]) expect((await pipeline.post(body, falcoHeaders())).status).toBe(200);
    await waitFor(async () => (await dlq.count('hook')) === 3, { what: 'three dead letters' });

    const listed = await falconet(configPath, 'dlq', 'list', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    const entries = listed.stdout.trim().split('\n').map((l) => JSON.parse(l.replace(/:(\d{16,})/g, ':"$1"')) as Record<string, any>);
    expect(entries.map((e) => e.id).sort()).toEqual(bad.map(alertId).sort());
    for (const e of entries) {
      expect(e).toMatchObject({ output: 'hook', attempts: 1, status: 400 });
      expect(e.rule).toMatch(/^bad rule \d$/);
      expect(e.reason).toContain('HTTP 400');
      expect(e.reason).toContain(`schema: ${e.rule} is not accepted`);
      expect(typeof e.lastAttemptAt).toBe('number');
      expect(e.alert.rule).toBe(e.rule);
    }
    // The alert is embedded byte for byte: nanosecond integers exact.
    expect(listed.stdout).toContain('"evt.time":1749715200123456790');
    const table = await falconet(configPath, 'dlq', 'list', '--output', 'hook');
    expect(table.stdout).toMatch(/OUTPUT\s+ID\s+ATTEMPTS/);
    expect(table.stdout.trim().split('\n')).toHaveLength(4);

    // The output is fixed; replay all of its dead letters.
    state.broken = false;
    const replayed = await falconet(configPath, 'dlq', 'replay', '--output', 'hook');
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toContain('replayed 3 dead letters of hook');
    await waitFor(() => bad.every((b) => state.okById.get(alertId(b)) === 1), { what: 'each replayed alert delivered' });
    await settled(pipeline.queue('hook'));
    expect(Object.fromEntries(state.okById)).toEqual(Object.fromEntries([...bad, ...good].map((b) => [alertId(b), 1])));
    expect((await falconet(configPath, 'dlq', 'list', '--json')).stdout).toBe('');

    // Purge: new dead letters, too recent for --older-than 7d, then all of them.
    state.broken = true;
    for (const n of [6, 7]) expect((await pipeline.post(alert(`bad again ${n}`, n), falcoHeaders())).status).toBe(200);
    await waitFor(async () => (await dlq.count('hook')) === 2, { what: 'two new dead letters' });
    expect((await falconet(configPath, 'dlq', 'purge', '--output', 'hook', '--older-than', '7d')).stdout).toContain('purged 0 dead letters');
    expect(await dlq.count('hook')).toBe(2);
    expect((await falconet(configPath, 'dlq', 'purge', '--output', 'hook')).stdout).toContain('purged 2 dead letters');
    expect((await falconet(configPath, 'dlq', 'list', '--json')).stdout).toBe('');

    // Bad usage names the problem and exits 2.
    const noOutput = await falconet(configPath, 'dlq', 'replay');
    expect([noOutput.code, noOutput.stderr]).toEqual([2, expect.stringContaining('--output NAME is required')]);
    const unknown = await falconet(configPath, 'dlq', 'list', '--output', 'nope');
    expect([unknown.code, unknown.stderr]).toEqual([2, expect.stringContaining('output "nope" is not defined')]);
    const badAge = await falconet(configPath, 'dlq', 'purge', '--output', 'hook', '--older-than', 'soon');
    expect([badAge.code, badAge.stderr]).toEqual([2, expect.stringContaining('not a duration')]);
  }, 90_000);

  it('round trip over HTTP on the collector: GET, POST replay by id then all, DELETE; bad input is a 4xx naming the problem', async () => {
    const sink = await rig.capture();
    const { state, respond } = receiver();
    sink.fallback = respond;
    const pipeline = await rig.pipeline(testConfig(documentFor(sink.url)));
    const api = `${pipeline.collector.url}/api/dlq`;
    const bad = [1, 2, 3].map((n) => alert(`bad http ${n}`, n));
    for (const body of bad) expect((await pipeline.post(body, falcoHeaders())).status).toBe(200);
    const listed = await waitFor(async () => {
      const res = await fetch(`${api}?output=hook`);
      const body = (await res.json()) as { count: number; entries: Array<{ id: string; reason: string; rule: string }> };
      return res.status === 200 && body.count === 3 ? body : undefined;
    }, { what: 'three dead letters over HTTP' });
    expect(listed.entries.map((e) => e.id).sort()).toEqual(bad.map(alertId).sort());
    expect(listed.entries.every((e) => e.reason.includes(`schema: ${e.rule} is not accepted`))).toBe(true);

    // Replayed while still broken: back in the DLQ once, its attempts added up.
    const again = alertId(bad[2]!);
    expect(await (await fetch(`${api}/replay`, { method: 'POST', body: JSON.stringify({ output: 'hook', ids: [again] }) })).json()).toEqual({ replayed: 1, missing: [] });
    await waitFor(async () => ((await (await fetch(`${api}?output=hook`)).json()) as { entries: Array<{ id: string; attempts: number }> }).entries.some((e) => e.id === again && e.attempts === 2), { what: 'the replayed alert back with 2 attempts' });
    const limited = (await (await fetch(`${api}?output=hook&limit=2`)).json()) as { count: number };
    expect(limited.count).toBe(2);

    state.broken = false;
    const first = alertId(bad[0]!);
    const one = await fetch(`${api}/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ output: 'hook', ids: [first, 'no-such-id'] }) });
    expect(one.status).toBe(200);
    expect(await one.json()).toEqual({ replayed: 1, missing: ['no-such-id'] });
    await waitFor(() => state.okById.get(first) === 1, { what: 'the replayed alert delivered' });
    expect(((await (await fetch(`${api}?output=hook`)).json()) as { count: number }).count).toBe(2);
    const rest = await fetch(`${api}/replay`, { method: 'POST', body: JSON.stringify({ output: 'hook' }) });
    expect(await rest.json()).toEqual({ replayed: 2, missing: [] });
    await waitFor(() => bad.every((b) => state.okById.get(alertId(b)) === 1), { what: 'all replayed alerts delivered' });
    await settled(pipeline.queue('hook'));
    expect([...state.okById.values()]).toEqual([1, 1, 1]);

    state.broken = true;
    expect((await pipeline.post(alert('bad later', 8), falcoHeaders())).status).toBe(200);
    await waitFor(async () => ((await (await fetch(`${api}?output=hook`)).json()) as { count: number }).count === 1, { what: 'a new dead letter' });
    expect(await (await fetch(`${api}?output=hook&olderThan=1h`, { method: 'DELETE' })).json()).toEqual({ purged: 0 });
    expect(await (await fetch(`${api}?output=hook`, { method: 'DELETE' })).json()).toEqual({ purged: 1 });

    const problems: Array<[string, RequestInit, number, string]> = [
      [`${api}?output=nope`, {}, 404, 'output "nope" is not defined'],
      [`${api}/replay`, { method: 'POST', body: '{not json' }, 400, 'must be JSON'],
      [`${api}/replay`, { method: 'POST', body: '{"ids":["x"]}' }, 400, '"output" is required'],
      [`${api}/replay`, { method: 'POST', body: '{"output":"hook","ids":"x"}' }, 400, '"ids", when given, must be an array'],
      [api, { method: 'DELETE' }, 400, '"output" is required'],
      [`${api}?output=hook&olderThan=soon`, { method: 'DELETE' }, 400, '"olderThan" is not a duration'],
      [`${api}?output=hook&limit=0`, {}, 400, '"limit" must be an integer'],
      [`${api}/replay`, { method: 'GET' }, 405, 'accepts POST'],
    ];
    for (const [url, init, status, detail] of problems) {
      const res = await fetch(url, init);
      const body = (await res.json()) as { error: string; detail: string };
      expect([res.status, body.detail], url).toEqual([status, expect.stringContaining(detail)]);
      expect(typeof body.error).toBe('string');
    }
    // Ingest is unaffected: any other POST path is still an alert.
    expect((await pipeline.post(alert('good after', 9), falcoHeaders(), '/api/other')).status).toBe(200);
  }, 60_000);
});

describe('router failures in the dead letters', () => {
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const poisonBody = (withBigInt: boolean) =>
    `{"rule":"Poison","priority":"Warning","time":"2025-06-12T08:00:00Z","output_fields":{${withBigInt ? '"evt.time":1749715200123456789,' : ''}"nested":${deep(100_000)}}}`;

  it('a poison alert (100,000-deep body) is dead-lettered alone; the rest of its ingest job is delivered, nothing retries', async () => {
    const sink = await rig.capture();
    const pipeline = await rig.pipeline(testConfig({ dedup: { window: 0 }, outputs: { hook: { type: 'webhook', url: sink.url } }, routes: [{ outputs: ['hook'] }] }));
    const normal = [1, 2, 3, 4].map((n) => alert('normal', n));
    const poison = [poisonBody(true), poisonBody(false)];
    // One request, one ingest job: normal, poison, normal, poison, normal, normal.
    const lines = [normal[0], poison[0], normal[1], poison[1], normal[2], normal[3]] as string[];
    // Today's collector refuses such a body at the door (JSON depth limit); the router must still
    // survive one that reaches it (an older collector, a spool written by one).
    expect((await pipeline.post(lines.join('\n'), { 'content-type': 'application/x-ndjson' })).status).toBe(400);
    await enqueueIngest(pipeline.config, lines);
    await waitFor(() => sink.requests.length === 4, { what: 'the four normal alerts' });
    const delivered = sink.requests.map((r) => (JSON.parse(r.body.replace(/:(\d{16,})/g, ':"$1"')) as { id: string }).id);
    expect(delivered.sort()).toEqual(normal.map(alertId).sort());

    const dlq = deadLetters(pipeline.config);
    const letters = await waitFor(async () => ((await dlq.count(ROUTER_OUTPUT)) === 2 ? dlq.list(ROUTER_OUTPUT) : undefined), { what: 'two router dead letters' });
    expect(letters.map((l) => l.id).sort()).toEqual(poison.map(alertId).sort());
    const byId = new Map(letters.map((l) => [l.id, l]));
    expect(byId.get(alertId(poison[0]!))!.reason).toContain('Maximum call stack size exceeded');
    expect(byId.get(alertId(poison[1]!))!.reason).toContain('nest deeper than');
    expect(letters.every((l) => l.rule === 'Poison' && l.attempts === 1)).toBe(true);
    expect(byId.get(alertId(poison[1]!))!.alert).toBe(poison[1]);

    // The ingest entry was acknowledged at its first run: nothing pending, nothing waits.
    await waitFor(async () => { const b = await ingestBacklog(REDIS_URL, pipeline.config.redis.prefix); return b.waiting === 0 && b.active === 0; }, { what: 'the entry acknowledged' });
    // Replaying it runs it through the router once more: still poison, so back in the DLQ (once).
    const before = byId.get(alertId(poison[1]!))!.lastAttemptAt;
    const replay = await fetch(`${pipeline.collector.url}/api/dlq/replay`, { method: 'POST', body: JSON.stringify({ output: ROUTER_OUTPUT, ids: [alertId(poison[1]!)] }) });
    expect(await replay.json()).toEqual({ replayed: 1, missing: [] });
    await waitFor(async () => ((await dlq.get(ROUTER_OUTPUT, [alertId(poison[1]!)]))[0]?.lastAttemptAt ?? 0) > before, { what: 'the poison alert back' });
    expect(await dlq.count(ROUTER_OUTPUT)).toBe(2);
    expect(sink.requests).toHaveLength(4);
  }, 60_000);

  it('an ingest entry that fails more than worker.maxStalledCount times becomes @router dead letters, replayed through the router', async () => {
    const sink = await rig.capture();
    const config = testConfig({ dedup: { window: 0 }, outputs: { hook: { type: 'webhook', url: sink.url } }, routes: [{ outputs: ['hook'] }] });
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const prefix = config.redis.prefix;
    const body = alert('stuck in ingest', 1);
    await appendIngest(redis, prefix, [[alertId(body), body]], Date.now());
    // A router that fails every run (a bug, a Redis refusing writes): each failed run is taken
    // over again after lockDuration: maxStalledCount 1 allows one takeover, the second gives up.
    const runs: boolean[] = [];
    const broken = new IngestConsumer({
      redis, blocking: redis.duplicate(), prefix, concurrency: 2, lockDuration: 200, stalledInterval: 100, maxStalledCount: 1,
      deadLetters: new DeadLetterStore(redis, { prefix, maxAge: config.dlq.maxAge, maxPerOutput: config.dlq.maxPerOutput }),
      logger: pino({ level: 'silent' }),
      process: async (_entry, replay) => { runs.push(replay); throw new Error('router exploded'); },
    });
    await broken.start();
    await waitFor(async () => (await deadLetters(config).count(ROUTER_OUTPUT)) === 1, { what: 'the router dead letter' });
    await broken.close();
    expect(runs).toEqual([false, true]); // the first run, one takeover
    expect(await ingestBacklog(REDIS_URL, prefix)).toEqual({ waiting: 0, active: 0 });

    const pipeline = await rig.pipeline(config);
    const api = `${pipeline.collector.url}/api/dlq`;
    const listed = (await (await fetch(`${api}?output=${encodeURIComponent(ROUTER_OUTPUT)}`)).json()) as { entries: Array<Record<string, unknown>> };
    expect(listed.entries).toHaveLength(1);
    expect(listed.entries[0]).toMatchObject({ id: alertId(body), output: ROUTER_OUTPUT, rule: 'stuck in ingest', reason: 'router exploded', attempts: 2, alert: JSON.parse(body) });
    const id = listed.entries[0]!.id as string;
    expect(await (await fetch(`${api}/replay`, { method: 'POST', body: JSON.stringify({ output: ROUTER_OUTPUT, ids: [id] }) })).json()).toEqual({ replayed: 1, missing: [] });
    await waitFor(() => sink.requests.length === 1, { what: 'the replayed ingest job delivered' });
    expect((JSON.parse(sink.requests[0]!.body.replace(/:(\d{16,})/g, ':"$1"')) as { id: string }).id).toBe(alertId(body));
    expect(((await (await fetch(`${api}?output=${encodeURIComponent(ROUTER_OUTPUT)}`)).json()) as { entries: unknown[] }).entries).toEqual([]);
    redis.disconnect();
  }, 60_000);

  it('a dead letter of the old kind (a delivery job built to fail, in the failed set) is listed, and replaying it moves it into the DLQ', async () => {
    const sink = await rig.capture();
    const config = testConfig(documentFor(sink.url));
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const prefix = config.redis.prefix;
    const hook = new Queue(deliveryQueueName('hook'), { connection: redis, prefix });
    const text = alert('old dead letter', 1).replace('{', `{"id":"${alertId('old')}",`);
    await hook.add('hook', { alerts: [text], rejected: ['HTTP 400: from an older version'] }, { attempts: 1 });
    const old = new Worker(deliveryQueueName('hook'), async (job) => { throw new UnrecoverableError((job.data as { rejected: string[] }).rejected.join('; ')); }, { connection: redis.duplicate(), prefix });
    await waitFor(async () => (await hook.getFailedCount()) === 1, { what: 'the old-style dead letter' });
    await old.close();

    const pipeline = await rig.pipeline(config);
    const api = `${pipeline.collector.url}/api/dlq`;
    const listed = (await (await fetch(`${api}?output=hook`)).json()) as { entries: Array<Record<string, unknown>> };
    expect(listed.entries).toMatchObject([{ output: 'hook', rule: 'old dead letter', reason: 'HTTP 400: from an older version', alerts: 1 }]);
    expect(listed.entries[0]!.id).toMatch(/^failed-job-/);
    expect(await (await fetch(`${api}/replay`, { method: 'POST', body: JSON.stringify({ output: 'hook', ids: [listed.entries[0]!.id] }) })).json()).toEqual({ replayed: 1, missing: [] });
    const dlq = deadLetters(pipeline.config);
    const [moved] = await waitFor(async () => ((await dlq.count('hook')) === 1 ? dlq.list('hook') : undefined), { what: 'moved into the DLQ' });
    expect(moved).toMatchObject({ id: alertId('old'), reason: 'HTTP 400: from an older version', alert: text });
    expect(await hook.getFailedCount()).toBe(0);
    expect(sink.requests).toHaveLength(0);
    await hook.close();
    redis.disconnect();
  }, 60_000);
});
