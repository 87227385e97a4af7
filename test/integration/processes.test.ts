import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { deliveryQueueName } from '../../src/queue/names.js';
import { ingestDrained } from '../helpers/ingest-log.js';
import { startWorker, type RunningWorker } from '../../src/worker/service.js';
import { CaptureServer } from '../helpers/capture-server.js';
import { falcoHeaders } from '../helpers/fixtures.js';
import { REDIS_URL, deletePrefix, startPipeline, testConfig, type Pipeline } from '../helpers/harness.js';
import { falconetProcess, stopProcs, writeYaml, type Proc } from '../helpers/procs.js';
import { waitFor } from '../helpers/wait.js';

const tmp = mkdtempSync(join(tmpdir(), 'falconet-proc-'));

const procs: Proc[] = [];
let pipeline: Pipeline | undefined;
let worker: RunningWorker | undefined;
let capture: CaptureServer | undefined;
let prefix: string | undefined;

afterEach(async () => {
  await stopProcs(procs);
  await worker?.stop();
  await pipeline?.stop();
  await capture?.stop();
  if (prefix) await deletePrefix(prefix);
  pipeline = worker = capture = prefix = undefined;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const falconet = (command: string, configPath: string): Proc => falconetProcess(command, configPath, procs);
const writeConfig = (doc: Record<string, unknown>): string => writeYaml(tmp, doc);

const alert = (over: Record<string, unknown>) =>
  JSON.stringify({ rule: 'Terminal shell in container', priority: 'Warning', hostname: 'node-1', time: '2025-06-12T08:00:00Z', output_fields: { 'container.id': 'c1', 'proc.cmdline': 'bash' }, ...over });

describe('worker processes', () => {
  it('duplicate dropping holds across two worker processes; SIGTERM stops them gracefully (exit 0)', async () => {
    capture = await new CaptureServer().start();
    const doc = {
      listen: { host: '127.0.0.1', port: 0 },
      redis: { url: REDIS_URL, prefix: `fnt-${randomUUID().slice(0, 8)}`, embedded: false },
      log: { level: 'info' },
      dedup: { window: '10m' },
      worker: { metricsPort: 0 }, // two workers on one host: each takes a free port
      outputs: { sink: { type: 'webhook', url: `${capture.url}/hook` } },
      routes: [{ outputs: ['sink'] }],
    };
    prefix = doc.redis.prefix;
    const path = writeConfig(doc);
    pipeline = await startPipeline(testConfig({ ...doc, redis: doc.redis }), { worker: false });
    expect(pipeline.config.redis.prefix).toBe(prefix);
    const workers = [falconet('worker', path), falconet('worker', path)];
    for (const w of workers) await waitFor(() => w.stderr().includes('worker started'), { timeoutMs: 20_000, what: 'worker started' });
    // Ready means delivering: a warm-up alert goes through.
    expect((await pipeline.post(alert({ rule: 'warm-up' }), falcoHeaders())).status).toBe(200);
    await waitFor(() => capture!.requests.length === 1, { what: 'warm-up delivered' });

    // Repeats of one rule in one container (distinct events: each its own time), exact duplicate POSTs of one
    // event, and distinct alerts, sent concurrently so both workers route some of them.
    const bodies: string[] = [];
    for (let i = 0; i < 20; i++) bodies.push(alert({ time: `2025-06-12T08:00:${String(i).padStart(2, '0')}Z` }));
    for (let i = 0; i < 5; i++) bodies.push(alert({ time: '2025-06-12T09:00:00Z', hostname: 'node-2' }));
    for (const host of ['node-3', 'node-4', 'node-5']) bodies.push(alert({ hostname: host }));
    const statuses = await Promise.all(bodies.map(async (b, i) => {
      await new Promise((r) => setTimeout(r, i % 7)); // spread arrivals over several group commits
      return (await pipeline!.post(b, falcoHeaders())).status;
    }));
    expect(statuses.every((s) => s === 200)).toBe(true);

    const distinct = 1 + 20 + 1 + 3; // warm-up, 20 node-1 events, node-2 duplicates (one event), node-3..5
    await waitFor(() => capture!.requests.length >= distinct, { what: 'distinct alerts delivered' });
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const deliver = new Queue(deliveryQueueName('sink'), { connection, prefix });
    try {
      await waitFor(async () => {
        const b = await deliver.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        return (await ingestDrained(REDIS_URL, prefix!)) && Object.values(b).every((n) => n === 0);
      }, { what: 'queues drained' });
    } finally {
      await deliver.close();
      connection.disconnect();
    }
    const hosts = capture.requests.map((r) => (JSON.parse(r.body) as { rule: string; hostname: string }));
    const expected = [...Array(20).fill('node-1'), 'node-2', 'node-3', 'node-4', 'node-5'].sort();
    expect(hosts.filter((h) => h.rule !== 'warm-up').map((h) => h.hostname).sort()).toEqual(expected);

    // Each worker serves its own delivery metrics; together they account for every delivery.
    let delivered = 0;
    for (const w of workers) {
      const port = Number(/"port":(\d+)[^\n]*"msg":"worker metrics listening"/.exec(w.stderr())?.[1]);
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      delivered += Number(/falconet_deliveries_total\{output="sink",status="ok",reason="none"\} (\d+)/.exec(text)?.[1] ?? 0);
    }
    expect(delivered).toBe(capture.requests.length);

    for (const w of workers) w.child.kill('SIGTERM');
    expect(await Promise.all(workers.map((w) => w.exit))).toEqual([0, 0]);
    for (const w of workers) expect(w.stderr()).toContain('worker stopped');
  });
});

describe('kill -9', () => {
  it('a worker killed mid-delivery loses nothing: another worker takes over its jobs', async () => {
    capture = await new CaptureServer().start();
    // A slow destination, so the killed worker holds jobs in flight.
    capture.fallback = { status: 200, delayMs: 100 };
    const doc = {
      listen: { host: '127.0.0.1', port: 0 },
      redis: { url: REDIS_URL, prefix: `fnt-${randomUUID().slice(0, 8)}`, embedded: false },
      log: { level: 'info' },
      dedup: { window: 0 },
      // Short locks so the test need not wait the 30 s production default for stalled jobs.
      worker: { lockDuration: '2s', stalledInterval: '1s', metricsPort: 0 },
      outputs: { sink: { type: 'webhook', url: `${capture.url}/hook`, concurrency: 4 } },
      routes: [{ outputs: ['sink'] }],
    };
    prefix = doc.redis.prefix;
    const path = writeConfig(doc);
    pipeline = await startPipeline(testConfig({ ...doc, redis: doc.redis }), { worker: false });
    const first = falconet('worker', path);
    await waitFor(() => first.stderr().includes('worker started'), { timeoutMs: 20_000, what: 'first worker started' });

    const rules = Array.from({ length: 60 }, (_, i) => `chaos ${i}`);
    for (const rule of rules) expect((await pipeline.post(alert({ rule }), falcoHeaders())).status).toBe(200);
    await waitFor(() => capture!.requests.length >= 8, { timeoutMs: 15_000, what: 'some deliveries before the kill' });
    first.child.kill('SIGKILL');
    expect(await first.exit).toBeNull(); // killed by a signal, no graceful shutdown

    const second = falconet('worker', path);
    const delivered = () => new Set(capture!.requests.map((r) => (JSON.parse(r.body) as { rule: string }).rule));
    await waitFor(() => rules.every((r) => delivered().has(r)), { timeoutMs: 30_000, what: 'every accepted alert delivered' });
    // At least once: only the few sends in flight at the kill may repeat.
    expect(capture.requests.length - rules.length).toBeLessThanOrEqual(4);
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);
  });
});

describe('kill -9 in the middle of a batch, duplicate dropping on (the shipped default)', () => {
  it('every alert still arrives once per output: the claims of the killed run do not swallow the retried jobs', async () => {
    capture = await new CaptureServer().start();
    capture.fallback = { status: 200, delayMs: 50 };
    const doc = {
      listen: { host: '127.0.0.1', port: 0 },
      redis: { url: REDIS_URL, prefix: `fnt-${randomUUID().slice(0, 8)}`, embedded: false },
      log: { level: 'info' },
      worker: { lockDuration: '2s', stalledInterval: '1s', metricsPort: 0 },
      outputs: {
        one: { type: 'webhook', url: `${capture.url}/one`, concurrency: 2 },
        // A long interval: the ingest jobs are held (claims taken, batch pending) when the worker dies.
        batched: { type: 'webhook', url: `${capture.url}/batched`, batch: { size: 1000, interval: '5s' } },
      },
      routes: [{ outputs: ['one', 'batched'] }],
    };
    prefix = doc.redis.prefix;
    const path = writeConfig(doc);
    pipeline = await startPipeline(testConfig({ ...doc, redis: doc.redis }), { worker: false });
    const first = falconet('worker', path);
    await waitFor(() => first.stderr().includes('worker started'), { timeoutMs: 20_000, what: 'first worker started' });

    const rules = Array.from({ length: 60 }, (_, i) => `batch ${i}`);
    for (const rule of rules) expect((await pipeline.post(alert({ rule }), falcoHeaders())).status).toBe(200);
    const twice = alert({ rule: 'posted three times' });
    for (let i = 0; i < 3; i++) expect((await pipeline.post(twice, falcoHeaders())).status).toBe(200);
    await waitFor(() => capture!.requests.filter((r) => r.path === '/one').length >= 5, { timeoutMs: 15_000, what: 'some deliveries before the kill' });
    first.child.kill('SIGKILL');
    expect(await first.exit).toBeNull();
    // The kill came in the middle of the batch: nothing had reached the batched output yet.
    expect(capture.requests.filter((r) => r.path === '/batched')).toHaveLength(0);

    const second = falconet('worker', path);
    const want = [...rules, 'posted three times'];
    const rulesAt = (p: string) =>
      capture!.requests.filter((r) => r.path === p).flatMap((r) => {
        const body = JSON.parse(r.body) as { rule: string } | Array<{ rule: string }>;
        return (Array.isArray(body) ? body : [body]).map((a) => a.rule);
      });
    await waitFor(() => want.every((r) => rulesAt('/one').includes(r) && rulesAt('/batched').includes(r)), { timeoutMs: 40_000, what: 'every alert on both outputs' });
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);
    // The batched output stores each event once (the retried jobs queued what the killed run had not);
    // the unbatched one repeats at most the sends in flight at the kill.
    expect(rulesAt('/batched').sort()).toEqual([...want].sort());
    expect(rulesAt('/one').length - want.length).toBeLessThanOrEqual(2);
    expect(rulesAt('/one').filter((r) => r === 'posted three times').length).toBeLessThanOrEqual(2);
  });
});

