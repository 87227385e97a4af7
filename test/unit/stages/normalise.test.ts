import { describe, expect, it } from 'vitest';
import { normalise } from '../../../src/router/stages/normalise.js';
import { stringifyJson } from '../../../src/alert/json.js';

const base = { rule: 'R', priority: 'Warning', time: '2025-06-12T08:00:00.000000001Z' };

describe('normalise stage', () => {
  it('keeps int64 output fields exact as bigint and writes them back byte for byte', () => {
    const text = `{"rule":"R","priority":"Notice","time":"2025-06-12T08:00:00Z","output_fields":{"evt.time":1749715200123456789,"proc.pid":42}}`;
    const [alert] = normalise([['a1', text]]);
    expect(alert!.output_fields['evt.time']).toBe(1749715200123456789n);
    expect(typeof alert!.output_fields['evt.time']).toBe('bigint');
    expect(alert!.output_fields['proc.pid']).toBe(42);
    expect(stringifyJson(alert)).toContain('"evt.time":1749715200123456789');
  });

  it('canonicalises priority names case-insensitively, info → Informational', () => {
    const cases: Array<[string, string]> = [
      ['warning', 'Warning'],
      ['CRITICAL', 'Critical'],
      ['info', 'Informational'],
      ['INFO', 'Informational'],
      ['informational', 'Informational'],
      ['emergency', 'Emergency'],
      ['Debug', 'Debug'],
    ];
    const alerts = normalise(cases.map(([p], i) => [`id${i}`, JSON.stringify({ ...base, priority: p })]));
    expect(alerts.map((a) => a.priority)).toEqual(cases.map(([, want]) => want));
  });

  it('fills defaults: source syscall, empty tags and output_fields; keeps id, optional keys only when strings', () => {
    const [a] = normalise([['the-id', JSON.stringify({ ...base, source: '', tags: null, output_fields: null, hostname: 3 })]]);
    expect(a).toEqual({ id: 'the-id', rule: 'R', priority: 'Warning', time: base.time, source: 'syscall', tags: [], output_fields: {} });
    const [b] = normalise([['x', JSON.stringify(base)]]);
    expect(b!.source).toBe('syscall');
    expect(b!.tags).toEqual([]);
    expect(b!.output_fields).toEqual({});
    expect('hostname' in b!).toBe(false);
  });

  it('keeps Falco fields as sent and drops unknown top-level keys', () => {
    const sent = {
      ...base,
      source: 'k8s_audit',
      hostname: 'node-2',
      output: 'line',
      message: 'msg',
      tags: ['k8s'],
      output_fields: { 'ka.target.namespace': 'team1' },
      extra: 'dropped',
    };
    const [a] = normalise([['i', JSON.stringify(sent)]]);
    expect(a).toEqual({
      id: 'i',
      rule: 'R',
      priority: 'Warning',
      time: base.time,
      source: 'k8s_audit',
      hostname: 'node-2',
      output: 'line',
      message: 'msg',
      tags: ['k8s'],
      output_fields: { 'ka.target.namespace': 'team1' },
    });
  });
});

describe('normaliseEach (per-alert isolation)', () => {
  it('sets aside an alert that throws or nests too deep, keeps the others in order', async () => {
    const { normaliseEach, MAX_NESTING } = await import('../../../src/router/stages/normalise.js');
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const ok = (i: number) => [`ok${i}`, JSON.stringify({ ...base, rule: `R${i}`, output_fields: { list: [[1, 2]], 'evt.time': 1 } })] as const;
    const overflow = ['overflow', `{"rule":"P","priority":"Notice","time":"2025-06-12T08:00:00Z","output_fields":{"evt.time":1749715200123456789,"x":${deep(100_000)}}}`] as const;
    const tooDeep = ['deep', `{"rule":"P","priority":"Notice","time":"2025-06-12T08:00:00Z","output_fields":{"x":${deep(MAX_NESTING)}}}`] as const;
    const justFits = ['fits', `{"rule":"P","priority":"Notice","time":"2025-06-12T08:00:00Z","output_fields":{"x":${deep(MAX_NESTING - 1)}}}`] as const;
    const { alerts, poisoned } = normaliseEach([ok(1), overflow, ok(2), tooDeep, justFits]);
    expect(alerts.map((a) => a.id)).toEqual(['ok1', 'ok2', 'fits']);
    expect(poisoned.map((p) => [p.id, p.error])).toEqual([
      ['overflow', 'Maximum call stack size exceeded'],
      ['deep', `output_fields nest deeper than ${MAX_NESTING} levels`],
    ]);
    expect(poisoned[1]!.text).toBe(tooDeep[1]);
    // The stage that throws on the first bad alert is still there for callers that want it.
    expect(() => normalise([ok(3), overflow])).toThrow(/call stack/);
  });
});
