// `npm run bench` / `npm run bench:quick`: Falconet (production build, separate collector and worker
// processes) against a same-run baseline on this machine. See bench/README.md.
//   --quick          ≤ 60 s: ingest, single node, e2e 500/s with short durations
//   --only=a,b       run only these scenarios (names as in the report; baselines always run)
//   --profile        V8 CPU profiles of every Falconet process (BENCH_CPU_PROF=<dir> does the same)
//   --out=DIR        where latest.{json,md} (quick.{json,md} with --quick) go (default bench/results)
import { execSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ingestCounts } from '../src/queue/ingest-log.js';
import { now } from './common.js';
import type { LoadOptions, LoadResult } from './load-generator.js';
import {
  ROOT,
  cpuSecondsOf,
  deletePrefix,
  ensureRedis,
  freePort,
  memoryOf,
  redisCpuSeconds,
  sampleRedisMemory,
  startFalconet,
  startHelper,
  stop,
  stopAll,
  waitCollectorReady,
  waitWorkerReady,
  type BenchRedis,
  type FalconetProcess,
  type Helper,
} from './processes.js';
import { renderMarkdown, type BenchReport, type ScenarioResult } from './report.js';
import { summariseProfiles } from './profile-summary.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    out: { type: 'string', default: join(ROOT, 'bench/results') },
  },
});
const quick = flags.quick!;
const only = flags.only ? new Set(flags.only.split(',')) : undefined;
const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;
const work = mkdtempSync(join(tmpdir(), 'falconet-bench-'));
if (flags.profile && !process.env.BENCH_CPU_PROF) process.env.BENCH_CPU_PROF = join(work, 'profiles');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const D = quick
  ? { ingest: 5_000, single: 4_000, e2e: 8_000, drainMax: 10_000, warmup: 4_000 }
  : { ingest: 15_000, single: 10_000, e2e: 20_000, drainMax: 30_000, warmup: 5_000 };

let seq = 1;
let redis: BenchRedis;
let admin: Redis | undefined;
let generator: Helper;
let sink: Helper;
const results: ScenarioResult[] = [];

function log(msg: string): void {
  process.stderr.write(`[bench ${((performance.now()) / 1000).toFixed(1)}s] ${msg}\n`);
}

async function load(opts: Omit<LoadOptions, 'seqStart'>): Promise<LoadResult> {
  const r = await generator.call<LoadResult>('run', { ...opts, seqStart: seq });
  seq = r.nextSeq;
  return r;
}

// -----------------------------------------------------------------------------------------------
// Baseline

async function baseline(name: string, nodes: number, durationMs: number): Promise<ScenarioResult> {
  log(`${name}: baseline server, ${nodes} node(s), ${durationMs / 1000}s`);
  const server = await startHelper('baseline');
  try {
    const r = await load({ url: `http://127.0.0.1:${server.port}/`, nodes, durationMs });
    const result: ScenarioResult = {
      name,
      kind: 'baseline',
      description: `bare node:http + JSON.parse, ${nodes} node(s) closed loop`,
      load: r,
      memory: { baseline: memoryOf(server.child.pid) },
    };
    results.push(result);
    return result;
  } finally {
    await stop(server.child);
  }
}

// -----------------------------------------------------------------------------------------------
// Falconet

interface FalconetScenario {
  name: string;
  description: string;
  /** Output name → webhook options other than type/url (e.g. batch). */
  outputs: Record<string, Record<string, unknown>>;
  workers: number;
  nodes: number;
  durationMs: number;
  rate?: number;
  /** Delivered/s counts sink arrivals from this long after the load starts (skip warm-up). */
  warmupMs?: number;
  /** Rate of the (uncounted) warm-up load; default min(rate, 500). */
  warmupRate?: number;
  /** The floor (bench/floor.ts) instead of Falconet: what the machine costs per alert at the least. */
  bare?: boolean;
}

