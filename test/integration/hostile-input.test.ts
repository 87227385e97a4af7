import { request } from 'node:http';
import { connect } from 'node:net';
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { falcoHeaders } from '../helpers/fixtures.js';
import { testConfig, type Pipeline } from '../helpers/harness.js';
import { useRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';
import type { CaptureServer } from '../helpers/capture-server.js';

const rig = useRig();
const MAX_BODY = 16 * 1024 * 1024;
const alert = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ rule: 'Terminal shell in container', priority: 'Notice', time: '2025-06-12T08:00:00.000000001Z', output: 'hostile', output_fields: { 'k8s.ns.name': 'team1' }, ...over });

async function start(extra: Record<string, unknown> = {}): Promise<{ p: Pipeline; sink: CaptureServer }> {
  const sink = await rig.capture();
  const p = await rig.pipeline(
    testConfig({
      listen: { host: '127.0.0.1', port: 0, maxBodySize: MAX_BODY, headersTimeout: '1s', requestTimeout: '2s' },
      dedup: { window: 0 },
      outputs: { sink: { type: 'webhook', url: `${sink.url}/hook` } },
      routes: [{ outputs: ['sink'] }],
      ...extra,
    }),
  );
  return { p, sink };
}

/** node:http POST of raw bytes: status, parsed JSON body (if any), ms until the answer. */
function send(url: string, body: Buffer | string, headers: Record<string, string | number>): Promise<{ status: number; body: any; ms: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(`${url}/`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } });
    req.on('error', reject);
    req.on('response', (res) => {
      const ms = performance.now() - started;
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => {
        resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined, ms, headers: res.headers });
        // A refused upload: stop sending the rest.
        req.destroy();
      });
    });
    req.end(body);
  });
}

async function stillServing(p: Pipeline): Promise<void> {
  const res = await fetch(`${p.collector.url}/healthz`);
  expect(res.status).toBe(200);
}

/** Concatenated gzip members of zeros: ~`members` KiB on the wire, `members` MiB decompressed. */
function gzipBomb(members: number, compress: (b: Buffer) => Buffer = gzipSync): Buffer {
  const member = compress(Buffer.alloc(1024 * 1024));
  return Buffer.concat(Array.from({ length: members }, () => member));
}

