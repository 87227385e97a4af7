import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alert/alert.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { isDeliveryError } from '../kit/errors.js';
import { normalise } from '../../src/router/stages/normalise.js';
import { CaptureServer } from '../../test/helpers/capture-server.js';
import { fixtureAlertLines } from '../../test/helpers/fixtures.js';
import { alertmanagerOutput } from './index.js';
import { digestFixture } from '../../test/helpers/digest-fixture.js';
import { apiUrl } from '../kit/url.js';
import { ALERTMANAGER_API_PATH, buildAlertmanagerAlert, buildAlertmanagerBody, sanitiseLabelName, type PostableAlert } from './payload.js';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/', import.meta.url));
const DEFAULTS = { expiresAfter: 600_000, extraLabels: {}, severityMap: {}, labelFields: [] };

/** Fixture lines by index: plugin (int64, unicode, null), k8s_audit, syscall, internal, emergency. */
const CASES = { cloudtrail_int64: 0, okta_unicode: 3, gcp_null: 4, k8s_audit: 7, syscall_pod: 8, syscall_null_k8s: 13, internal_drop: 24, emergency: 43 };

function fixtures(): Alert[] {
  const lines = fixtureAlertLines();
  return normalise(Object.values(CASES).map((i) => [`fixture-${i}`, lines[i]!] as const));
}

/** Compares with the stored golden; UPDATE_GOLDEN=1 rewrites it (review the diff by eye). */
function expectGolden(name: string, actual: unknown): void {
  const path = `${GOLDEN_DIR}${name}.json`;
  const text = `${JSON.stringify(actual, null, 2)}\n`;
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(GOLDEN_DIR, { recursive: true });
    writeFileSync(path, text);
  }
  expect(text).toBe(readFileSync(path, 'utf8'));
}

