import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CaptureServer, type CapturedRequest } from '../helpers/capture-server.js';
import { falcoHeaders } from '../helpers/fixtures.js';
import { REDIS_URL, deletePrefix } from '../helpers/harness.js';
import { freePort } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { falconet, killAll, untilLogged, writeConfig } from '../chaos/procs.js';

const tmp = mkdtempSync(join(tmpdir(), 'falconet-ha-procs-'));
const captures: CaptureServer[] = [];
const prefixes: string[] = [];
afterEach(async () => {
  await killAll();
  await Promise.all(captures.splice(0).map((c) => c.stop()));
  await Promise.all(prefixes.splice(0).map((p) => deletePrefix(p)));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const alert = (over: Record<string, unknown>) =>
  JSON.stringify({ rule: 'Terminal shell in container', priority: 'Warning', hostname: 'node-1', time: '2026-12-01T08:00:00.000000000Z', output: 'shell', output_fields: { 'container.id': 'c1', 'proc.cmdline': 'bash' }, ...over });

function baseDoc(over: Record<string, unknown> = {}) {
  const prefix = `fnt-${randomUUID().slice(0, 8)}`;
  prefixes.push(prefix);
  return { listen: { host: '127.0.0.1', port: 0 }, redis: { url: REDIS_URL, prefix, embedded: false }, log: { level: 'info' }, spool: { dir: join(tmp, 'spool') }, ...over };
}

describe('several workers on one host: the metrics port', () => {
  it('a second worker on a taken port exits naming the keys to set; --metrics-port and FALCONET_METRICS_PORT give each its own', async () => {
    const sink = await new CaptureServer().start();
    captures.push(sink);
    const taken = await freePort();
    const path = writeConfig(tmp, baseDoc({ worker: { metricsPort: taken }, outputs: { out: { type: 'webhook', url: sink.url } }, routes: [{ outputs: ['out'] }] }));
    const first = falconet('worker', path);
    await untilLogged(first, 'worker started');
    const second = falconet('worker', path);
    expect((await second.exit).code).toBe(1);
    expect(second.log()).toContain(`metrics port 127.0.0.1:${taken} (worker.metricsPort) is taken`);
    expect(second.log()).toMatch(/--metrics-port N or FALCONET_METRICS_PORT=N/);

    const own = await freePort();
    const byEnv = falconet('worker', path, { env: { FALCONET_METRICS_PORT: String(own) } });
    const byFlag = falconet('worker', path, { args: ['--metrics-port', 'off'] });
    await untilLogged(byEnv, 'worker started');
    await untilLogged(byFlag, 'worker started');
    expect((await fetch(`http://127.0.0.1:${own}/healthz`)).status).toBe(200);
    expect(byFlag.log()).toContain('worker metrics off');
    // A flag that is not a port is refused naming it.
    const bad = falconet('worker', path, { args: ['--metrics-port', 'abc'] });
    expect((await bad.exit).code).toBe(1);
    expect(bad.log()).toMatch(/--metrics-port \\?"abc\\?" is not a port/);
  }, 90_000);
});

/** Requests inside any `spanMs` window, at most. */
function densest(requests: CapturedRequest[], spanMs: number): number {
  const at = requests.map((r) => r.at).sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < at.length; i++) {
    while (at[i]! - at[j]! >= spanMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

describe('two collectors and two workers on one Redis', () => {
  it('dedup across them, a rate limit of 5/s held in total, a Retry-After pause held by both workers', async () => {
    const [once, limited, paused] = await Promise.all([new CaptureServer().start(), new CaptureServer().start(), new CaptureServer().start()]);
    captures.push(once, limited, paused);
    // `paused` answers 429 Retry-After: 2 to what reaches it in the first second (the sends already in
    // flight, which on a loaded machine arrive hundreds of ms late), then 200.
    const INFLIGHT_MS = 1000;
    let firstAt: number | undefined;
    paused.fallback = (req) => {
      firstAt ??= req.at;
      return req.at - firstAt < INFLIGHT_MS ? { status: 429, headers: { 'retry-after': '2' }, body: 'slow down' } : { status: 200 };
    };
    const doc = baseDoc({
      dedup: { window: '10m' },
      worker: { metricsPort: 0 },
      outputs: {
        once: { type: 'webhook', url: once.url },
        limited: { type: 'webhook', url: limited.url, concurrency: 4, rateLimit: { max: 5, per: '1s' } },
        paused: { type: 'webhook', url: paused.url, concurrency: 4, retry: { attempts: 5, backoff: '50ms' } },
      },
      routes: [{ outputs: ['once', 'limited', 'paused'] }],
    });
    const ports = [await freePort(), await freePort()];
    const collectors = ports.map((port) => falconet('collector', writeConfig(tmp, { ...doc, listen: { host: '127.0.0.1', port }, spool: { dir: join(tmp, `spool-${port}`) } })));
    const workers = [0, 1].map(() => falconet('worker', writeConfig(tmp, doc)));
    for (const p of [...collectors, ...workers]) await untilLogged(p, /collector listening|worker started/);

    // The same event posted 3 times to each collector, and 20 distinct events spread over both.
    const duplicate = alert({ hostname: 'node-dup' });
    const bodies = [...Array(6).fill(duplicate), ...Array.from({ length: 20 }, (_, i) => alert({ time: `2026-12-01T08:00:${String(i).padStart(2, '0')}.000000000Z`, output: `shell ${i}` }))];
    const statuses = await Promise.all(
      bodies.map(async (body, i) => (await fetch(`http://127.0.0.1:${ports[i % 2]}/`, { method: 'POST', body, headers: falcoHeaders() })).status),
    );
    expect(statuses.every((s) => s === 200)).toBe(true);

    const distinct = 21;
    await waitFor(() => once.requests.length >= distinct && limited.requests.length >= distinct, { timeoutMs: 30_000, what: 'once and limited delivered 21' });
    await waitFor(() => paused.requests.filter((r) => r.at - firstAt! >= INFLIGHT_MS).length >= distinct, { timeoutMs: 30_000, what: 'paused delivered 21 after its pause' });
    // Dedup in Redis: the duplicate went out once although both collectors and both workers saw it.
    for (const c of [once, limited]) {
      const hosts = c.requests.map((r) => (JSON.parse(r.body) as { hostname: string }).hostname);
      expect(hosts.filter((h) => h === 'node-dup')).toHaveLength(1);
      expect(c.requests).toHaveLength(distinct);
    }
    // The limiter is in Redis: 5 per second for both workers together (10 if each held its own).
    // BullMQ counts a job when it is taken, in fixed windows; sends reach the sink a little later
    // (more so on a loaded machine), so any 2 s hold at most 3 windows' worth: 15 (20+ if per process),
    // and 21 alerts span at least 4 window starts (2 with a limiter per process).
    expect(densest(limited.requests, 2000)).toBeLessThanOrEqual(15);
    const at = limited.requests.map((r) => r.at);
    expect(Math.max(...at) - Math.min(...at)).toBeGreaterThanOrEqual(3000);
    // The Retry-After pause is in Redis: neither worker sent to `paused` during it.
    const after = paused.requests.filter((r) => r.at - firstAt! >= INFLIGHT_MS);
    expect(Math.min(...after.map((r) => r.at)) - firstAt!).toBeGreaterThanOrEqual(1950);
    // Both workers took part in delivering (otherwise the test would show nothing about two).
    const delivered = await Promise.all(workers.map(async (w) => {
      const port = Number(/"port":(\d+)[^\n]*"msg":"worker metrics listening"/.exec(w.log())?.[1]);
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return [...text.matchAll(/falconet_deliveries_total\{output="\w+",status="ok",reason="none"\} (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    }));
    expect(delivered.every((n) => n > 0)).toBe(true);
    expect(delivered[0]! + delivered[1]!).toBe(3 * distinct);
  }, 120_000);
});
