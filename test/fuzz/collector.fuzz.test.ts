import { Agent, request } from 'node:http';
import { gzipSync, deflateSync } from 'node:zlib';
import fc from 'fast-check';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authenticator } from '../../src/auth/authenticator.js';
import { stringifyJson } from '../../src/alert/json.js';
import { createCollectorApp } from '../../src/collector/app.js';
import type { RawAlert } from '../../src/collector/decode.js';
import { startCollectorServer, type CollectorServer } from '../../src/collector/server.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createEnrichStage } from '../../src/router/stages/enrich.js';
import { normalise } from '../../src/router/stages/normalise.js';
import { fieldName, fieldValue, hostileString, megabyteString, PRIORITIES } from './arbitraries.js';

/**
 * Property: whatever arrives, the collector answers 200 or a 4xx (never a 5xx, never a crash or an
 * unhandled rejection), keeps serving, and every alert it accepted goes through the router's
 * parsing (normalise, enrich, serialise) without throwing: no poison job can get in.
 * Seeded, so a failure replays; bounded: 10,000 bodies over 8 keep-alive connections.
 */
const SEED = 20261201;
const BODIES = 10_000;
const TOKEN = 'fuzz-token-0123456789abcdef';

type Case = { body: Buffer; headers: Record<string, string> };

/** Falco-shaped objects with hostile types where Falco puts strings, and hostile values where it puts fields. */
const falcoShaped = fc
  .record(
    {
      rule: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('Terminal shell in container', 'Read sensitive file untrusted') }, { weight: 1, arbitrary: fieldValue }),
      priority: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...PRIORITIES, 'warning', 'INFO') }, { weight: 1, arbitrary: fieldValue }),
      time: fc.oneof({ weight: 6, arbitrary: fc.date({ noInvalidDate: true, min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z') }).map((d) => d.toISOString()) }, { weight: 1, arbitrary: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()) }, { weight: 1, arbitrary: fieldValue }),
      output: fc.oneof({ weight: 8, arbitrary: hostileString }, { weight: 1, arbitrary: fieldValue }),
      hostname: fc.oneof({ weight: 8, arbitrary: hostileString }, { weight: 1, arbitrary: fieldValue }),
      source: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('syscall', 'k8s_audit', 'okta', '') }, { weight: 1, arbitrary: fieldValue }),
      tags: fc.oneof({ weight: 8, arbitrary: fc.array(hostileString, { maxLength: 4 }) }, { weight: 1, arbitrary: fieldValue }),
      output_fields: fc.oneof(
        { weight: 8, arbitrary: fc.dictionary(fieldName, fieldValue, { maxKeys: 12 }) },
        { weight: 2, arbitrary: fc.dictionary(fc.constantFrom('k8s.ns.name', 'ka.target.namespace'), fc.constantFrom('team1', 'team2', 'kube-system', '')) },
        { weight: 1, arbitrary: fieldValue },
      ),
    },
    { requiredKeys: ['rule', 'priority', 'time'] },
  )
  .map((o) => stringifyJson(o));

const nested = fc.tuple(fc.integer({ min: 1, max: 80 }), fc.constantFrom('[', '{"a":')).map(([depth, open]) => {
  const close = open === '[' ? ']' : '}';
  return `{"rule":"r","priority":"Notice","time":"2025-06-12T08:00:00Z","output_fields":{"x":${open.repeat(depth)}1${close.repeat(depth)}}}`.replace(/\[1\]/, '[1]');
});

const jsonText = fc.oneof(
  { weight: 5, arbitrary: falcoShaped },
  { weight: 2, arbitrary: fc.json({ maxDepth: 5 }) },
  { weight: 1, arbitrary: nested },
  { weight: 1, arbitrary: fc.array(falcoShaped, { minLength: 1, maxLength: 5 }).map((items) => `[${items.join(',')}]`) },
  { weight: 1, arbitrary: fc.array(falcoShaped, { minLength: 1, maxLength: 5 }).map((items) => items.join('\n')) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((s) => `2025-06-12T08:00:00Z: Warning ${s}`) },
);

const body: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 400, arbitrary: jsonText.map((t) => Buffer.from(t)) },
  { weight: 100, arbitrary: fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)) },
  // ~1 in 500: an alert carrying a 1 MB string (under the 2 MiB limit, or over it once escaped).
  { weight: 1, arbitrary: megabyteString.map((s) => Buffer.from(JSON.stringify({ rule: 'big', priority: 'Notice', time: '2025-06-12T08:00:00Z', output: s }))) },
  // Valid JSON with one byte flipped.
  { weight: 50, arbitrary: fc.tuple(falcoShaped, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([t, at, v]) => { const b = Buffer.from(t); b[at % b.length] = v; return b; }) },
);

