import { describe, expect, it } from 'vitest';
import { BadAlertError, alertId, decodeAlerts } from '../../src/collector/decode.js';

const ok = { rule: 'R', priority: 'Warning', time: '2025-06-12T08:00:00.000000001Z', output_fields: { 'proc.name': 'bash' } };
const json = (v: unknown) => JSON.stringify(v);
const NOW = Date.parse('2025-06-12T09:00:00Z');

function rejects(body: string, contentType: string | undefined = 'application/json') {
  try {
    decodeAlerts(body, contentType, NOW);
  } catch (err) {
    expect(err).toBeInstanceOf(BadAlertError);
    const e = err as BadAlertError;
    return { code: e.code, detail: e.detail };
  }
  throw new Error(`accepted: ${body}`);
}

describe('decodeAlerts', () => {
  it('one JSON object: stored as sent, id = content hash (a duplicate POST gets the same id)', () => {
    const text = `{"rule":"R","priority":"Notice","time":"2025-06-12T08:00:00Z","output_fields":{"evt.time":1749715200123456789}}`;
    const [[id, stored]] = decodeAlerts(`  ${text}\n`, 'application/json', NOW) as [[string, string]];
    expect(stored).toBe(text);
    expect(id).toBe(alertId(text));
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(decodeAlerts(text, undefined, NOW)[0]![0]).toBe(id);
  });

  it('a JSON array: each item validated, big integers kept exact', () => {
    const big = `[{"rule":"A","priority":"info","time":"2025-06-12T08:00:00Z","output_fields":{"evt.time":1749715200123456789}},${json(ok)}]`;
    const out = decodeAlerts(big, 'application/json', NOW);
    expect(out).toHaveLength(2);
    expect(out[0]![1]).toContain('"evt.time":1749715200123456789');
    expect(out[0]![0]).not.toBe(out[1]![0]);
  });

  it('NDJSON (by content type), blank lines skipped', () => {
    const body = `${json(ok)}\n\n${json({ ...ok, rule: 'B' })}\n`;
    expect(decodeAlerts(body, 'application/x-ndjson', NOW).map(([, t]) => JSON.parse(t).rule)).toEqual(['R', 'B']);
    expect(decodeAlerts(body, 'application/jsonl', NOW)).toHaveLength(2);
  });

  it('text/plain Falco output line (json_output: false)', () => {
    const line = '08:00:00.123456789: Critical Shell spawned (user=root)';
    const [[id, stored]] = decodeAlerts(line, 'text/plain', NOW) as [[string, string]];
    expect(id).toBe(alertId(line));
    expect(JSON.parse(stored)).toEqual({
      output: line,
      priority: 'Critical',
      rule: 'unknown',
      source: 'syscall',
      time: new Date(NOW).toISOString(),
      output_fields: {},
      tags: [],
    });
    const internal = JSON.parse(decodeAlerts('08:00:00: Debug Falco internal: syscall event drop', 'text/plain', NOW)[0]![1]);
    expect(internal).toMatchObject({ rule: 'Falco internal', source: 'internal', priority: 'Debug' });
    expect(rejects('hello there', 'text/plain').code).toBe('invalid_text_alert');
    expect(rejects('08:00:00: Loud thing', 'text/plain').code).toBe('invalid_text_alert');
  });

  it('empty or blank body', () => {
    expect(rejects('').code).toBe('empty_body');
    expect(rejects(' \n\t ').code).toBe('empty_body');
  });

  it('malformed JSON and non-object JSON', () => {
    expect(rejects('{"rule":').code).toBe('invalid_json');
    expect(rejects('[{"rule":"R"').code).toBe('invalid_json');
    expect(rejects('"just a string"')).toMatchObject({ code: 'invalid_json', detail: expect.stringMatching(/not a JSON object/) });
    expect(rejects('42').code).toBe('invalid_json');
    expect(rejects('[]')).toMatchObject({ code: 'invalid_alert', detail: expect.stringMatching(/empty/) });
    expect(rejects('[1]')).toMatchObject({ code: 'invalid_alert', detail: expect.stringMatching(/^\[0\]: expected a JSON object/) });
  });

  it('names the missing or wrong field', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ ...ok, rule: undefined }, /^rule: required/],
      [{ ...ok, rule: '' }, /^rule: required/],
      [{ ...ok, priority: undefined }, /^priority: required/],
      [{ ...ok, priority: 4 }, /^priority: required, a string/],
      [{ ...ok, priority: 'Severe' }, /^priority: "Severe" is not a Falco priority \(one of emergency, .*info\)/],
      [{ ...ok, time: undefined }, /^time: required/],
      [{ ...ok, time: 'yesterday' }, /^time: required, an RFC 3339/],
      [{ ...ok, output_fields: [1, 2] }, /^output_fields: must be an object/],
      [{ ...ok, output_fields: 'x' }, /^output_fields: must be an object/],
      [{ ...ok, tags: 'shell' }, /^tags: must be an array of strings/],
      [{ ...ok, tags: ['a', 1] }, /^tags: must be an array of strings/],
      [{ ...ok, source: 7 }, /^source: must be a string/],
      [{ ...ok, hostname: {} }, /^hostname: must be a string/],
      [{ ...ok, output: [] }, /^output: must be a string/],
    ];
    for (const [alert, detail] of cases) {
      const r = rejects(json(alert));
      expect(r.code, json(alert)).toBe('invalid_alert');
      expect(r.detail, json(alert)).toMatch(detail);
    }
  });

  it('accepts null / absent optional fields', () => {
    expect(decodeAlerts(json({ ...ok, tags: null, output_fields: null, source: null, hostname: null }), 'application/json', NOW)).toHaveLength(1);
    expect(decodeAlerts(json({ rule: 'R', priority: 'debug', time: '2025-06-12T08:00:00Z' }), 'application/json', NOW)).toHaveLength(1);
  });

  it('a batch is refused whole, naming the item or line', () => {
    expect(rejects(`[${json(ok)},${json({ ...ok, priority: 'nope' })}]`).detail).toMatch(/^\[1\]\.priority: /);
    expect(rejects(`${json(ok)}\n${json({ ...ok, tags: 'x' })}`, 'application/x-ndjson').detail).toMatch(/^line 2: tags: /);
    expect(rejects(`${json(ok)}\n{oops`, 'application/x-ndjson')).toMatchObject({ code: 'invalid_json', detail: expect.stringMatching(/^line 2: /) });
  });
});
