// Redis work per alert, counted rather than timed: a private redis-server, `falconet collector`
// and `falconet worker` from a build (dist/ of BENCH_ROOT, default this checkout) delivering to a
// local webhook sink, N alerts posted by 4 serial senders at a steady rate; then INFO
// commandstats: commands (Lua-internal calls included) and Redis-side µs per delivered alert, and
// the CPU of collector, worker and redis-server per alert (/proc). On a shared, noisy machine the
// counts are exact and the µs far steadier than wall-clock latency.
//   node --import tsx bench/redis-commands.ts [--alerts=2000] [--rate=200]
//   BENCH_ROOT=/path/to/other/checkout: the same measurement of another build (side by side)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { FIXTURES } from './common.js';
import { ROOT, cpuSecondsOf, freePort } from './processes.js';
import { startCountingSink } from './counting-sink.js';

const { values } = parseArgs({ options: { alerts: { type: 'string', default: '2000' }, rate: { type: 'string', default: '200' } } });
const N = Number(values.alerts);
const rate = Number(values.rate);
const root = process.env.BENCH_ROOT ?? ROOT;
const dir = mkdtempSync(join(tmpdir(), 'falconet-redis-commands-'));
const lines = readFileSync(FIXTURES, 'utf8').split('\n').filter(Boolean);

const redisPort = await freePort();
const redisServer = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
const redis = new Redis(redisPort, '127.0.0.1', { maxRetriesPerRequest: null, retryStrategy: () => 50 });
redis.on('error', () => undefined); // refused until redis-server listens
await redis.ping();

const sink = await startCountingSink();
const sinkUrl = `${sink.url}/hook`;
const port = await freePort();
const config = join(dir, 'falconet.yaml');
writeFileSync(config, `listen: { host: 127.0.0.1, port: ${port} }\nredis: { url: "redis://127.0.0.1:${redisPort}", prefix: rc, embedded: false }\nspool: { dir: "${dir}/spool" }\ndedup: { window: 0 }\nworker: { metricsPort: 0 }\nlog: { level: warn }\noutputs:\n  hook: { type: webhook, url: "${sinkUrl}" }\nroutes:\n  - outputs: [hook]\n`);
const start = (role: string) => spawn(process.execPath, [join(root, 'bin/falconet.js'), role, '--config', config], { stdio: ['ignore', 'ignore', 'ignore'] });
const worker = start('worker');
const collector = start('collector');
// Whatever happens, none of the processes started here outlives the script.
process.on('exit', () => {
  for (const c of [collector, worker, redisServer]) c.kill('SIGKILL');
});
const until = async (check: () => Promise<boolean> | boolean, what: string, ms = 30_000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};
await until(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 'collector ready');
await until(async () => ((await redis.call('CLIENT', 'LIST')) as string).split('\n').filter((l) => l.includes('cmd=')).length >= 3, 'worker connected');
// Warm-up: one alert through, so start-up work (script loads, group creation) is not counted.
const post = (i: number) =>
  fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: lines[i % lines.length]!.replace('"rule":"', `"rule":"#${i} `), headers: { 'content-type': 'application/json', 'user-agent': 'falcosecurity/falco' } });
await post(N);
await until(() => sink.received() === 1, 'warm-up delivered');
await redis.config('RESETSTAT');
const cpu = () => [collector, worker, redisServer].map((c) => cpuSecondsOf(c.pid) ?? 0);
const cpu0 = cpu();

const t0 = Date.now();
const senders = 4;
await Promise.all(Array.from({ length: senders }, async (_, s) => {
  for (let k = 0; k * senders + s < N; k++) {
    const i = k * senders + s;
    const due = t0 + (i * 1000) / rate;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    if ((await post(i)).status !== 200) throw new Error('POST refused');
  }
}));
await until(() => sink.received() === N + 1, 'all delivered', 60_000);
const [collectorCpu, workerCpu, redisCpu] = cpu().map((v, i) => +(((v - cpu0[i]!) * 1000) / N).toFixed(3));
const stats = (await redis.info('commandstats')).split('\n').filter((l) => l.startsWith('cmdstat_'));
const rows = stats.map((l) => {
  const [name, rest] = l.slice(8).split(':');
  const f = Object.fromEntries(rest!.split(',').map((kv) => kv.split('=')));
  return { name: name!, calls: Number(f.calls), usec: Number(f.usec) };
}).filter((r) => !['info', 'config', 'client', 'ping'].includes(r.name));
const completedJobs = await redis.zcard('rc:deliver.hook:completed');
const calls = rows.reduce((a, r) => a + r.calls, 0);
const usec = rows.reduce((a, r) => a + r.usec, 0);
const top = rows.sort((a, b) => b.calls - a.calls).slice(0, Number(process.env.TOP ?? 12)).map((r) => `${r.name} ${(r.calls / N).toFixed(2)}`);
console.log(JSON.stringify({ root, alerts: N, rate, commandsPerAlert: +(calls / N).toFixed(1), redisUsPerAlert: +(usec / N).toFixed(1), cpuMsPerAlert: { collector: collectorCpu, worker: workerCpu, redis: redisCpu }, deliveryJobs: completedJobs, top }));

for (const c of [collector, worker]) c.kill('SIGTERM');
await Promise.all([collector, worker].map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
redis.disconnect();
redisServer.kill('SIGTERM');
sink.close();