describe('alertmanager payload', () => {
  it('matches the golden batch for syscall, k8s_audit, plugin and internal alerts', () => {
    expectGolden('batch', JSON.parse(buildAlertmanagerBody(fixtures(), DEFAULTS)));
  });

  it('refreshes the storm\'s alert with a digest: same labels (fingerprint), digest annotations, first to last event', () => {
    const digest = buildAlertmanagerAlert(digestFixture(), DEFAULTS);
    expectGolden('digest', digest);
    const sample = normalise([['fixture-23', fixtureAlertLines()[23]!]])[0]!;
    expect(digest.labels).toEqual(buildAlertmanagerAlert(sample, DEFAULTS).labels);
    expect(digest.annotations.summary).toBe('Drop and execute new binary in container ×523 on 12 pods in team2, 10:01:02–10:05:40 UTC');
    expect(digest.annotations.falconet_suppressed).toBe('523');
    expect(digest.startsAt).toBe('2025-06-12T10:01:02.123Z');
  });

  it('keeps the label set bounded, classic-named and free of empty values', () => {
    const allowed = new Set(['alertname', 'priority', 'severity', 'source', 'eventsource', 'hostname', 'k8s_ns_name', 'k8s_pod_name']);
    const lines = fixtureAlertLines();
    const all = normalise(lines.map((l, i) => [`f${i}`, l] as const));
    for (const alert of all) {
      const { labels } = buildAlertmanagerAlert(alert, DEFAULTS);
      for (const [name, value] of Object.entries(labels)) {
        expect(allowed.has(name), name).toBe(true);
        expect(value).not.toBe('');
      }
      expect(labels.alertname).toBe(alert.rule);
    }
    // Syscall fixture 13 has k8s.ns.name: null: the label is left out, not "null" or "".
    const nullK8s = buildAlertmanagerAlert(all[13]!, DEFAULTS).labels;
    expect(nullK8s).not.toHaveProperty('k8s_ns_name');
    // k8s_audit alerts carry the namespace as ka.target.namespace.
    const audit = all.find((a) => a.source === 'k8s_audit' && a.output_fields['ka.target.namespace']);
    expect(buildAlertmanagerAlert(audit!, DEFAULTS).labels.k8s_ns_name).toBe(audit!.output_fields['ka.target.namespace']);
  });

  it('sanitises label names from labelFields and extraLabels, and fixed labels win', () => {
    const [alert] = normalise([['x', JSON.stringify({ rule: 'R', priority: 'Error', time: '2026-01-02T03:04:05.678901234Z', output_fields: { cluster: 'prod-eu', 'container.image.repository': 'nginx', '9lives': 'y', empty: '' } })]]);
    const { labels } = buildAlertmanagerAlert(alert!, {
      ...DEFAULTS,
      labelFields: ['cluster', 'container.image.repository', '9lives', 'empty', 'absent'],
      extraLabels: { team: 'sec', 'bad-name': 'v', alertname: 'spoofed' },
    });
    expect(labels).toEqual({
      team: 'sec',
      bad_name: 'v',
      cluster: 'prod-eu',
      container_image_repository: 'nginx',
      _9lives: 'y',
      source: 'falco',
      eventsource: 'syscall',
      priority: 'Error',
      severity: 'error',
      alertname: 'R',
    });
    expect(sanitiseLabelName('__meta..x')).toBe('_meta_x');
    expect(sanitiseLabelName('…')).toBe('');
  });

  it('maps severity by priority, overridable, and sets endsAt = event time + expiresAfter', () => {
    const inst = parseOutputInstance('am', { type: 'alertmanager', urls: ['http://am:9093'], expiresAfter: '15m', severityMap: { error: 'critical', NOTICE: 'warning' } });
    const all = normalise(fixtureAlertLines().map((l, i) => [`f${i}`, l] as const));
    const opts = { ...DEFAULTS, expiresAfter: inst.config.expiresAfter as number, severityMap: inst.config.severityMap as Record<string, string> };
    const severityOf = (priority: string) => buildAlertmanagerAlert(all.find((a) => a.priority === priority)!, opts).labels.severity;
    expect([severityOf('Critical'), severityOf('Error'), severityOf('Warning'), severityOf('Notice'), severityOf('Informational')]).toEqual(['critical', 'critical', 'warning', 'warning', 'info']);
    const one: PostableAlert = buildAlertmanagerAlert(all[13]!, opts);
    expect(one.startsAt).toBe('2025-06-12T09:11:42.090Z');
    expect(one.endsAt).toBe('2025-06-12T09:26:42.090Z');
    expect(() => parseOutputInstance('am', { type: 'alertmanager', urls: ['http://am'], severityMap: { urgent: 'x' } })).toThrow(/not a Falco priority/);
    expect(() => parseOutputInstance('am', { type: 'alertmanager', urls: [] })).toThrow();
  });

  it('appends /api/v2/alerts only to a URL without a path', () => {
    const endpoint = (url: string) => apiUrl(url, ALERTMANAGER_API_PATH);
    expect(endpoint('http://am:9093')).toBe('http://am:9093/api/v2/alerts');
    expect(endpoint('http://am:9093/')).toBe('http://am:9093/api/v2/alerts');
    expect(endpoint('https://proxy/am')).toBe('https://proxy/am/api/v2/alerts');
    expect(endpoint('https://proxy/am/api/v2/alerts')).toBe('https://proxy/am/api/v2/alerts');
  });
});

