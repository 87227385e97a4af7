import { fileURLToPath } from 'node:url';
import { parse as losslessParse, stringify as losslessStringify } from 'lossless-json';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseOutputInstance } from '../../src/config/load.js';
import { CaptureServer } from '../../test/helpers/capture-server.js';
import { fixtureAlertLines } from '../../test/helpers/fixtures.js';
import { expectGolden, goldenAlerts } from '../../test/helpers/golden.js';
import { isDeliveryError } from '../kit/errors.js';
import type { Output } from '../kit/types.js';
import { talonOutput } from './index.js';
import { buildTalonEvent } from './payload.js';

const golden = (name: string) => fileURLToPath(new URL(`./golden/${name}.json`, import.meta.url));
const alerts = goldenAlerts();
/** The fixture line each golden alert was read from (test/helpers/golden.ts). */
const LINES = { syscall: 8, k8s_audit: 7, plugin: 0, unicode: 3, internal: 24, null_field: 11 } as const;
const pretty = (body: string) => `${losslessStringify(losslessParse(body), null, 2)}\n`;

describe('talon payload', () => {
  it.each(Object.keys(alerts) as Array<keyof typeof alerts>)('matches the golden event for %s', (name) => {
    expectGolden(golden(name), pretty(buildTalonEvent(alerts[name])));
  });

  it.each(Object.entries(LINES))('is the event Falco sent for %s, plus uuid (big integers exact)', (name, line) => {
    const sent = losslessParse(buildTalonEvent(alerts[name as keyof typeof alerts])) as Record<string, unknown>;
    const falco = losslessParse(fixtureAlertLines()[line]!) as Record<string, unknown>;
    const { uuid, ...rest } = sent;
    expect(uuid).toBe(alerts[name as keyof typeof alerts].id);
    expect(rest).toEqual(falco);
  });

  it('writes Falcosidekick\'s key order and leaves out empty tags and hostname, as Go omitempty does', () => {
    expect(Object.keys(JSON.parse(buildTalonEvent(alerts.syscall)) as object)).toEqual(['uuid', 'output', 'priority', 'rule', 'time', 'output_fields', 'source', 'tags', 'hostname']);
    const bare = { ...alerts.syscall, tags: [], hostname: undefined };
    expect(Object.keys(JSON.parse(buildTalonEvent(bare)) as object)).toEqual(['uuid', 'output', 'priority', 'rule', 'time', 'output_fields', 'source']);
    expect(buildTalonEvent(alerts.syscall)).toContain('"evt.time":1749716043412907117');
  });
});

describe('talon config', () => {
  it('defaults to the Helm chart\'s service and posts to its root path', () => {
    const inst = parseOutputInstance('t', { type: 'talon' }, talonOutput);
    expect(inst.config.url).toBe('http://falco-talon:2803');
    expect(inst.batchSize).toBe(1);
  });

  it('refuses storm control and digest overflow: Talon must see every event', () => {
    expect(() => parseOutputInstance('t', { type: 'talon', dedup: { window: '1m' } })).toThrow(/outputs\.t\.dedup: Talon acts on each event/);
    expect(() => parseOutputInstance('t', { type: 'talon', overflow: { mode: 'digest' } })).toThrow(/outputs\.t\.overflow\.mode:/);
    expect(() => parseOutputInstance('t', { type: 'talon', overflow: { mode: 'queue' } })).not.toThrow();
    expect(() => parseOutputInstance('t', { type: 'talon', batch: { size: 10 } })).toThrow(/one alert per request/);
  });
});

describe('talon send (a capture server answering like Talon\'s handler)', () => {
  let server: CaptureServer | undefined;
  let output: Output | undefined;
  afterEach(async () => {
    await output?.close?.();
    await server?.stop();
  });

  it('posts one event per alert; 200 resolves, 400 is permanent, 500 (NATS publish failed) is retried', async () => {
    server = await new CaptureServer().start();
    const inst = parseOutputInstance('talon', { type: 'talon', url: server.url }, talonOutput);
    output = talonOutput.create(inst.config, { name: 'talon', logger: pino({ level: 'silent' }) });
    const text = { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' };
    server.respondWith(
      { status: 200 },
      { status: 400, headers: text, body: 'Please send a valid request body\n' },
      { status: 500, headers: text, body: 'Internal Server Error\n' },
    );
    const signal = AbortSignal.timeout(5000);
    await output.send([alerts.syscall], { signal });
    const req = server.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.body).toBe(buildTalonEvent(alerts.syscall));

    const invalid = await output.send([alerts.k8s_audit], { signal }).catch((e: unknown) => e);
    expect(isDeliveryError(invalid) && !invalid.retryable && invalid.status === 400).toBe(true);
    const unpublished = await output.send([alerts.k8s_audit], { signal }).catch((e: unknown) => e);
    expect(isDeliveryError(unpublished) && unpublished.retryable && unpublished.status === 500).toBe(true);
  });
});