describe('digests survive their worker', () => {
  it('a worker killed with a storm window open: another worker sends the digest when the window ends', async () => {
    capture = await new CaptureServer().start();
    const doc = {
      listen: { host: '127.0.0.1', port: 0 },
      redis: { url: REDIS_URL, prefix: `fnt-${randomUUID().slice(0, 8)}`, embedded: false },
      log: { level: 'info' },
      worker: { lockDuration: '2s', stalledInterval: '1s', metricsPort: 0 },
      outputs: { chat: { type: 'webhook', url: `${capture.url}/chat`, dedup: { window: '6s', key: ['rule'] } } },
      routes: [{ outputs: ['chat'] }],
    };
    prefix = doc.redis.prefix;
    const path = writeConfig(doc);
    pipeline = await startPipeline(testConfig({ ...doc, redis: doc.redis }), { worker: false });
    const first = falconet('worker', path);
    await waitFor(() => first.stderr().includes('worker started'), { timeoutMs: 20_000, what: 'first worker started' });
    // 20 distinct events of one rule: the first goes out, 19 are folded into the open window.
    for (let i = 0; i < 20; i++) expect((await pipeline.post(alert({ time: `2025-06-12T08:00:${String(i).padStart(2, '0')}Z` }), falcoHeaders())).status).toBe(200);
    await waitFor(() => capture!.requests.length === 1, { timeoutMs: 15_000, what: 'the first alert' });
    await waitFor(() => ingestDrained(REDIS_URL, prefix!), { what: 'all 20 routed' });
    first.child.kill('SIGKILL');
    expect(await first.exit).toBeNull();
    expect(capture.requests).toHaveLength(1); // the window is still open: no digest yet

    const second = falconet('worker', path);
    const digest = await waitFor(
      () => capture!.requests.map((r) => JSON.parse(r.body) as { output_fields: Record<string, unknown> }).find((a) => a.output_fields['falconet.digest'] === true),
      { timeoutMs: 20_000, what: 'the digest, sent by the second worker' },
    );
    expect(digest.output_fields['falconet.suppressed']).toBe(19);
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);
    expect(capture.requests).toHaveLength(2);
  });
});