describe('collector: hostile input, bounded before parsing', () => {
  it('a 10 MB gzip bomb (10 GB decompressed) and a deflate bomb answer 413, memory flat', async () => {
    const { p } = await start();
    const bomb = gzipBomb(10_000);
    expect(bomb.length).toBeGreaterThan(9 * 1024 * 1024);
    const rss = process.memoryUsage().rss;
    const gz = await send(p.collector.url, bomb, { 'content-encoding': 'gzip' });
    expect(gz.status).toBe(413);
    expect(gz.body.error).toBe('body_too_large');
    // One zlib stream of 1 GiB of zeros compresses to ~1 MB.
    const deflateBomb = deflateSync(Buffer.alloc(1024 * 1024 * 1024), { level: 9 });
    const df = await send(p.collector.url, deflateBomb, { 'content-encoding': 'deflate' });
    expect(df.status).toBe(413);
    const grown = (process.memoryUsage().rss - rss) / 1024 / 1024;
    console.log(`gzip bomb (${(bomb.length / 1e6).toFixed(1)} MB → 10 GB): 413 in ${gz.ms.toFixed(0)} ms; deflate bomb 413 in ${df.ms.toFixed(0)} ms; RSS +${grown.toFixed(0)} MiB`);
    // The cap is the body limit (16 MiB) plus buffers, never the decompressed size.
    expect(grown).toBeLessThan(200);
    await stillServing(p);
  });

  it('gzip and deflate (zlib or raw) bodies are decoded; malformed or truncated gzip is 400, an unknown encoding 415', async () => {
    const { p, sink } = await start();
    expect((await send(p.collector.url, gzipSync(alert({ output: 'gzip' })), { 'content-encoding': 'gzip' })).status).toBe(200);
    expect((await send(p.collector.url, deflateSync(alert({ output: 'deflate' })), { 'content-encoding': 'deflate' })).status).toBe(200);
    expect((await send(p.collector.url, deflateRawSync(alert({ output: 'raw deflate' })), { 'content-encoding': 'deflate' })).status).toBe(200);
    const garbage = await send(p.collector.url, Buffer.from('this is not gzip at all'), { 'content-encoding': 'gzip' });
    expect(garbage).toMatchObject({ status: 400, body: { error: 'bad_encoding' } });
    const truncated = gzipSync(alert()).subarray(0, 30);
    expect(await send(p.collector.url, truncated, { 'content-encoding': 'gzip' })).toMatchObject({ status: 400, body: { error: 'bad_encoding' } });
    const corrupt = Buffer.from(gzipSync(alert()));
    corrupt[20] = corrupt[20]! ^ 0xff;
    expect((await send(p.collector.url, corrupt, { 'content-encoding': 'gzip' })).status).toBe(400);
    expect(await send(p.collector.url, Buffer.from('xx'), { 'content-encoding': 'deflate' })).toMatchObject({ status: 400, body: { error: 'bad_encoding' } });
    expect(await send(p.collector.url, alert(), { 'content-encoding': 'br' })).toMatchObject({ status: 415, body: { error: 'unsupported_encoding' } });
    await waitFor(() => sink.requests.length === 3, { what: 'the three compressed alerts' });
    expect(sink.requests.map((r) => JSON.parse(r.body).output).sort()).toEqual(['deflate', 'gzip', 'raw deflate']);
    await stillServing(p);
  });

  it('JSON nested 100,000 deep or with 200,000 keys is 400 before it reaches the router; probes answer meanwhile', async () => {
    const { p, sink } = await start();
    const deep = alert({ output_fields: { x: JSON.parse('[]') } }).replace('"x":[]', `"x":${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    expect(await send(p.collector.url, deep, {})).toMatchObject({ status: 400, body: { error: 'json_too_deep' } });
    const deepBatch = `[${alert()},${deep}]`;
    const batch = await send(p.collector.url, deepBatch, {});
    expect(batch).toMatchObject({ status: 400, body: { error: 'json_too_deep' } });
    expect(batch.body.detail).toMatch(/^\[1\]: nested deeper than 32 levels/);
    const fields = Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`field.${i}`, i]));
    const wide = send(p.collector.url, alert({ output_fields: fields }), {});
    const probe = fetch(`${p.collector.url}/healthz`);
    expect(await wide).toMatchObject({ status: 400, body: { error: 'json_too_many_keys' } });
    expect((await probe).status).toBe(200);
    // A small body 40 deep (checked after parsing, the path every Falco alert takes) likewise.
    const small = await send(p.collector.url, alert({ output_fields: { x: JSON.parse('['.repeat(40) + ']'.repeat(40)) } }), {});
    expect(small).toMatchObject({ status: 400, body: { error: 'json_too_deep' } });
    // Depth 32 is still fine (real alerts nest 2-3 levels).
    expect((await send(p.collector.url, alert({ output: 'nested ok', output_fields: { x: JSON.parse('['.repeat(30) + ']'.repeat(30)) } }), {})).status).toBe(200);
    await waitFor(() => sink.requests.length === 1, { what: 'the one acceptable alert' });
    expect(JSON.parse(sink.requests[0]!.body).output).toBe('nested ok');
    await stillServing(p);
  });

  it('a time Date.parse reads but no output can add to (year +275760) is 400, not a poison job in delivery', async () => {
    const { p } = await start();
    const res = await send(p.collector.url, alert({ time: '+275760-09-13T00:00:00.000Z' }), {});
    expect(res).toMatchObject({ status: 400, body: { error: 'invalid_alert' } });
    expect(res.body.detail).toMatch(/^time: /);
    await stillServing(p);
  });

  it('invalid UTF-8 is 400 naming the byte offset', async () => {
    const { p } = await start();
    const text = Buffer.from(alert({ output: 'abc' }));
    const at = text.indexOf('abc');
    const bad = Buffer.concat([text.subarray(0, at), Buffer.from([0xc3, 0x28]), text.subarray(at)]);
    const res = await send(p.collector.url, bad, {});
    expect(res).toMatchObject({ status: 400, body: { error: 'invalid_utf8' } });
    expect(res.body.detail).toContain(`offset ${at}`);
    // Valid multi-byte text is fine.
    expect((await send(p.collector.url, alert({ output: 'Zürich 東京 🚀' }), {})).status).toBe(200);
    await stillServing(p);
  });

  it('__proto__ keys are refused (plain or \\u-escaped); constructor/prototype keys are data; nothing changes process-wide', async () => {
    const { p, sink } = await start();
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const polluted = '{"rule":"r","priority":"Notice","time":"2025-06-12T08:00:00Z","__proto__":{"polluted":"yes"},"output_fields":{"__proto__":{"isAdmin":true}}}';
    expect(await send(p.collector.url, polluted, {})).toMatchObject({ status: 400, body: { error: 'forbidden_key' } });
    const escaped = '{"rule":"r","priority":"Notice","time":"2025-06-12T08:00:00Z","output_fields":{"\\u005f_proto__":{"isAdmin":true}}}';
    expect(await send(p.collector.url, escaped, {})).toMatchObject({ status: 400, body: { error: 'forbidden_key' } });
    expect(await send(p.collector.url, `[${polluted}]`, {})).toMatchObject({ status: 400, body: { error: 'forbidden_key' } });
    const constructor = alert({ output: 'constructor', output_fields: { constructor: { prototype: { polluted: 'yes' } }, prototype: { isAdmin: true }, 'k8s.ns.name': 'team1' } });
    expect((await send(p.collector.url, constructor, {})).status).toBe(200);
    await waitFor(() => sink.requests.length === 1, { what: 'the constructor-keyed alert' });
    expect(JSON.parse(sink.requests[0]!.body).output_fields.constructor).toEqual({ prototype: { polluted: 'yes' } });
    const probe: Record<string, unknown> = {};
    expect(probe.polluted).toBeUndefined();
    expect(probe.isAdmin).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    await stillServing(p);
  });

  it('control characters cannot forge lines on stdout: one alert is one line', async () => {
    const { p } = await start({ outputs: { console: { type: 'stdout' } }, routes: [{ outputs: ['console'] }] });
    const forged = 'real\n{"rule":"forged","priority":"Emergency"}\r\nnext\u2028line\u2029end\u0000\u001b[31m';
    const written: string[] = [];
    const original = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = chunk.toString();
      if (text.includes('"rule":"Terminal shell in container"')) {
        written.push(text);
        const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
        cb?.();
        return true;
      }
      return original(chunk, ...(rest as []));
    }) as typeof process.stdout.write;
    try {
      expect((await send(p.collector.url, alert({ output: forged, output_fields: { 'proc.cmdline': forged } }), {})).status).toBe(200);
      await waitFor(() => written.length === 1, { what: 'the stdout line' });
    } finally {
      process.stdout.write = original;
    }
    const lines = written[0]!.split(/\r\n|\r|\n|\u2028|\u2029/).filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    const parsed = JSON.parse(lines[0]!);
    expect(parsed.output).toBe(forged);
    expect(parsed.output_fields['proc.cmdline']).toBe(forged);
    await stillServing(p);
  });

  it('headers over the size limit get 431', async () => {
    const { p } = await start();
    const res = await new Promise<number>((resolve, reject) => {
      const req = request(`${p.collector.url}/`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-padding': 'a'.repeat(20 * 1024) } });
      req.on('error', reject);
      req.on('response', (r) => resolve(r.statusCode!));
      req.end(alert());
    });
    expect(res).toBe(431);
    await stillServing(p);
  });

  it('slow-loris: a client sending 1 byte every 200 ms is answered 408 and closed (headers and body), others are served meanwhile', async () => {
    const { p } = await start();
    const slow = (prefix: string, drip: string) =>
      new Promise<{ answer: string; closedAfterMs: number }>((resolve) => {
        const started = performance.now();
        const socket = connect(p.collector.port, '127.0.0.1');
        let answer = '';
        let i = 0;
        socket.write(prefix);
        const timer = setInterval(() => {
          if (i < drip.length && !socket.destroyed) socket.write(drip[i++]!);
        }, 200);
        socket.on('data', (d) => (answer += d.toString()));
        socket.on('error', () => undefined);
        socket.on('close', () => {
          clearInterval(timer);
          resolve({ answer, closedAfterMs: performance.now() - started });
        });
      });
    const headers = slow('POST / HTTP/1.1\r\nHost: x\r\n', 'Content-Type: application/json\r\nX-Slow: ' + 'z'.repeat(200));
    const body = alert();
    const bodyDrip = slow(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`, body);
    await stillServing(p);
    const [h, b] = await Promise.all([headers, bodyDrip]);
    console.log(`slow-loris: header drip closed after ${h.closedAfterMs.toFixed(0)} ms, body drip after ${b.closedAfterMs.toFixed(0)} ms (headersTimeout 1s, requestTimeout 2s)`);
    expect(h.answer).toMatch(/^HTTP\/1\.1 408/);
    expect(b.answer).toMatch(/^HTTP\/1\.1 408/);
    // Well before the drip would have finished (200+ bytes at 5 per second = 40 s).
    expect(h.closedAfterMs).toBeLessThan(20_000);
    await stillServing(p);
  });

  it("an idle keep-alive connection (Falco's) outlives headersTimeout: the timeout only runs while a request is being sent", async () => {
    const { p } = await start();
    const socket = connect(p.collector.port, '127.0.0.1');
    const answers: string[] = [];
    socket.on('data', (d) => answers.push(d.toString()));
    const body = alert({ output: 'keep-alive' });
    const req = `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    socket.write(req);
    await waitFor(() => answers.join('').includes('HTTP/1.1 200'), { what: 'first answer' });
    // Idle for longer than headersTimeout (1 s), measured by polling the server until then.
    const idleUntil = Date.now() + 2500;
    await waitFor(async () => {
      await stillServing(p);
      return Date.now() > idleUntil;
    }, { timeoutMs: 10_000, intervalMs: 250 });
    expect(socket.destroyed).toBe(false);
    socket.write(req);
    await waitFor(() => answers.join('').split('HTTP/1.1 200').length === 3, { what: 'second answer on the same connection' });
    socket.destroy();
  });

  it('per-token rateLimit: over it 429 with Retry-After, nothing accepted; another tenant is not slowed', async () => {
    const { p, sink } = await start({
      auth: {
        tokens: [
          { name: 'noisy', token: 'noisy-token-0123456789', tenant: 'noisy', rateLimit: 5 },
          { name: 'quiet', token: 'quiet-token-0123456789', tenant: 'quiet', rateLimit: 5 },
        ],
      },
    });
    const noisy = { ...falcoHeaders(), authorization: 'Bearer noisy-token-0123456789' };
    const statuses: number[] = [];
    let retryAfter: unknown;
    for (let i = 0; i < 8; i++) {
      const r = await send(p.collector.url, alert({ output: `noisy ${i}` }), noisy);
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers['retry-after'];
    }
    // The bucket holds one second (5 alerts); the loop takes well under a second to refill more than one.
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(5);
    expect(statuses).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    const quiet = await send(p.collector.url, alert({ output: 'quiet' }), { ...falcoHeaders(), authorization: 'Bearer quiet-token-0123456789' });
    expect(quiet.status).toBe(200);
    const accepted = statuses.filter((s) => s === 200).length + 1;
    await waitFor(() => sink.requests.length === accepted, { what: 'every accepted alert' });
    expect(await (await fetch(`${p.collector.url}/metrics`)).text()).toMatch(/falconet_auth_refused_total\{identity="noisy",reason="rate_limited"\} \d/);
  });
});
