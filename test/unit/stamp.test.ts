import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJson, stringifyJson, type JsonObject } from '../../src/alert/json.js';
import { stampText } from '../../src/collector/stamp.js';
import { fixtureAlertLines } from '../helpers/fixtures.js';

const STAMP = { 'falconet.tenant': 'team1', 'falconet.cluster': 'prod "eu" 1' };

/** What the stamped alert must be: the lossless parse with the stamp set in output_fields. */
function expected(text: string): JsonObject {
  const v = parseJson(text) as JsonObject;
  v.output_fields = { ...((v.output_fields as JsonObject | null) ?? {}), ...STAMP };
  return v;
}

describe('stampText: tenant and cluster spliced into the alert text', () => {
  it('gives the same alert as parse + set + serialise, for every fixture alert, big integers exact', () => {
    let spliced = 0;
    for (const line of fixtureAlertLines()) {
      const out = stampText(line, JSON.parse(line), STAMP);
      if (out === undefined) continue;
      expect(parseJson(out)).toEqual(expected(line));
      spliced++;
    }
    // Most real alerts take the splice (the rest have \u escapes).
    expect(spliced).toBeGreaterThan(fixtureAlertLines().length / 2);
  });

  it('empty, null and missing output_fields; whitespace around the key', () => {
    for (const text of ['{"rule":"r","output_fields":{}}', '{"rule":"r","output_fields":null}', '{"rule":"r"}', '{}', '{ "rule" : "r" , "output_fields" :  { "a" : 1 } }']) {
      const out = stampText(text, JSON.parse(text), STAMP)!;
      expect(parseJson(out)).toEqual(expected(text));
    }
  });

  it('declines (the caller re-serialises) when the text is ambiguous', () => {
    const nested = '{"rule":"r","x":{"output_fields":{"a":1}}}';
    expect(stampText(nested, JSON.parse(nested), STAMP)).toBeUndefined();
    const twice = '{"output_fields":{"a":1},"x":{"output_fields":{}}}';
    expect(stampText(twice, JSON.parse(twice), STAMP)).toBeUndefined();
    const escaped = '{"output\\u005ffields":{"a":1},"x":{"output_fields":{}}}';
    expect(stampText(escaped, JSON.parse(escaped), STAMP)).toBeUndefined();
    const forged = '{"output_fields":{"falconet.tenant":"team2"}}';
    expect(stampText(forged, JSON.parse(forged), STAMP)).toBeUndefined();
  });

  it('property: spliced or declined, never a different alert (2,000 seeded random alerts)', () => {
    const key = fc.oneof(fc.constantFrom('output_fields', 'rule', 'x', 'falconet.tenant'), fc.string({ maxLength: 8 }));
    const value = fc.jsonValue({ maxDepth: 3 });
    const alert = fc.dictionary(key, fc.oneof(value, fc.dictionary(key, value, { maxKeys: 4 })), { maxKeys: 6 });
    fc.assert(
      fc.property(alert, fc.constantFrom('', ' ', '\n  '), (a, space) => {
        const text = JSON.stringify(a, null, space || undefined);
        const parsed = JSON.parse(text) as JsonObject;
        const out = stampText(text, parsed, STAMP);
        if (out === undefined) return;
        const fields = parsed.output_fields;
        expect(fields === undefined || fields === null || (typeof fields === 'object' && !Array.isArray(fields))).toBe(true);
        expect(JSON.parse(out)).toEqual(JSON.parse(stringifyJson(expected(text))));
      }),
      { numRuns: 2_000, seed: 7 },
    );
  });
});