describe('falconet start', () => {
  it('SIGTERM with requests in flight: every request answered 200 is delivered, and the process exits 0', async () => {
    capture = await new CaptureServer().start();
    const doc = {
      listen: { host: '127.0.0.1', port: 0 },
      redis: { url: REDIS_URL, prefix: `fnt-${randomUUID().slice(0, 8)}`, embedded: false },
      log: { level: 'info' },
      dedup: { window: 0 },
      outputs: { sink: { type: 'webhook', url: `${capture.url}/hook` } },
      routes: [{ outputs: ['sink'] }],
    };
    prefix = doc.redis.prefix;
    const proc = falconet('start', writeConfig(doc));
    const port = Number(
      (await waitFor(() => /"port":(\d+)[^\n]*"msg":"collector listening"/.exec(proc.stderr()), { timeoutMs: 20_000, what: 'collector listening' }))[1],
    );
    const url = `http://127.0.0.1:${port}/`;

    const accepted = new Set<string>();
    const refused: string[] = [];
    let n = 0;
    let stop = false;
    const sender = async () => {
      while (!stop) {
        const rule = `alert ${n++}`;
        try {
          const res = await fetch(url, { method: 'POST', headers: falcoHeaders(), body: alert({ rule }) });
          if (res.status === 200) accepted.add(rule);
          else refused.push(`${rule}: ${res.status}`);
          await res.arrayBuffer();
        } catch {
          refused.push(rule); // connection refused or reset: not acknowledged, Falco would retry
          if (proc.child.exitCode !== null) return;
          await new Promise((r) => setTimeout(r, 5)); // pace retries against a closed port
        }
      }
    };
    const senders = Array.from({ length: 8 }, sender);
    await waitFor(() => accepted.size >= 100, { what: '100 accepted' });
    proc.child.kill('SIGTERM');
    const code = await proc.exit;
    stop = true;
    await Promise.all(senders);
    expect(code).toBe(0);
    expect(proc.stderr()).toContain('collector stopped');
    expect(accepted.size).toBeGreaterThanOrEqual(100);

    // What the process acknowledged is in Redis: a fresh worker delivers whatever it had not yet.
    const config = buildConfig(doc, { REDIS_URL });
    worker = await startWorker(config, pino({ level: 'silent' }), createMetrics());
    await waitFor(() => accepted.size > 0 && [...accepted].every((r) => capture!.requests.some((q) => q.body.includes(`"rule":"${r}"`))), {
      timeoutMs: 15_000,
      what: 'every accepted alert delivered',
    });
    const delivered = capture.requests.map((r) => (JSON.parse(r.body) as { rule: string }).rule);
    for (const rule of accepted) expect(delivered.filter((d) => d === rule), rule).toHaveLength(1);
  });
});
