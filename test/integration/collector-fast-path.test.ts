import { connect, type Socket } from 'node:net';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Authenticator } from '../../src/auth/authenticator.js';
import { createCollectorApp } from '../../src/collector/app.js';
import type { RawAlert } from '../../src/collector/decode.js';
import { fastIngestListener } from '../../src/collector/fast-ingest.js';
import { createIngest } from '../../src/collector/ingest.js';
import { startCollectorServer, type CollectorServer } from '../../src/collector/server.js';
import { SpoolFullError } from '../../src/collector/spool.js';
import { createMetrics } from '../../src/observability/metrics.js';

/**
 * Falco's POSTs skip Koa (src/collector/fast-ingest.ts). These tests hold the fast path to the
 * Koa app's behaviour byte for byte: the same requests are sent once to an ingest path (the fast
 * path) and once to /uiX (a path the fast path hands to Koa, which ingests it there as any path),
 * each to a fresh collector, and the raw responses (Date aside) and the metrics must be equal.
 */

const MAX_BODY = 2048;
const TOKEN = 'fast-path-token-0123456789';
const TIGHT = 'fast-path-tight-0123456789';
const alert = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ rule: 'Terminal shell in container', priority: 'Warning', time: '2026-01-01T10:00:00.000000000Z', output: 'a shell', output_fields: { 'k8s.ns.name': 'team1' }, ...over });

type Mode = 'ok' | 'spooled' | 'fail' | 'full';
let mode: Mode = 'ok';
const servers: CollectorServer[] = [];

afterEach(async () => {
  mode = 'ok';
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function collector(withAuth: boolean) {
  const metrics = createMetrics();
  const accepted: RawAlert[] = [];
  const logger = pino({ level: 'silent' });
  const auth = withAuth
    ? new Authenticator(
        {
          tokens: [
            { name: 'team1', token: TOKEN, tenant: 'team1', cluster: 'c1', namespaces: ['team1'] },
            { name: 'tight', token: TIGHT, rateLimit: 1 },
          ],
          clientCerts: [],
        },
        metrics.registry,
      )
    : undefined;
  const app = createCollectorApp({
    maxBodySize: MAX_BODY,
    ingest: async (alerts) => {
      if (mode === 'fail') throw new Error('Redis down and the spool not writable');
      if (mode === 'full') throw new SpoolFullError(1000);
      accepted.push(...alerts);
      return mode === 'spooled' ? 'spooled' : undefined;
    },
    ready: async () => ({ ready: true, body: { status: 'ready' } }),
    metrics,
    logger,
    auth,
  });
  const server = await startCollectorServer({ host: '127.0.0.1', port: 0, maxBodySize: MAX_BODY, headersTimeout: 10_000, requestTimeout: 30_000 }, app.callback(), logger);
  servers.push(server);
  return { server, metrics, accepted };
}

/** One HTTP/1.1 exchange on a keep-alive socket: the raw response head (no Date) and body. */
function exchange(socket: Socket, raw: Buffer | string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = got.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (got.length < end + 4 + length) return;
      socket.off('data', onData);
      socket.off('error', reject);
      resolve(`${head.replace(/\r\nDate: [^\r]*/, '')}\r\n\r\n${got.subarray(end + 4, end + 4 + length).toString('utf8')}`);
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(raw);
  });
}

function open(server: CollectorServer): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

function post(path: string, body: Buffer | string, headers: Record<string, string> = {}, method = 'POST'): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const chunked = headers['Transfer-Encoding'] === 'chunked';
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: falconet', 'User-Agent: falcosecurity/falco', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (!chunked) lines.push(`Content-Length: ${bytes.length}`);
  const payload = chunked ? Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n0\r\n\r\n')]) : bytes;
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), payload]);
}

