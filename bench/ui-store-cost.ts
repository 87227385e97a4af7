/**
 * The web UI store's cost per alert, alone: Redis CPU (from /proc of a private redis-server) and
 * this process's CPU, for store.add in batches and the delivery status writes that follow.
 * Counted per alert so that options can be compared on a noisy machine (issue #10).
 *   node --import tsx bench/ui-store-cost.ts [--alerts=20000] [--batch=32] [--max-alerts=100000]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { AlertStore } from '../src/ui/store.js';
import { normalise } from '../src/router/stages/normalise.js';
import { loadTemplates, renderBody } from './common.js';

const arg = (name: string, d: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? d);
const ALERTS = arg('alerts', 20000);
const BATCH = arg('batch', 32);
const MAX_ALERTS = arg('max-alerts', 100000);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function cpuMsOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

const port = await freePort();
const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: false });
for (let i = 0; ; i++) {
  try { await redis.ping(); break; } catch { await new Promise((r) => setTimeout(r, 50)); }
}
const templates = loadTemplates();
const store = new AlertStore(redis, 'b', { maxAlerts: MAX_ALERTS, maxBytes: 256 * 1024 * 1024, maxAge: 7 * 24 * 3600 * 1000 });
const t0 = Date.now();
const raw: Array<[string, string]> = [];
for (let i = 0; i < ALERTS; i++) raw.push([`id${i}`, renderBody(templates[i % templates.length]!, i, t0)]);
const alerts = normalise(raw);

async function scriptMicros(): Promise<number> {
  const stats = await redis.info('commandstats');
  return Number(/cmdstat_evalsha:calls=\d+,usec=(\d+)/.exec(stats)?.[1] ?? 0);
}

async function phase(name: string, run: () => Promise<void>) {
  const s0 = await scriptMicros();
  const r0 = cpuMsOf(server.pid!);
  const n0 = process.cpuUsage();
  const w0 = performance.now();
  await run();
  const n = process.cpuUsage(n0);
  const r = cpuMsOf(server.pid!) - r0;
  const wall = performance.now() - w0;
  const script = (await scriptMicros()) - s0;
  console.log(`${name.padEnd(10)} redis ${(r / ALERTS * 1000).toFixed(1)} µs/alert  node ${(((n.user + n.system) / 1000) / ALERTS * 1000).toFixed(1)} µs/alert  wall ${(wall / ALERTS * 1000).toFixed(1)} µs/alert  (in the script ${(script / ALERTS).toFixed(1)} µs/alert)`);
}

await phase('add', async () => {
  for (let i = 0; i < alerts.length; i += BATCH) {
    await store.add(alerts.slice(i, i + BATCH).map((alert) => ({ alert, outputs: ['webhook'] })));
  }
});
await phase('status', async () => {
  for (let i = 0; i < alerts.length; i += BATCH) {
    await store.setStatuses(alerts.slice(i, i + BATCH).map((a) => ({ id: a.id, output: 'webhook', status: { status: 'delivered', attempts: 1, deliveredAt: Date.now() } })));
  }
});
const info = await redis.info('memory');
console.log(`used_memory ${(Number(/used_memory:(\d+)/.exec(info)![1]) / ALERTS).toFixed(0)} B/alert, stored ${(await store.size()).alerts}`);
await redis.quit();
server.kill();
