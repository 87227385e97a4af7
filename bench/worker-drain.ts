// Worker cost per alert, isolated: pre-fills the ingest log with N one-alert entries (what serial
// Falco nodes produce at low load), starts one worker process from dist/, and measures how fast it
// drains them to a local webhook sink and how much CPU the worker used per alert.
//   node --import tsx bench/worker-drain.ts [--alerts=5000] [--batch=1] [--outputs=1]
//   BENCH_DIRECT=0: every alert through its delivery queue (router.directDelivery: false)
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { entryFields, ingestLogKey } from '../src/queue/ingest-log.js';
import { Redis } from 'ioredis';
import { alertId } from '../src/collector/decode.js';
import { FIXTURES } from './common.js';
import { ROOT, deletePrefix } from './processes.js';
import { startCountingSink } from './counting-sink.js';

const { values } = parseArgs({ options: { alerts: { type: 'string', default: '5000' }, batch: { type: 'string', default: '1' }, outputs: { type: 'string', default: '1' } } });
const N = Number(values.alerts);
const perJob = Number(values.batch);
const outputs = Number(values.outputs);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `drain-${process.pid}`;

const lines = readFileSync(FIXTURES, 'utf8').split('\n').filter(Boolean);
const sink = await startCountingSink();
const sinkUrl = `${sink.url}`;

const dir = mkdtempSync(join(tmpdir(), 'falconet-drain-'));
const config = join(dir, 'falconet.yaml');
const outs = Array.from({ length: outputs }, (_, i) => `  o${i}: { type: webhook, url: "${sinkUrl}/o${i}", concurrency: 8 }`).join('\n');
writeFileSync(config, `redis: { url: "${redisUrl}", prefix: ${prefix} }\ndedup: { window: 0 }\n${process.env.BENCH_DIRECT === '0' ? 'router: { directDelivery: false }\n' : ''}worker: { metricsPort: 0 }\nlog: { level: warn }\noutputs:\n${outs}\nroutes:\n  - outputs: [${Array.from({ length: outputs }, (_, i) => `o${i}`).join(', ')}]\n`);

const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
const entries: Array<Array<[string, string]>> = [];
for (let i = 0; i < N; i += perJob) {
  const alerts: Array<[string, string]> = [];
  for (let k = i; k < Math.min(N, i + perJob); k++) {
    const raw = lines[k % lines.length]!.replace('"rule":"', `"rule":"#${k} `);
    alerts.push([alertId(raw), raw]);
  }
  entries.push(alerts);
}
for (let i = 0; i < entries.length; i += 1000) {
  const batch = redis.pipeline();
  for (const alerts of entries.slice(i, i + 1000)) batch.xadd(ingestLogKey(prefix), '*', ...entryFields(alerts, Date.now()));
  await batch.exec();
}

const extra = process.env.DRAIN_NODE_ARGS ? process.env.DRAIN_NODE_ARGS.split(' ') : [];
const worker = spawn(process.execPath, [...extra, join(ROOT, 'bin/falconet.js'), 'worker', '--config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
const cpu = () => {
  const f = readFileSync(`/proc/${worker.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10; // utime + stime, clock ticks of 10 ms
};
while (sink.received() === 0) await new Promise((r) => setTimeout(r, 5));
const t0 = performance.now();
const c0 = cpu();
const deadline = Date.now() + 120_000;
while (sink.received() < N * outputs && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
const seconds = (performance.now() - t0) / 1000;
const cpuMs = cpu() - c0;
console.log(JSON.stringify({ alerts: N, perJob, outputs, delivered: sink.received(), seconds: +seconds.toFixed(2), alertsPerSec: Math.round(sink.received() / outputs / seconds), workerCpuUsPerAlert: Math.round((cpuMs * 1000) / sink.received()) }));
worker.kill('SIGTERM');
await new Promise((r) => worker.once('exit', r));
await deletePrefix(redis, prefix);
redis.disconnect();
sink.close();