/** The requests, on one keep-alive connection; `at` is the path prefix (an ingest path or /uiX). */
async function battery(server: CollectorServer, at: string, withAuth: boolean): Promise<string[]> {
  const q = withAuth ? `?token=${TOKEN}` : '';
  const json = { 'Content-Type': 'application/json' };
  const socket = await open(server);
  const out: string[] = [];
  const send = async (raw: Buffer) => out.push(await exchange(socket, raw));
  try {
    await send(post(`${at}${q}`, alert(), json));
    await send(post(`${at}/a/b${q}${q ? '&' : '?'}x=1`, alert({ rule: 'second' }), json));
    await send(post(`${at}${q}`, alert({ rule: 'put' }), json, 'PUT'));
    await send(post(`${at}${q}`, `${alert({ rule: 'n1' })}\n${alert({ rule: 'n2' })}\n`, { 'Content-Type': 'application/x-ndjson' }));
    await send(post(`${at}${q}`, `[${alert({ rule: 'a1' })},${alert({ rule: 'a2', priority: 'Critical' })}]`, json));
    await send(post(`${at}${q}`, '10:00:00.000000000: Warning A shell was spawned', { 'Content-Type': 'text/plain' }));
    await send(post(`${at}${q}`, '{"rule": "x", ', json));
    await send(post(`${at}${q}`, '   ', json));
    await send(post(`${at}${q}`, alert({ priority: 'Loud' }), json));
    await send(post(`${at}${q}`, Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]), json));
    await send(post(`${at}${q}`, alert(), { ...json, 'Content-Encoding': 'br' }));
    await send(post(`${at}${q}`, gzipSync(alert({ rule: 'gzipped' })), { ...json, 'Content-Encoding': 'gzip' }));
    await send(post(`${at}${q}`, Buffer.from('not gzip at all'), { ...json, 'Content-Encoding': 'gzip' }));
    await send(post(`${at}${q}`, 'x'.repeat(MAX_BODY + 1), { ...json, 'Transfer-Encoding': 'chunked' }));
    await send(post(`${at}${q}`, alert({ output_fields: { 'k8s.ns.name': 'team1', 'falconet.tenant': 'forged' } }), json));
    await send(post(`${at}${q}`, alert({ output_fields: { 'k8s.ns.name': 'team2' } }), json));
    for (const m of ['spooled', 'fail', 'full'] as const) {
      mode = m;
      await send(post(`${at}${q}`, alert({ rule: m }), json));
    }
    mode = 'ok';
    if (withAuth) {
      await send(post(at, alert({ rule: 'bearer' }), { ...json, Authorization: `Bearer ${TOKEN}` }));
      await send(post(`${at}?token=${TIGHT}`, alert({ rule: 'tight 1' }), json));
      await send(post(`${at}?token=${TIGHT}`, alert({ rule: 'tight 2' }), json));
    }
    // Last: a declared length over the limit is refused before the body is read.
    await send(post(`${at}${q}`, 'x'.repeat(MAX_BODY + 1), json));
  } finally {
    socket.destroy();
  }
  if (withAuth) {
    // A 401 closes its connection (the body is not read): one each.
    for (const path of [at, `${at}?token=wrong-token`]) {
      const alone = await open(server);
      out.push(await exchange(alone, post(path, alert(), json)).finally(() => alone.destroy()));
    }
  }
  return out;
}

async function metricsText(metrics: ReturnType<typeof createMetrics>): Promise<string> {
  const text = await metrics.registry.metrics();
  return text
    .split('\n')
    .filter((l) => /^falconet_(ingest_requests_total|alerts_received_total|auth_refused_total|spool_full_total)\{?/.test(l))
    .sort()
    .join('\n');
}

describe('collector fast path', () => {
  for (const withAuth of [false, true]) {
    it(`answers every ingest request with the Koa app's bytes and metrics (${withAuth ? 'with' : 'without'} auth)`, async () => {
      const fast = await collector(withAuth);
      const koa = await collector(withAuth);
      const fastAnswers = await battery(fast.server, '/falco', withAuth);
      const koaAnswers = await battery(koa.server, '/uiX', withAuth);
      expect(fastAnswers).toEqual(koaAnswers);
      expect(fastAnswers[0]).toMatch(/^HTTP\/1\.1 200 OK\r\nContent-Type: text\/plain; charset=utf-8\r\nContent-Length: 0\r\nConnection: keep-alive/);
      expect(fastAnswers.filter((a) => a.startsWith('HTTP/1.1 4') || a.startsWith('HTTP/1.1 5')).length).toBeGreaterThanOrEqual(withAuth ? 12 : 10);
      expect(await metricsText(fast.metrics)).toEqual(await metricsText(koa.metrics));
      // The text alert carries its receipt time: equal but for that.
      const stored = (c: { accepted: RawAlert[] }) => c.accepted.map((a) => a[1].replace(/"time":"2026-(?!01-01)[^"]*"/, '"time":"received"'));
      expect(stored(fast)).toEqual(stored(koa));
      expect(fast.accepted.length).toBeGreaterThan(8);
    });
  }

  it('hands to Koa everything but an ingest POST/PUT: GETs, API and UI paths, /test, refused credentials', async () => {
    const metrics = createMetrics();
    const logger = pino({ level: 'silent' });
    const auth = new Authenticator({ tokens: [{ name: 'n', token: TOKEN }], clientCerts: [] }, metrics.registry);
    const toKoa: string[] = [];
    const koa: RequestListener = (req) => void toKoa.push(`${req.method} ${req.url}`);
    const deps = { maxBodySize: MAX_BODY, ingest: async () => undefined, metrics, logger, auth };
    const listener = fastIngestListener(koa, deps, createIngest(deps));
    const call = (method: string, url: string, headers: Record<string, string> = {}) => {
      // Koa's stub answers at once; a request the fast path takes fails on reading this stand-in
      // body (logged to the silent logger), which does not matter here.
      const req = { method, url, headers } as unknown as IncomingMessage;
      const before = toKoa.length;
      listener(req, {} as ServerResponse);
      return toKoa.length > before;
    };
    for (const [method, url] of [
      ['GET', '/'],
      ['HEAD', '/healthz'],
      ['DELETE', '/'],
      ['POST', '/test'],
      ['POST', '/test?output=x'],
      ['POST', '/api/dlq/replay'],
      ['POST', '/api'],
      ['POST', '/ui/x'],
      ['POST', '/-/reload'],
      ['POST', 'http://falconet/'],
      ['POST', '/?token=wrong'],
    ] as const) {
      expect(call(method, url), `${method} ${url}`).toBe(true);
    }
    expect(call('POST', `/?token=${TOKEN}`)).toBe(false);
    expect(call('PUT', '/k8s', { authorization: `Bearer ${TOKEN}` })).toBe(false);
  });
});
