import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { falcoHeaders } from '../helpers/fixtures.js';
import { startPipeline, testConfig, type Pipeline } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';

let pipeline: Pipeline | undefined;
let redis: ChildProcess | undefined;
const dir = mkdtempSync(join(tmpdir(), 'falconet-redis-'));

async function stopRedis(): Promise<void> {
  const child = redis;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

afterEach(async () => {
  await pipeline?.stop();
  await stopRedis();
  pipeline = redis = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** A redis-server of this test's own, on a free port, without persistence. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 0 });
  probe.on('error', () => undefined);
  try {
    await waitFor(async () => (await probe.ping()) === 'PONG', { what: `redis-server on ${port}` });
  } finally {
    probe.disconnect();
  }
  return child;
}

const alert = JSON.stringify({ rule: 'R', priority: 'Warning', time: '2025-06-12T08:00:00Z' });

describe('collector with Redis unreachable', () => {
  it('answers 503 JSON and /readyz 503 while /healthz stays 200; recovers when Redis is back', async () => {
    const port = await freePort();
    redis = await startRedis(port);
    pipeline = await startPipeline(
      testConfig({ redis: { url: `redis://127.0.0.1:${port}` }, outputs: { sink: { type: 'stdout' } }, routes: [{ outputs: ['sink'] }] }),
      { worker: false },
    );
    const base = pipeline.collector.url;
    expect((await pipeline.post(alert, falcoHeaders())).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    await stopRedis();

    const res = await pipeline.post(alert, falcoHeaders());
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    const body = (await res.json()) as { error: string; detail: string };
    expect(body.error).toBe('unavailable');
    expect(body.detail).toMatch(/Redis/);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'redis unreachable' });
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);

    // Redis back on the same port: the collector accepts again without a restart.
    redis = await startRedis(port);
    await waitFor(async () => (await pipeline!.post(alert, falcoHeaders())).status === 200, { what: 'accepting again' });
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });
});