async function falconet(s: FalconetScenario): Promise<ScenarioResult> {
  const prefix = `bench-${runId}-${s.name}`;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = {
    listen: { host: '127.0.0.1', port },
    redis: { url: redis.url, prefix, embedded: false },
    dedup: { window: 0 },
    // BENCH_DIRECT=0: every alert through its delivery queue (the path before issue #10), for a side-by-side run.
    ...(process.env.BENCH_DIRECT === '0' ? { router: { directDelivery: false } } : {}),
    // BENCH_UI=0: without the web UI's event store (what the store costs per alert).
    ...(process.env.BENCH_UI === '0' ? { ui: { enabled: false } } : {}),
    log: { level: 'info' },
    worker: { metricsPort: 0 }, // several workers on one host
    outputs: Object.fromEntries(
      Object.entries(s.outputs).map(([name, extra]) => [name, { type: 'webhook', url: `http://127.0.0.1:${sink.port}/${name}`, ...extra }]),
    ),
    routes: [{ outputs: Object.keys(s.outputs) }],
  };
  const configPath = join(work, `${s.name}.yaml`);
  writeFileSync(configPath, JSON.stringify(config, null, 2)); // JSON is YAML
  log(`${s.name}: ${s.description}`);

  const workers: FalconetProcess[] = [];
  let collector: FalconetProcess | undefined;
  const queues: Queue[] = [];
  try {
    for (let i = 0; i < s.workers; i++) workers.push(startFalconet('worker', configPath, join(work, `${s.name}.worker${i}.log`), s.bare));
    collector = startFalconet('collector', configPath, join(work, `${s.name}.collector.log`), s.bare);
    await Promise.all([...workers.map((w) => waitWorkerReady(w)), waitCollectorReady(collector, url)]);
    if (s.workers > 0) {
      // Warm-up: JIT, keep-alive connections and BullMQ's script cache, so the measured window
      // shows steady state rather than the first second of a cold process. Not counted anywhere.
      await sink.call('reset'); // the wait below counts this warm-up's alerts only
      const warm = await load({ url: `${url}/`, nodes: s.nodes, durationMs: D.warmup, rate: s.warmupRate ?? Math.min(s.rate ?? 500, 500) });
      const warmStart = now();
      while ((await sink.call<number>('count')) < warm.acked * Object.keys(s.outputs).length && now() - warmStart < 10_000) await sleep(50);
    }
    await sink.call('reset');
    const mem = sampleRedisMemory(admin!);
    // CPU per alert of each process, from the load's start until every alert is delivered (drain included).
    const cpuOf = async () => ({
      collector: cpuSecondsOf(collector!.child.pid),
      workers: workers.map((w) => cpuSecondsOf(w.child.pid)),
      redis: redis.child ? cpuSecondsOf(redis.child.pid) : await redisCpuSeconds(admin!),
    });
    const cpuStart = await cpuOf();

    const r = await load({ url: `${url}/`, nodes: s.nodes, durationMs: s.durationMs, rate: s.rate });

    // Backlog the moment the load stops: jobs not yet taken by a worker.
    const names = ['ingest', ...Object.keys(s.outputs).map((o) => `deliver.${o}`)];
    for (const n of names.slice(1)) queues.push(new Queue(n, { connection: admin!, prefix }));
    // The ingest log (a stream, src/queue/ingest-log.ts) in the same shape as a queue's counts.
    const ingestNow = await ingestCounts(admin!, prefix);
    const counts = [
      { wait: ingestNow.waiting, prioritized: 0, delayed: 0, active: ingestNow.active },
      ...(await Promise.all(queues.map((q) => q.getJobCounts('wait', 'prioritized', 'delayed', 'active')))),
    ];
    const backlog = Object.fromEntries(names.map((n, i) => [n, counts[i]!]));
    const waitingJobs = counts.reduce((sum, c) => sum + (c.wait ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0), 0);

    let delivery: ScenarioResult['delivery'];
    if (s.workers > 0) {
      const expected = r.acked * Object.keys(s.outputs).length;
      const stoppedAt = now();
      let delivered = await sink.call<number>('count');
      while (delivered < expected && now() - stoppedAt < D.drainMax) {
        await sleep(100);
        delivered = await sink.call<number>('count');
      }
      const drainMs = delivered >= expected ? now() - stoppedAt : null;
      const from = r.startedAt + (s.warmupMs ?? 0);
      const st = await sink.call<any>('stats', { from, to: r.endedAt });
      delivery = {
        expected,
        delivered: st.unique,
        duplicates: st.duplicates,
        requests: st.requests,
        byPath: st.byPath,
        deliveredPerSec: (st.inWindow * 1000) / (r.endedAt - from),
        latencyMs: st.latency,
        drainMs,
      };
    }
    const cpuEnd = await cpuOf();
    const alerts = delivery ? delivery.delivered : r.acked;
    const perAlert = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || alerts === 0 ? undefined : ((b - a) * 1000) / alerts);
    const cpu: ScenarioResult['cpu'] = {
      alerts,
      per: delivery ? 'delivered' : 'acked',
      collectorMs: perAlert(cpuStart.collector, cpuEnd.collector),
      workersMs: workers.map((_, i) => perAlert(cpuStart.workers[i], cpuEnd.workers[i])),
      redisMs: perAlert(cpuStart.redis, cpuEnd.redis),
      redisShared: !redis.child,
    };
    const memory: ScenarioResult['memory'] = {
      collector: memoryOf(collector.child.pid),
      workers: workers.map((w) => memoryOf(w.child.pid)),
      redis: await mem.stop(),
    };
    const result: ScenarioResult = {
      name: s.name,
      kind: 'falconet',
      description: s.description,
      load: r,
      delivery,
      backlog: { waitingJobs, byQueue: backlog },
      cpu,
      memory,
    };
    results.push(result);
    return result;
  } finally {
    await Promise.all(queues.map((q) => q.close()));
    await stop(collector?.child);
    await Promise.all(workers.map((w) => stop(w.child)));
    await deletePrefix(admin!, prefix).catch((err) => log(`cleanup of ${prefix} failed: ${err}`));
  }
}

