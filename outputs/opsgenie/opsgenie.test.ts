import { fileURLToPath } from 'node:url';
import { parse as losslessParse, stringify as losslessStringify } from 'lossless-json';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alert/alert.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { normalise } from '../../src/router/stages/normalise.js';
import { CaptureServer } from '../../test/helpers/capture-server.js';
import { fixtureAlertLines } from '../../test/helpers/fixtures.js';
import { digestFixture } from '../../test/helpers/digest-fixture.js';
import { expectGolden, goldenAlerts } from '../../test/helpers/golden.js';
import { isDeliveryError } from '../kit/errors.js';
import type { Output } from '../kit/types.js';
import { opsgenieOutput } from './index.js';
import { DEFAULT_ALIAS_FIELDS, OPSGENIE_LIMITS, buildOpsgenieAlert, buildOpsgenieBody, opsgenieEndpoint, type OpsgenieOptions } from './payload.js';

const golden = (name: string) => fileURLToPath(new URL(`./golden/${name}.json`, import.meta.url));
const alerts = goldenAlerts();
const OPTS: OpsgenieOptions = { priorityMap: {}, dedupFields: DEFAULT_ALIAS_FIELDS, responders: [] };
const API_KEY = 'eb243592-faa2-4ba2-a551-1afdf565c889';
const pretty = (body: string) => `${losslessStringify(losslessParse(body), null, 2)}\n`;

function alertWith(fields: Partial<Alert>): Alert {
  return { ...alerts.syscall, ...fields };
}

