import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseOutputInstance } from '../../src/config/load.js';
import { expectGolden, goldenAlerts } from '../../test/helpers/golden.js';
import { buildLokiPush, DEFAULT_LABELS, sanitiseLabelName } from './payload.js';

const golden = (name: string) => fileURLToPath(new URL(`./golden/${name}`, import.meta.url));
const alerts = goldenAlerts();
const all = Object.values(alerts);

type Push = { streams: Array<{ stream: Record<string, string>; values: Array<[string, string, Record<string, string>]> }> };

describe('loki push payload', () => {
  it('one stream per label set, ns timestamps as strings, alert JSON lines, metadata', () => {
    const body = buildLokiPush(all, DEFAULT_LABELS);
    expectGolden(golden('push.json'), body);
    const push = JSON.parse(body) as Push;
    expect(push.streams.reduce((n, s) => n + s.values.length, 0)).toBe(all.length);
    const syscall = push.streams.find((s) => s.stream.rule === 'Terminal shell in container')!;
    expect(syscall.stream).toEqual({ source: 'syscall', priority: 'Notice', rule: 'Terminal shell in container', hostname: 'ip-10-0-12-34.ec2.internal', k8s_ns_name: 'team1' });
    expect(syscall.values[0]![0]).toBe('1749716043412907117');
    expect(syscall.values[0]![1]).toContain('"evt.time":1749716043412907117');
    expect(syscall.values[0]![2]).toMatchObject({ alert_id: alerts.syscall.id, k8s_pod_name: 'storefront-web-7c9d8f6b9-kx2lm', container_id: '3ad7b26ded6d' });
    expect(syscall.values[0]![2].k8s_ns_name).toBeUndefined();
    // Audit alerts take the namespace label from ka.target.namespace.
    expect(push.streams.find((s) => s.stream.source === 'k8s_audit')!.stream.k8s_ns_name).toBe('team1');
    // No namespace on plugin alerts: the label is left out, not empty.
    expect(push.streams.find((s) => s.stream.source === 'okta')!.stream).not.toHaveProperty('k8s_ns_name');
    expect(body).toContain('Zoë Ångström');
  });

  it('groups alerts sharing a label set into one stream', () => {
    const twin = { ...alerts.syscall, id: 'other', time: '2025-06-12T08:14:04.000000001Z' };
    const push = JSON.parse(buildLokiPush([alerts.syscall, twin, alerts.plugin], ['source', 'rule'])) as Push;
    expect(push.streams).toHaveLength(2);
    expect(push.streams[0]!.values.map((v) => v[0])).toEqual(['1749716043412907117', '1749716044000000001']);
  });

  it('metadata is a flat string map: numbers as text, nulls left out', () => {
    const push = JSON.parse(buildLokiPush([alerts.null_field], ['rule'])) as Push;
    const meta = push.streams[0]!.values[0]![2];
    expect(Object.values(meta).every((v) => typeof v === 'string')).toBe(true);
    expect(meta.evt_time).toBe('1749718964125006660');
    expect(meta).not.toHaveProperty('proc_aname_4_');
    expect(meta.k8s_ns_name).toBe('team1');
  });

  it('sanitises label names', () => {
    expect(sanitiseLabelName('k8s.ns.name')).toBe('k8s_ns_name');
    expect(sanitiseLabelName('proc.aname[2]')).toBe('proc_aname_2_');
    expect(sanitiseLabelName('9lives')).toBe('_9lives');
  });
});

describe('loki config', () => {
  it('enforces Loki\'s limit of 15 labels per stream', () => {
    const labels = Array.from({ length: 16 }, (_, i) => `l${i}`);
    expect(() => parseOutputInstance('l', { type: 'loki', url: 'http://loki:3100', labels })).toThrow(/labels/);
    expect(parseOutputInstance('l', { type: 'loki', url: 'http://loki:3100', labels: labels.slice(1) }).batchSize).toBe(500);
  });
});
