// latest.json shape and its Markdown rendering.
import type { Percentiles } from './common.js';
import type { LoadResult } from './load-generator.js';

type Mem = { peakMiB: number; rssMiB: number } | undefined;

export interface ScenarioResult {
  name: string;
  kind: 'baseline' | 'falconet';
  description: string;
  load: LoadResult;
  delivery?: {
    expected: number;
    delivered: number;
    duplicates: number;
    requests: number;
    byPath: Record<string, number>;
    /** Sink arrivals during the load window (after warm-up) per second. */
    deliveredPerSec: number;
    latencyMs: Percentiles;
    /** From load stop until every acknowledged alert reached the sink; null = not within the cap. */
    drainMs: number | null;
  };
  backlog?: { waitingJobs: number; byQueue: Record<string, Record<string, number>> };
  /** CPU milliseconds per alert (delivered, or acked when nothing delivers) of each process, load start → drained. */
  cpu?: { alerts: number; per: 'delivered' | 'acked'; collectorMs?: number; workersMs: Array<number | undefined>; redisMs?: number; redisShared: boolean };
  memory: { baseline?: Mem; collector?: Mem; workers?: Mem[]; redis?: { startMiB: number; maxMiB: number; endMiB: number; peakMiB: number } };
}

export interface BenchReport {
  generatedAt: string;
  mode: 'quick' | 'full';
  totalSeconds: number;
  machine: Record<string, unknown>;
  baseline: { nodes64PerSec: number; nodes64Runs: number[]; node1PerSec: number };
  scenarios: ScenarioResult[];
}

const int = (n: number) => Math.round(n).toLocaleString('en');
const ms = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(0));
const x = (n: number) => `${n.toFixed(2)}×`;

/** The baseline a scenario's throughput is compared with: same node count. */
function baseFor(r: ScenarioResult, b: BenchReport['baseline']): number {
  return r.load && r.name.endsWith('-1') && r.name !== 'scale-1w' ? b.node1PerSec : b.nodes64PerSec;
}

export function targets(report: BenchReport): Array<{ target: string; measured: string; pass: boolean | null }> {
  const get = (n: string) => report.scenarios.find((s) => s.name === n);
  const b = report.baseline;
  const out: Array<{ target: string; measured: string; pass: boolean | null }> = [];
  const ingest = get('ingest-64');
  if (ingest) {
    const ratio = ingest.load.ackedPerSec / b.nodes64PerSec;
    out.push({ target: 'ingest (64 nodes) ≥ 0.6× baseline', measured: `${int(ingest.load.ackedPerSec)}/s = ${x(ratio)}`, pass: ratio >= 0.6 });
  }
  const single = get('single-1');
  if (single) {
    const l = single.load;
    out.push({ target: 'single node ≥ 1,500 alerts/s', measured: `${int(l.ackedPerSec)}/s (${x(l.ackedPerSec / b.node1PerSec)} of 1-node baseline)`, pass: l.ackedPerSec >= 1500 });
    out.push({ target: 'single node ack p50 < 0.7 ms', measured: `p50 ${ms(l.ackLatencyMs.p50)} ms, p99 ${ms(l.ackLatencyMs.p99)} ms`, pass: l.ackLatencyMs.p50 < 0.7 });
  }
  const e500 = get('e2e-500');
  const floor500 = get('floor-500');
  if (e500?.delivery) {
    const p = e500.delivery.latencyMs;
    const fp = floor500?.delivery?.latencyMs;
    const floorNote = fp ? ` (floor ${ms(fp.p50)} / ${ms(fp.p95)} / ${ms(fp.p99)})` : '';
    const drained = e500.delivery.drainMs !== null && (e500.backlog?.waitingJobs ?? 0) < 100;
    out.push({ target: 'e2e 500/s POST→sink p99 < 20 ms', measured: `p50 ${ms(p.p50)} / p95 ${ms(p.p95)} / p99 ${ms(p.p99)} ms${floorNote}`, pass: p.p99 < 20 });
    out.push({ target: 'e2e 500/s POST→sink p50 < 5 ms, no backlog', measured: `p50 ${ms(p.p50)} ms, ${int(e500.backlog?.waitingJobs ?? 0)} waiting at stop, drained ${drained ? 'at once' : 'late'}`, pass: p.p50 < 5 && drained });
  }
  const idle = get('idle-1');
  if (idle?.delivery) {
    const p = idle.delivery.latencyMs;
    const fp = get('floor-idle-1')?.delivery?.latencyMs;
    out.push({ target: 'one alert on an idle pipeline POST→sink < 3 ms', measured: `p50 ${ms(p.p50)} / p99 ${ms(p.p99)} ms${fp ? ` (floor p50 ${ms(fp.p50)} / p99 ${ms(fp.p99)})` : ''}`, pass: p.p50 < 3 });
  }
  const c = e500?.cpu;
  if (c) {
    const f = (n: number | undefined) => (n === undefined ? '?' : n.toFixed(2));
    const all = [c.collectorMs, ...c.workersMs, c.redisMs];
    const fc = floor500?.cpu;
    const floorNote = fc ? `; floor ${f(fc.collectorMs)} / ${fc.workersMs.map(f).join(', ')} / ${f(fc.redisMs)} ms` : '';
    out.push({
      target: 'e2e 500/s CPU per delivered alert ≤ 0.3 ms each (collector / worker / Redis)',
      measured: `${f(c.collectorMs)} / ${c.workersMs.map(f).join(', ')} / ${f(c.redisMs)} ms${c.redisShared ? ' (Redis shared: other users included)' : ''}${floorNote}`,
      pass: all.every((n) => n !== undefined && n <= 0.3),
    });
  }
  const overload = (name: string, what: string, min: number) => {
    const r = get(name);
    if (!r?.delivery) return out.push({ target: `${what} ≥ ${min}× baseline`, measured: 'not measured (quick mode: run the full bench)', pass: null });
    const ratio = r.delivery.deliveredPerSec / b.nodes64PerSec;
    return out.push({ target: `${what} ≥ ${min}× baseline`, measured: `${int(r.delivery.deliveredPerSec)}/s = ${x(ratio)}`, pass: ratio >= min });
  };
  overload('scale-1w', 'overload, unbatched output (1 worker), delivered sustained', 0.2);
  overload('scale-1w-batched', 'overload, batched output (1 worker), delivered sustained', 0.4);
  return out;
}