describe('opsgenie payload', () => {
  it.each(Object.keys(alerts) as Array<keyof typeof alerts>)('matches the golden alert for %s', (name) => {
    expectGolden(golden(name), pretty(buildOpsgenieBody(alerts[name], OPTS)));
  });

  it('renders a digest: summary as message, counts in the description, the storm\'s alias', () => {
    const digest = digestFixture();
    expectGolden(golden('digest'), pretty(buildOpsgenieBody(digest, OPTS)));
    const body = buildOpsgenieAlert(digest, OPTS);
    expect(body.message).toBe('[Critical] Drop and execute new binary in container ×523 on 12 pods in team2, 10:01:02–10:05:40 UTC');
    expect(body.description).toContain('523 repeats suppressed by storm control');
    expect(body.description).toContain('Pods: nginx-7d9c-a ×200');
    expect(body.details).toMatchObject({ suppressed: '523', first_time: '2025-06-12T10:01:02.123456789Z', cause: 'storm' });
    expect(Object.keys(body.details).some((k) => k.startsWith('falconet'))).toBe(false);
    // Three hosts: no single entity.
    expect(body.entity).toBeUndefined();
    // The storm's first alert (fixture line 23) has the digest's alias: Opsgenie counts the digest on it.
    const [first] = normalise([['fixture-23', fixtureAlertLines()[23]!]]);
    expect(body.alias).toBe(buildOpsgenieAlert(first!, OPTS).alias);
  });

  it('maps priority to P1–P5 (Falcosidekick\'s table), overridable by priorityMap', () => {
    const p = (priority: Alert['priority'], opts = OPTS) => buildOpsgenieAlert(alertWith({ priority }), opts).priority;
    expect((['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'] as const).map((x) => p(x))).toEqual(['P1', 'P1', 'P2', 'P3', 'P4', 'P5', 'P5', 'P5']);
    const inst = parseOutputInstance('og', { type: 'opsgenie', apiKey: 'k', priorityMap: { critical: 'P1', info: 'P4' } }, opsgenieOutput);
    const opts = { ...OPTS, priorityMap: inst.config.priorityMap };
    expect(p('Critical', opts)).toBe('P1');
    expect(p('Informational', opts)).toBe('P4');
    expect(p('Error', opts)).toBe('P3');
    expect(() => parseOutputInstance('og', { type: 'opsgenie', apiKey: 'k', priorityMap: { critical: 'P0' } })).toThrow(/priorityMap/);
    expect(() => parseOutputInstance('og', { type: 'opsgenie', apiKey: 'k', priorityMap: { severe: 'P1' } })).toThrow(/not a Falco priority/);
  });

  it('gives repeats the same alias and other containers another', () => {
    const first = alertWith({ output_fields: { 'container.id': 'abc', 'proc.cmdline': 'bash', 'proc.pid': 1 } });
    const repeat = alertWith({ time: '2026-01-01T00:00:00Z', output_fields: { 'container.id': 'abc', 'proc.cmdline': 'bash', 'proc.pid': 2 } });
    const other = alertWith({ output_fields: { 'container.id': 'def', 'proc.cmdline': 'bash' } });
    const alias = buildOpsgenieAlert(first, OPTS).alias;
    expect(alias).toMatch(/^falco:[0-9a-f]{40}$/);
    expect(buildOpsgenieAlert(repeat, OPTS).alias).toBe(alias);
    expect(buildOpsgenieAlert(other, OPTS).alias).not.toBe(alias);
    expect(buildOpsgenieAlert(first, { ...OPTS, dedupFields: ['rule', 'id'] }).alias).not.toBe(alias);
  });

  it('keeps every field within Opsgenie\'s limits', () => {
    const huge = 'x'.repeat(50_000);
    const alert = alertWith({
      rule: `R ${'😈'.repeat(200)}`,
      hostname: 'h'.repeat(600),
      output: huge,
      tags: Array.from({ length: 30 }, (_, i) => `tag-${i}-${'t'.repeat(60)}`),
      output_fields: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f.${String(i).padStart(2, '0')}`, 'v'.repeat(2_000)])),
    });
    const body = buildOpsgenieAlert(alert, OPTS);
    expect(body.message.length).toBeLessThanOrEqual(OPSGENIE_LIMITS.message);
    expect(Buffer.from(body.message).toString()).toBe(body.message); // no lone surrogate
    expect(body.description.length).toBeLessThanOrEqual(OPSGENIE_LIMITS.description);
    expect(body.entity!.length).toBeLessThanOrEqual(OPSGENIE_LIMITS.entity);
    expect(body.tags).toHaveLength(20);
    for (const t of body.tags) expect(t.length).toBeLessThanOrEqual(OPSGENIE_LIMITS.tag);
    const total = Object.entries(body.details).reduce((n, [k, v]) => n + k.length + v.length, 0);
    expect(total).toBeLessThanOrEqual(OPSGENIE_LIMITS.details);
    expect(body.details['f_00']).toHaveLength(1_000);
    expect(Number(body.details.omitted_fields)).toBeGreaterThan(30);
  });

  it('writes details as strings with dots turned into underscores, numbers exact', () => {
    const details = buildOpsgenieAlert(alerts.syscall, OPTS).details;
    expect(details).toMatchObject({ rule: 'Terminal shell in container', priority: 'Notice', falco_source: 'syscall', evt_time: '1749716043412907117', proc_tty: '34816', k8s_ns_name: 'team1' });
    for (const v of Object.values(details)) expect(typeof v).toBe('string');
  });

  it('resolves the region to its host: eu posts to api.eu.opsgenie.com', () => {
    const endpoint = (cfg: Record<string, unknown>) => opsgenieEndpoint(parseOutputInstance('og', { type: 'opsgenie', apiKey: 'k', ...cfg }, opsgenieOutput).config);
    expect(endpoint({})).toBe('https://api.opsgenie.com/v2/alerts');
    expect(endpoint({ region: 'eu' })).toBe('https://api.eu.opsgenie.com/v2/alerts');
    expect(endpoint({ region: 'eu', url: 'http://proxy:8080/og' })).toBe('http://proxy:8080/og/v2/alerts');
    expect(endpoint({ url: 'http://proxy:8080/og/v2/alerts' })).toBe('http://proxy:8080/og/v2/alerts');
    // Jira Service Management's Opsgenie-compatible integration API.
    expect(endpoint({ url: 'https://api.atlassian.com/jsm/ops/integration' })).toBe('https://api.atlassian.com/jsm/ops/integration/v2/alerts');
    expect(() => endpoint({ region: 'apac' })).toThrow();
  });

  it('sends responders as configured and refuses ambiguous ones', () => {
    const inst = parseOutputInstance('og', { type: 'opsgenie', apiKey: 'k', responders: [{ type: 'team', name: 'secops' }, { type: 'user', username: 'oncall@example.com' }] }, opsgenieOutput);
    const body = buildOpsgenieAlert(alerts.syscall, { ...OPTS, responders: inst.config.responders });
    expect(body.responders).toEqual([{ type: 'team', name: 'secops' }, { type: 'user', username: 'oncall@example.com' }]);
    expect(buildOpsgenieAlert(alerts.syscall, OPTS).responders).toBeUndefined();
    expect(() => parseOutputInstance('og', { type: 'opsgenie', apiKey: 'k', responders: [{ type: 'team', id: 'a', name: 'b' }] })).toThrow(/exactly one of id, name, username/);
    expect(() => parseOutputInstance('og', { type: 'opsgenie', apiKey: 'k', responders: [{ type: 'team', username: 'u' }] })).toThrow(/username is for type user/);
  });
});


describe('opsgenie dedupKey', () => {
  it('refuses a field that is not an alert field: a typo would fold every alert into one', () => {
    expect(() => parseOutputInstance('x', { ...{ type: 'opsgenie', apiKey: 'k' }, dedupKey: ['rule', 'hostnme'] })).toThrow(/outputs\.x\.dedupKey\[1\]: an alert field/);
    expect(() => parseOutputInstance('x', { ...{ type: 'opsgenie', apiKey: 'k' }, dedupKey: ['rule', 'output_fields.container.id'] })).not.toThrow();
  });
});

describe('opsgenie send (a capture server answering like the Alert API)', () => {
  let server: CaptureServer | undefined;
  let output: Output | undefined;
  afterEach(async () => {
    await output?.close?.();
    await server?.stop();
  });

  const json = { 'content-type': 'application/json' };
  const answer = (body: Record<string, unknown>) => JSON.stringify({ ...body, took: 0.005, requestId: '43a29c5c-3dbf-4fa4-9c26-f4f71023e120' });

  it('posts with GenieKey auth; 202 accepted, 429 retried, 422 and 401 permanent; no error carries the key', async () => {
    server = await new CaptureServer().start();
    const inst = parseOutputInstance('og', { type: 'opsgenie', apiKey: API_KEY, region: 'eu', url: server.url }, opsgenieOutput);
    expect(inst.config.rateLimit).toEqual({ max: 60, per: 60_000 });
    output = opsgenieOutput.create(inst.config, { name: 'og', logger: pino({ level: 'silent' }) });
    server.respondWith(
      { status: 202, headers: json, body: answer({ result: 'Request will be processed' }) },
      { status: 429, headers: { ...json, 'x-ratelimit-state': 'THROTTLED', 'x-ratelimit-reason': 'ACCOUNT', 'x-ratelimit-period-in-sec': '60' }, body: answer({ message: 'You are making too many requests! To avoid errors, we recommend you limit requests.' }) },
      { status: 422, headers: json, body: answer({ message: 'Request body is not processable. Please check the errors.', errors: { message: 'Message can not be empty.' } }) },
      { status: 401, headers: json, body: answer({ message: 'Could not authenticate.' }) },
    );
    const signal = AbortSignal.timeout(5000);
    await output.send([alerts.syscall], { signal });
    const req = server.requests[0]!;
    expect(req.path).toBe('/v2/alerts');
    expect(req.headers.authorization).toBe(`GenieKey ${API_KEY}`);
    expect(req.headers['content-type']).toBe('application/json');
    expect(JSON.parse(req.body)).toMatchObject({ message: '[Notice] Terminal shell in container on ip-10-0-12-34.ec2.internal (team1/storefront-web-7c9d8f6b9-kx2lm)', source: 'falco', priority: 'P5', entity: 'ip-10-0-12-34.ec2.internal' });

    const limited = await output.send([alerts.syscall], { signal }).catch((e: unknown) => e);
    expect(isDeliveryError(limited) && limited.retryable && limited.reason === 'rate_limited').toBe(true);
    const invalid = await output.send([alerts.syscall], { signal }).catch((e: unknown) => e);
    expect(isDeliveryError(invalid) && !invalid.retryable && /Message can not be empty/.test(invalid.message)).toBe(true);
    const unauthorised = await output.send([alerts.syscall], { signal }).catch((e: unknown) => e);
    expect(isDeliveryError(unauthorised) && !unauthorised.retryable && unauthorised.reason === 'auth_error').toBe(true);
    for (const err of [limited, invalid, unauthorised]) expect(`${(err as Error).message} ${(err as Error).stack}`).not.toContain(API_KEY);
  });
});