// -----------------------------------------------------------------------------------------------

function want(name: string): boolean {
  return !only || only.has(name);
}

function machine() {
  const git = (cmd: string) => {
    try {
      return execSync(cmd, { cwd: ROOT, encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  };
  let load = '';
  try {
    load = execSync('cat /proc/loadavg', { encoding: 'utf8' }).trim();
  } catch {
    // not Linux
  }
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    redis: redis.version,
    redisUrl: redis.url.replace(/\/\/[^@]*@/, '//***@'),
    ownRedis: redis.child !== undefined,
    commit: git('git rev-parse --short HEAD'),
    dirty: git('git status --porcelain -- src outputs bin') !== '',
    loadavgAtStart: load,
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  redis = await ensureRedis();
  admin = new Redis(redis.url, { maxRetriesPerRequest: null });
  const info = machine();
  log(`work dir ${work}; Redis ${redis.version} at ${info.redisUrl}${redis.child ? ' (started by the bench)' : ''}`);
  [generator, sink] = await Promise.all([startHelper('load-generator'), startHelper('sink')]);

  const singleOut = { out: process.env.BENCH_OUT_CONCURRENCY ? { concurrency: Number(process.env.BENCH_OUT_CONCURRENCY) } : {} };
  const base64a = await baseline('baseline-64', 64, D.ingest);
  if (want('ingest-64'))
    await falconet({ name: 'ingest-64', description: '64 nodes closed loop, collector only (acks = alerts durably in Redis)', outputs: singleOut, workers: 0, nodes: 64, durationMs: D.ingest });
  const base1 = await baseline('baseline-1', 1, D.single);
  if (want('single-1'))
    await falconet({ name: 'single-1', description: '1 node serial, collector only', outputs: singleOut, workers: 0, nodes: 1, durationMs: D.single });
  if (want('e2e-500'))
    await falconet({ name: 'e2e-500', description: '500 alerts/s open loop, 64 nodes, collector + 1 worker → 1 webhook', outputs: singleOut, workers: 1, nodes: 64, rate: 500, durationMs: D.e2e });
  // The floor of the same two scenarios (bench/floor.ts): CPU per alert and latency read against it.
  if (want('e2e-500') || want('floor-500'))
    await falconet({ name: 'floor-500', description: `the floor${process.env.BENCH_FLOOR ? ` BENCH_FLOOR=${process.env.BENCH_FLOOR}` : ''} (bench/floor.ts: XADD per request, XREADGROUP, one POST per alert, XACK) at 500 alerts/s`, outputs: singleOut, workers: 1, nodes: 64, rate: 500, durationMs: D.e2e, bare: true });
  if (want('idle-1'))
    await falconet({ name: 'idle-1', description: '1 alert at a time on an idle pipeline (5/s, 1 node), collector + 1 worker → 1 webhook', outputs: singleOut, workers: 1, nodes: 1, rate: 5, warmupRate: 200, durationMs: quick ? 6_000 : 12_000 });
  if (want('idle-1') || want('floor-idle-1'))
    await falconet({ name: 'floor-idle-1', description: 'the floor (bench/floor.ts), 1 alert at a time (5/s, 1 node)', outputs: singleOut, workers: 1, nodes: 1, rate: 5, warmupRate: 200, durationMs: quick ? 6_000 : 12_000, bare: true });
  let base64b: ScenarioResult | undefined;
  if (!quick) {
    if (want('e2e-5000'))
      await falconet({ name: 'e2e-5000', description: '5,000 alerts/s open loop, 64 nodes, collector + 1 worker → 1 webhook', outputs: singleOut, workers: 1, nodes: 64, rate: 5000, durationMs: D.e2e });
    if (want('fanout-2000'))
      await falconet({
        name: 'fanout-2000',
        description: '2,000 alerts/s, 4 webhooks: 2 batched (100 / 200ms), 2 single-alert',
        outputs: { batchA: { batch: { size: 100, interval: '200ms' } }, batchB: { batch: { size: 100, interval: '200ms' } }, singleA: {}, singleB: {} },
        workers: 1,
        nodes: 64,
        rate: 2000,
        durationMs: 15_000,
        warmupMs: 2_000,
      });
    // Scaling: open loop above what one worker can route and deliver, bounded in time.
    const overload = Math.max(6000, Math.round(results.find((r) => r.name === 'ingest-64')?.load.ackedPerSec ?? 0));
    for (const w of [1, 2]) {
      if (want(`scale-${w}w`))
        await falconet({ name: `scale-${w}w`, description: `${overload.toLocaleString('en')} alerts/s open loop (overload), ${w} worker process(es) → 1 webhook`, outputs: singleOut, workers: w, nodes: 64, rate: overload, durationMs: 15_000, warmupMs: 3_000 });
    }
    if (want('scale-1w-batched'))
      await falconet({ name: 'scale-1w-batched', description: `${overload.toLocaleString('en')} alerts/s open loop (overload), 1 worker → 1 webhook batched (100 / 200ms)`, outputs: { out: { batch: { size: 100, interval: '200ms' } } }, workers: 1, nodes: 64, rate: overload, durationMs: 15_000, warmupMs: 3_000 });
    base64b = await baseline('baseline-64-again', 64, D.ingest);
  }

  const baselines = [base64a, base64b].filter((b): b is ScenarioResult => !!b);
  const report: BenchReport = {
    generatedAt: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    totalSeconds: (Date.now() - started) / 1000,
    machine: { ...info, loadavgAtEnd: execSync('cat /proc/loadavg', { encoding: 'utf8' }).trim() },
    baseline: {
      nodes64PerSec: baselines.reduce((s, b) => s + b.load.ackedPerSec, 0) / baselines.length,
      nodes64Runs: baselines.map((b) => b.load.ackedPerSec),
      node1PerSec: base1.load.ackedPerSec,
    },
    scenarios: results,
  };
  const md = renderMarkdown(report);
  mkdirSync(flags.out!, { recursive: true });
  // A quick run must not overwrite the committed full results.
  const base = quick ? 'quick' : 'latest';
  writeFileSync(join(flags.out!, `${base}.json`), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(flags.out!, `${base}.md`), md);
  process.stdout.write(md);
  log(`wrote ${join(flags.out!, `${base}.{json,md}`)} in ${report.totalSeconds.toFixed(0)}s`);
}

try {
  await main();
  if (process.env.BENCH_CPU_PROF) {
    await stopAll();
    process.stdout.write(`\nCPU profiles in ${process.env.BENCH_CPU_PROF}\n`);
    process.stdout.write(summariseProfiles(process.env.BENCH_CPU_PROF, 15));
  }
} catch (err) {
  log(`FAILED: ${(err as Error).stack ?? err}`);
  log(`logs in ${work}`);
  process.exitCode = 1;
} finally {
  await stopAll();
  admin?.disconnect();
}
