import fc from 'fast-check';
import type { Alert } from '../../src/alert/alert.js';
import type { JsonObject } from '../../src/alert/json.js';

/** Field names Falco uses, names that have bitten JS code (prototype members), and random ones. */
export const fieldName = fc.oneof(
  fc.constantFrom('k8s.ns.name', 'ka.target.namespace', 'k8s.pod.name', 'container.id', 'proc.cmdline', 'evt.time', 'user.name', 'fd.name', 'falconet.tenant'),
  fc.constantFrom('constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', '', ' ', '.', 'a.b.', '{{rule}}'),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
);

/** Strings that break renderers: control characters, line separators, markup, templates, huge. */
export const hostileString = fc.oneof(
  { weight: 5, arbitrary: fc.string({ maxLength: 60 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'line\nforged {"rule":"x"}\r\n',
      '\u0000\u0007\u001b[31mred\u001b[0m',
      'sep\u2028ara\u2029tors',
      '{{#rule}}{{/rule}}{{{output}}}{{> partial}}{{=<% %>=}}',
      '<script>alert(1)</script>&amp;*bold*_it_`code`<!channel>@here',
      '\ud800 lone surrogate',
      '${jndi:ldap://x}',
      '%s%n%x',
    ),
  },
  { weight: 1, arbitrary: fc.nat({ max: 64 }).map((n) => 'x'.repeat(1024 * n)) },
);

/** A 1 MB string (with some non-ASCII), for the few bodies that carry one. */
export const megabyteString = fc.string({ minLength: 1, maxLength: 8 }).map((s) => `${s}é`.repeat(Math.ceil((1024 * 1024) / (s.length + 2))));

/** Any JSON value an output_fields entry may hold after parsing, big integers included. */
export const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 2, arbitrary: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null)) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 1, arbitrary: fc.array(fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 })), { maxLength: 5 }) },
);

export const PRIORITIES = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'] as const;

/** What the router hands an output: normalise's shape, with anything inside it. */
export const hostileAlert: fc.Arbitrary<Alert> = fc
  .record(
    {
      id: fc.string({ minLength: 1, maxLength: 32 }),
      rule: hostileString,
      priority: fc.constantFrom(...PRIORITIES),
      // The collector accepts RFC 3339 times of years 1-9999 (what Date.parse reads in 4 digits).
      time: fc.oneof(fc.date({ noInvalidDate: true, min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z') }).map((d) => d.toISOString()), fc.constantFrom('2025-06-12T08:00:00.123456789Z', '2025-12-31T23:59:59.9999999999-00:30', '2025', 'Thu, 01 Jan 1970 00:00:00 GMT')),
      source: hostileString,
      hostname: hostileString,
      output: hostileString,
      message: hostileString,
      tags: fc.array(hostileString, { maxLength: 5 }),
      output_fields: fc.dictionary(fieldName, fieldValue, { maxKeys: 15 }).map((f) => f as JsonObject),
    },
    { requiredKeys: ['id', 'rule', 'priority', 'time', 'source', 'tags', 'output_fields'] },
  )
  .map((a) => a as Alert);
