import { describe, expect, it } from 'vitest';
import { parse as losslessParse, isSafeNumber } from 'lossless-json';
import { parseJson, stringifyJson } from '../../src/alert/json.js';
import { fixtureAlertLines } from '../helpers/fixtures.js';

// The reference: a pure lossless parser (what parseJson must agree with, only faster).
const reference = (text: string) =>
  losslessParse(text, null, (t: string) => (isSafeNumber(t) ? Number(t) : /^-?\d+$/.test(t) ? BigInt(t) : Number(t)));

describe('lossless JSON', () => {
  it('parses every fixture exactly like the lossless reference, and writes it back byte for byte', () => {
    for (const line of fixtureAlertLines()) {
      const parsed = parseJson(line);
      expect(parsed).toEqual(reference(line));
      // Byte for byte, except a float written "0.0" (a metrics snapshot field) comes back as "0".
      expect(stringifyJson(parsed)).toBe(line.replace(/(\d)\.0(?=[,}\]])/g, '$1'));
    }
  });

  it.each([
    ['top-level and nested integers beyond 2^53', '{"a":12345678901234567890,"b":{"evt.time":1749716043412907117}}'],
    ['a big integer inside an array (repaired by the fallback)', '{"b":[1,2,12345678901234567890]}'],
    ['the same key at two depths with values that round alike', '{"x":{"t":1749716043412907117},"y":{"t":1749716043412907118}}'],
    ['a key that also appears, escaped, inside a string', '{"c":"x\\"t\\":1749716043412907000","t":1749716043412907117}'],
    ['negative and long floats', '{"h":-9007199254740993,"f":1.5e300,"g":123456789012345678.5}'],
    ['spaces after the colon', '{"t": 1749716043412907117}'],
    ['a bare big integer', '1749716043412907117'],
  ])('%s', (_what, text) => {
    const parsed = parseJson(text);
    expect(parsed).toEqual(reference(text));
    expect(stringifyJson(parsed)).toBe(stringifyJson(reference(text)));
  });

  it('keeps exact digits through stringify, and restores the object it marked', () => {
    const alert = { output_fields: { 'evt.time': 1749716043412907117n, list: [1n, 'a'] }, note: 'falconet-bigint:1' };
    expect(stringifyJson(alert)).toBe('{"output_fields":{"evt.time":1749716043412907117,"list":[1,"a"]},"note":"falconet-bigint:1"}');
    expect(alert.output_fields['evt.time']).toBe(1749716043412907117n);
    expect(alert.output_fields.list[0]).toBe(1n);
  });
});
