import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as losslessParse, stringify as losslessStringify } from 'lossless-json';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alert/alert.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { isDeliveryError } from '../kit/errors.js';
import { normalise } from '../../src/router/stages/normalise.js';
import { CaptureServer } from '../../test/helpers/capture-server.js';
import { fixtureAlertLines } from '../../test/helpers/fixtures.js';
import { pagerdutyOutput } from './index.js';
import { digestFixture } from '../../test/helpers/digest-fixture.js';
import { buildPagerDutyBody, buildPagerDutyEvent, MAX_REQUEST_BYTES, pagerdutyEndpoint, type PagerDutyPayloadOptions } from './payload.js';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/', import.meta.url));
const ROUTING_KEY = 'R0UT1NGKEY0123456789abcdefABCDEF';
const OPTS: PagerDutyPayloadOptions = {
  routingKey: ROUTING_KEY,
  severityMap: {},
  dedupFields: ['rule', 'hostname', 'output_fields.container.id', 'output_fields.proc.cmdline'],
};

/** Fixture lines by index: plugin (int64, unicode, null), k8s_audit, syscall, internal, emergency. */
const CASES = { cloudtrail_int64: 0, okta_unicode: 3, gcp_null: 4, k8s_audit: 7, syscall_pod: 8, syscall_null_k8s: 13, internal_drop: 24, emergency: 43 };

function allFixtures(): Alert[] {
  return normalise(fixtureAlertLines().map((l, i) => [`fixture-${i}`, l] as const));
}

/** Big integers stay exact in the golden text; UPDATE_GOLDEN=1 rewrites (review the diff by eye). */
function expectGolden(name: string, body: string): void {
  const path = `${GOLDEN_DIR}${name}.json`;
  const text = `${losslessStringify(losslessParse(body), null, 2)}\n`;
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(GOLDEN_DIR, { recursive: true });
    writeFileSync(path, text);
  }
  expect(text).toBe(readFileSync(path, 'utf8'));
}

function alertWith(fields: Record<string, unknown>): Alert {
  const base = { rule: 'Terminal shell in container', priority: 'Critical', time: '2026-08-20T10:11:12.123456789Z', hostname: 'node-7', output_fields: {} };
  return normalise([['id-1', JSON.stringify({ ...base, ...fields })]])[0]!;
}