export function renderMarkdown(report: BenchReport): string {
  const m = report.machine;
  const b = report.baseline;
  const lines: string[] = [];
  lines.push(`# Falconet bench (${report.mode}) — ${report.generatedAt}`, '');
  lines.push(
    `Machine: ${m.cores} cores, ${m.cpu}, ${m.memoryGiB} GiB · Node ${m.node} · Redis ${m.redis}${m.ownRedis ? ' (private redis-server)' : ' (shared)'} · commit ${m.commit}${m.dirty ? ' + uncommitted src changes' : ''} · ${int(report.totalSeconds)} s total`,
    `Load average at start ${m.loadavgAtStart} → end ${m.loadavgAtEnd} (a shared machine: compare ratios, not absolutes).`,
    '',
    `Baseline (separate process: bare node:http, read body, JSON.parse, 200): **${int(b.nodes64PerSec)} alerts/s** with 64 nodes` +
      (b.nodes64Runs.length > 1 ? ` (mean of runs ${b.nodes64Runs.map(int).join(' and ')}, taken at start and end)` : '') +
      `, **${int(b.node1PerSec)}/s** with 1 node. Ratios (×) are to the baseline with the same node count.`,
    '',
    '| Scenario | Offered | Acked/s (× base) | Ack p50 / p99 ms | Delivered/s (× base) | POST→sink p50 / p95 / p99 ms | Waiting jobs at stop · drain | CPU ms/alert collector / worker(s) / Redis | Peak RSS MiB collector / worker(s) | Redis used MiB start→max |',
    '|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of report.scenarios) {
    const l = r.load;
    const base = baseFor(r, b);
    const offered = l.durationMs ? `${(l.durationMs / 1000).toFixed(0)} s, ${r.description.split(', ')[0]}` : '';
    const acked = `${int(l.ackedPerSec)} (${x(l.ackedPerSec / base)})` + (Object.keys(l.failed).length ? ` · failed ${JSON.stringify(l.failed)}` : '');
    const d = r.delivery;
    const delivered = d
      ? `${int(d.deliveredPerSec)} (${x(d.deliveredPerSec / b.nodes64PerSec)})` +
        (d.delivered < d.expected ? ` · **${int(d.expected - d.delivered)} undelivered**` : '') +
        (d.duplicates ? ` · ${d.duplicates} dup` : '')
      : '–';
    const lat = d ? `${ms(d.latencyMs.p50)} / ${ms(d.latencyMs.p95)} / ${ms(d.latencyMs.p99)}` : '–';
    const backlog = r.backlog
      ? `${int(r.backlog.waitingJobs)}` + (d ? ` · ${d.drainMs === null ? 'not drained' : `${(d.drainMs / 1000).toFixed(1)} s`}` : '')
      : '–';
    const mem =
      r.kind === 'baseline'
        ? `baseline ${r.memory.baseline?.peakMiB.toFixed(0) ?? '?'}`
        : `${r.memory.collector?.peakMiB.toFixed(0) ?? '?'} / ${(r.memory.workers ?? []).map((w) => w?.peakMiB.toFixed(0) ?? '?').join(', ') || '–'}`;
    const f2 = (n: number | undefined) => (n === undefined ? '?' : n.toFixed(2));
    const cpu = r.cpu ? `${f2(r.cpu.collectorMs)} / ${r.cpu.workersMs.map(f2).join(', ') || '–'} / ${f2(r.cpu.redisMs)}${r.cpu.redisShared ? '*' : ''}` : '–';
    const rm = r.memory.redis ? `${r.memory.redis.startMiB.toFixed(0)}→${r.memory.redis.maxMiB.toFixed(0)}` : '–';
    lines.push(`| ${r.name} | ${offered} | ${acked} | ${ms(l.ackLatencyMs.p50)} / ${ms(l.ackLatencyMs.p99)} | ${delivered} | ${lat} | ${backlog} | ${cpu} | ${mem} | ${rm} |`);
  }
  lines.push('', '| Target | Measured | |', '|---|---|---|');
  for (const t of targets(report)) lines.push(`| ${t.target} | ${t.measured} | ${t.pass === null ? 'n/a' : t.pass ? 'met' : '**missed**'} |`);
  const fan = report.scenarios.find((s) => s.name === 'fanout-2000');
  if (fan?.delivery) lines.push('', `Fan-out per output (alerts received): ${Object.entries(fan.delivery.byPath).map(([k, v]) => `${k} ${int(v)}`).join(', ')} of ${int(fan.load.acked)} acknowledged.`);
  lines.push(
    '',
    'Acked/s: 2xx answers inside the load window. Delivered/s: distinct alert ids reaching the sink inside the window (after warm-up). ' +
      'Waiting jobs: wait+prioritized+delayed in the ingest and delivery queues when the load stopped; drain: until every acknowledged alert reached the sink. ' +
      'Redis used memory is the whole (possibly shared) server, sampled every 250 ms. ' +
      'CPU ms/alert: user+system CPU of each process from the load start until drained, per delivered alert (per acked alert without a worker); * = shared Redis, other users included.',
    '',
  );
  return lines.join('\n');
}