describe('alertmanager send', () => {
  const servers: CaptureServer[] = [];
  const outputs: Array<{ close?(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(outputs.splice(0).map((o) => o.close?.()));
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  async function setup(replicas: number, extra: Record<string, unknown> = {}) {
    for (let i = 0; i < replicas; i++) servers.push(await new CaptureServer().start());
    const logs: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) }));
    const inst = parseOutputInstance('am', { type: 'alertmanager', urls: servers.map((s) => s.url), ...extra }, alertmanagerOutput);
    const output = alertmanagerOutput.create(inst.config, { name: 'am', logger });
    outputs.push(output);
    return { output, logs, signal: AbortSignal.timeout(5000) };
  }

  it('posts one batch to every replica at /api/v2/alerts with the configured headers', async () => {
    const { output, signal } = await setup(2, { headers: { Authorization: 'Bearer t0k' } });
    const alerts = fixtures();
    await output.send(alerts, { signal });
    for (const server of servers) {
      expect(server.requests).toHaveLength(1);
      expect(server.requests[0]!.path).toBe('/api/v2/alerts');
      expect(server.requests[0]!.headers.authorization).toBe('Bearer t0k');
      expect((JSON.parse(server.requests[0]!.body) as unknown[]).length).toBe(alerts.length);
    }
  });

  it("Alertmanager's own 400 (a JSON string of validation errors) is a partial success: only the refused alerts are rejected", async () => {
    const { output, logs, signal } = await setup(1);
    const alerts = fixtures();
    const bad = alerts[2]!.id;
    const amAnswer = { status: 400, headers: { 'content-type': 'application/json' }, body: '"start time must be before end time"\n' };
    // The batch, then each alert alone: only the bad one is refused again.
    servers[0]!.respondWith(amAnswer);
    servers[0]!.fallback = (req) => ((JSON.parse(req.body) as PostableAlert[])[0]!.annotations.falconet_id === bad ? amAnswer : { status: 200 });
    const result = await output.send(alerts, { signal });
    expect(result).toEqual({ rejected: [{ alert: alerts[2], reason: `Alertmanager ${servers[0]!.url}/… refused the alert: start time must be before end time` }] });
    expect(servers[0]!.requests).toHaveLength(1 + alerts.length);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toContain('start time must be before end time');
  });

  it("a single alert refused by Alertmanager's validation is rejected without a second post", async () => {
    const { output, signal } = await setup(1);
    const [alert] = fixtures();
    servers[0]!.respondWith({ status: 400, body: '"at least one label pair required"' });
    expect(await output.send([alert!], { signal })).toEqual({ rejected: [{ alert, reason: expect.stringContaining('at least one label pair required') }] });
    expect(servers[0]!.requests).toHaveLength(1);
  });

  it("any other 400 (a proxy's page, Alertmanager's unparseable-body error) fails the batch for good with the body in the reason", async () => {
    const { output, signal } = await setup(1);
    servers[0]!.respondWith({ status: 400, headers: { 'content-type': 'text/html' }, body: '<html><head><title>400 Bad Request</title></head><body>nginx: request header too large</body></html>' });
    const proxy = await output.send(fixtures(), { signal }).catch((e: unknown) => e);
    expect(isDeliveryError(proxy) && !proxy.retryable && proxy.status === 400).toBe(true);
    expect((proxy as Error).message).toContain('nginx: request header too large');
    servers[0]!.respondWith({ status: 400, body: '{"code":400,"message":"parsing alerts body from \\"\\" failed"}' });
    const unparsed = await output.send(fixtures(), { signal }).catch((e: unknown) => e);
    expect(isDeliveryError(unparsed) && !unparsed.retryable).toBe(true);
    expect((unparsed as Error).message).toContain('parsing alerts body');
    expect(servers[0]!.requests).toHaveLength(2);
  });

  it('retries the job when one replica fails retryably, dead-letters when all fail for good', async () => {
    const { output, signal } = await setup(2);
    servers[1]!.respondWith({ status: 503 });
    const err = await output.send(fixtures(), { signal }).catch((e: unknown) => e);
    expect(isDeliveryError(err) && err.retryable).toBe(true);
    expect(servers[0]!.requests).toHaveLength(1);

    servers[0]!.respondWith({ status: 404 });
    servers[1]!.respondWith({ status: 401 });
    const permanent = await output.send(fixtures(), { signal }).catch((e: unknown) => e);
    expect(isDeliveryError(permanent) && !permanent.retryable).toBe(true);
  });
});