describe('pagerduty payload', () => {
  it.each(Object.entries(CASES))('matches the golden event for %s', (name, index) => {
    expectGolden(name, buildPagerDutyBody(allFixtures()[index]!, OPTS)!);
  });

  it('sends a digest as a trigger with the storm\'s dedup_key and the digest in its details', () => {
    const digest = digestFixture();
    const body = buildPagerDutyBody(digest, OPTS)!;
    expectGolden('digest', body);
    const sample = allFixtures()[23]!;
    const event = buildPagerDutyEvent(digest, OPTS);
    expect(event.dedup_key).toBe(buildPagerDutyEvent(sample, OPTS).dedup_key);
    expect(event.payload.summary).toBe('[Critical] Drop and execute new binary in container ×523 on 12 pods in team2, 10:01:02–10:05:40 UTC');
    expect(event.payload.custom_details.digest).toMatchObject({ suppressed: 523, first_time: '2025-06-12T10:01:02.123456789Z', pods: { distinct: 12, others: 33 } });
  });

  it('maps severity from priority (never constant), overridable by severityMap', () => {
    const fixtures = allFixtures();
    const severities = new Map(fixtures.map((a) => [a.priority, buildPagerDutyEvent(a, OPTS).payload.severity]));
    expect(Object.fromEntries(severities)).toMatchObject({ Emergency: 'critical', Alert: 'critical', Critical: 'critical', Error: 'error', Warning: 'warning', Notice: 'info', Informational: 'info', Debug: 'info' });
    const inst = parseOutputInstance('pd', { type: 'pagerduty', routingKey: 'k', severityMap: { warning: 'error', notice: 'warning' } });
    const opts = { ...OPTS, severityMap: inst.config.severityMap as PagerDutyPayloadOptions['severityMap'] };
    expect(buildPagerDutyEvent(alertWith({ priority: 'Warning' }), opts).payload.severity).toBe('error');
    expect(buildPagerDutyEvent(alertWith({ priority: 'Notice' }), opts).payload.severity).toBe('warning');
    expect(buildPagerDutyEvent(alertWith({ priority: 'Debug' }), opts).payload.severity).toBe('info');
    expect(() => parseOutputInstance('pd', { type: 'pagerduty', routingKey: 'k', severityMap: { warning: 'sev1' } })).toThrow();
  });

  it('resolves the region to its host: eu really posts to events.eu.pagerduty.com', () => {
    const endpoint = (cfg: Record<string, unknown>) => pagerdutyEndpoint(parseOutputInstance('pd', { type: 'pagerduty', routingKey: 'k', ...cfg }, pagerdutyOutput).config);
    expect(endpoint({})).toBe('https://events.pagerduty.com/v2/enqueue');
    expect(endpoint({ region: 'eu' })).toBe('https://events.eu.pagerduty.com/v2/enqueue');
    expect(endpoint({ region: 'eu', url: 'http://proxy:8080/pd' })).toBe('http://proxy:8080/pd/v2/enqueue');
    expect(endpoint({ url: 'http://proxy:8080/pd/v2/enqueue' })).toBe('http://proxy:8080/pd/v2/enqueue');
    expect(() => endpoint({ region: 'apac' })).toThrow();
  });

  it('gives repeats the same dedup_key and different containers different keys', () => {
    const first = alertWith({ output_fields: { 'container.id': 'abc', 'proc.cmdline': 'bash', 'proc.pid': 1 } });
    const repeat = alertWith({ time: '2026-08-20T11:00:00Z', output_fields: { 'container.id': 'abc', 'proc.cmdline': 'bash', 'proc.pid': 2 } });
    const other = alertWith({ output_fields: { 'container.id': 'def', 'proc.cmdline': 'bash' } });
    const key = buildPagerDutyEvent(first, OPTS).dedup_key;
    expect(key).toMatch(/^falco:[0-9a-f]{40}$/);
    expect(buildPagerDutyEvent(repeat, OPTS).dedup_key).toBe(key);
    expect(buildPagerDutyEvent(other, OPTS).dedup_key).not.toBe(key);
    expect(buildPagerDutyEvent(other, { ...OPTS, dedupFields: ['rule'] }).dedup_key).not.toBe(key);
  });

  it('keeps summary within 1024 characters', () => {
    const event = buildPagerDutyEvent(alertWith({ rule: `R ${'😈'.repeat(2000)}` }), OPTS);
    expect(event.payload.summary.length).toBeLessThanOrEqual(1024);
    expect(event.payload.summary.startsWith('[Critical] R ')).toBe(true);
    expect(event.payload.summary.endsWith('…')).toBe(true);
    expect(Buffer.from(event.payload.summary).toString()).toBe(event.payload.summary); // no lone surrogate
  });

  it('trims a 1 MB alert under 512 KB, largest output fields first', () => {
    const big = 'A'.repeat(1024 * 1024);
    const alert = alertWith({ output: `shell ${big}`, output_fields: { 'proc.cmdline': big, 'proc.args': 'x'.repeat(300_000), 'container.id': 'abc', 'evt.time': 1 } });
    const body = buildPagerDutyBody(alert, OPTS)!;
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_REQUEST_BYTES);
    const details = (JSON.parse(body) as { payload: { custom_details: { output_fields: Record<string, unknown>; trimmed_fields: string[]; output: string } } }).payload.custom_details;
    expect(details.trimmed_fields).toEqual(['(output)', 'proc.cmdline']);
    expect(details.output_fields['proc.args']).toBe('x'.repeat(300_000));
    expect(details.output_fields['container.id']).toBe('abc');
    expect(details.output_fields['proc.cmdline']).toBe(`[trimmed by Falconet: ${big.length + 2} bytes]`);
    expect(details.output.startsWith('shell AAA')).toBe(true);
    expect(details.output.length).toBeLessThan(20_000);
    // One large field alone: only it goes, output stays whole.
    const one = JSON.parse(buildPagerDutyBody(alertWith({ output_fields: { 'proc.cmdline': big, 'proc.name': 'sh' } }), OPTS)!) as typeof details & { payload: { custom_details: typeof details } };
    expect(one.payload.custom_details.output_fields['proc.name']).toBe('sh');
    expect(one.payload.custom_details.trimmed_fields).toEqual(['proc.cmdline']);
  });
});


describe('pagerduty dedupKey', () => {
  it('refuses a field that is not an alert field: a typo would fold every alert into one', () => {
    expect(() => parseOutputInstance('x', { ...{ type: 'pagerduty', routingKey: 'k' }, dedupKey: ['rule', 'hostnme'] })).toThrow(/outputs\.x\.dedupKey\[1\]: an alert field/);
    expect(() => parseOutputInstance('x', { ...{ type: 'pagerduty', routingKey: 'k' }, dedupKey: ['rule', 'output_fields.container.id'] })).not.toThrow();
  });
});

describe('pagerduty send', () => {
  let server: CaptureServer | undefined;
  let output: { close?(): Promise<void> } | undefined;
  afterEach(async () => {
    await output?.close?.();
    await server?.stop();
  });

  it('posts the event to the configured URL; errors never carry the routing key', async () => {
    server = await new CaptureServer().start();
    const inst = parseOutputInstance('pd', { type: 'pagerduty', routingKey: ROUTING_KEY, url: `${server.url}/v2/enqueue` }, pagerdutyOutput);
    const pd = pagerdutyOutput.create(inst.config, { name: 'pd', logger: pino({ level: 'silent' }) });
    output = pd;
    const signal = AbortSignal.timeout(5000);
    server.respondWith({ status: 202, body: '{"status":"success"}' }, { status: 429 }, { status: 400, body: '{"status":"invalid event"}' });
    const alert = allFixtures()[8]!;
    await pd.send([alert], { signal });
    expect(server.requests[0]!.path).toBe('/v2/enqueue');
    expect(JSON.parse(server.requests[0]!.body)).toMatchObject({ routing_key: ROUTING_KEY, event_action: 'trigger' });

    const limited = await pd.send([alert], { signal }).catch((e: unknown) => e);
    expect(isDeliveryError(limited) && limited.retryable && limited.retryAfterMs === undefined).toBe(true);
    const invalid = await pd.send([alert], { signal }).catch((e: unknown) => e);
    expect(isDeliveryError(invalid) && !invalid.retryable).toBe(true);
    for (const err of [limited, invalid]) expect(String((err as Error).message)).not.toContain(ROUTING_KEY);
  });
});