const cases: fc.Arbitrary<Case> = fc
  .record({
    body,
    type: fc.constantFrom('application/json', 'application/json', 'application/x-ndjson', 'text/plain', '', 'application/octet-stream'),
    encoding: fc.oneof({ weight: 12, arbitrary: fc.constant('none') }, { weight: 1, arbitrary: fc.constantFrom('gzip', 'deflate', 'gzip-garbage', 'br') }),
    auth: fc.oneof({ weight: 12, arbitrary: fc.constantFrom('bearer', 'basic') }, { weight: 1, arbitrary: fc.constantFrom('none', 'wrong') }),
  })
  .map(({ body, type, encoding, auth }) => {
    const headers: Record<string, string> = {};
    if (type) headers['content-type'] = type;
    let wire = body;
    if (encoding === 'gzip') wire = gzipSync(body);
    else if (encoding === 'deflate') wire = deflateSync(body);
    else if (encoding === 'gzip-garbage') wire = Buffer.concat([gzipSync(body).subarray(0, 12), body]);
    if (encoding !== 'none') headers['content-encoding'] = encoding === 'gzip-garbage' ? 'gzip' : encoding;
    if (auth === 'bearer') headers.authorization = `Bearer ${TOKEN}`;
    if (auth === 'wrong') headers.authorization = 'Bearer wrong';
    if (auth === 'basic') headers.authorization = `Basic ${Buffer.from(`falco:${TOKEN}`).toString('base64')}`;
    return { body: wire, headers };
  });

let server: CollectorServer;
const accepted: RawAlert[] = [];
const unhandled: unknown[] = [];
const errorLogs: string[] = [];
const onUnhandled = (err: unknown) => unhandled.push(err);

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  // Errors the collector logs (a 500's cause) are kept to be shown by a failing run.
  const logger = pino({ level: 'error' }, { write: (line: string) => void errorLogs.push(line.slice(0, 2000)) });
  const metrics = createMetrics();
  const app = createCollectorApp({
    maxBodySize: 2 * 1024 * 1024,
    // The in-memory ingest is the one stand-in: this suite is about what the HTTP layer lets in.
    ingest: async (alerts) => void accepted.push(...alerts),
    ready: async () => ({ ready: true, body: { status: 'ready' } }),
    metrics,
    logger,
    auth: new Authenticator({ tokens: [{ name: 'fuzz', token: TOKEN, tenant: 'team1', cluster: 'c1', namespaces: ['team1', '/^kube-/'] }], clientCerts: [] }, metrics.registry),
  });
  server = await startCollectorServer({ host: '127.0.0.1', port: 0, maxBodySize: 2 * 1024 * 1024, headersTimeout: 10_000, requestTimeout: 30_000 }, app.callback(), logger);
});

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await server.close();
});

function post(agent: Agent, c: Case): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}/`, { method: 'POST', agent, headers: { ...c.headers, 'content-length': String(c.body.length) } });
    req.on('error', reject);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.end(c.body);
  });
}

describe('fuzz: the collector under 10,000 seeded random bodies', () => {
  it('answers every body with 200 or a 4xx, keeps serving, and lets in only alerts the router can parse', async () => {
    const samples = fc.sample(cases, { numRuns: BODIES, seed: SEED });
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const statuses = new Map<number, number>();
    const fivexx: Array<{ status: number; body: string }> = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < samples.length) {
          const c = samples[next++]!;
          const status = await post(agent, c);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status >= 500 || status < 200 || (status > 200 && status < 400)) fivexx.push({ status, body: c.body.subarray(0, 200).toString('latin1') });
        }
      }),
    );
    agent.destroy();
    const big = samples.filter((c) => c.body.length > 1024 * 1024).length;
    console.log(`fuzz collector: ${BODIES} bodies (${big} over 1 MB), statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}, ${accepted.length} alerts accepted`);
    expect(errorLogs.slice(0, 3)).toEqual([]);
    expect(fivexx).toEqual([]);
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(BODIES);
    // Enough of the bodies got through for the property to mean something.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(BODIES / 10);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    // The router's side: parse, enrich and serialise every accepted alert.
    const enrich = createEnrichStage({ cluster: 'fuzz' });
    for (const raw of accepted) {
      const [alert] = enrich(normalise([raw]));
      expect(typeof stringifyJson(alert)).toBe('string');
      expect(alert!.output_fields['falconet.tenant']).toBe('team1');
    }
    expect(unhandled).toEqual([]);
  }, 120_000);
});
