import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hostileAlert } from '../../test/fuzz/arbitraries.js';
import { OctetCountingDecoder, parseSyslogMessage } from '../../test/helpers/syslog-listener.js';
import { escapeControls, formatRecord, octetCounted, type RecordOptions } from './payload.js';

/**
 * Property: whatever the alert (control characters, lone surrogates, `"]\` in rule names, huge
 * strings, odd times), every record is RFC 5424 for the strict parser, within the size limit,
 * its SD values read back as a prefix of what was sent, and octet-counted frames split back exactly.
 */
const OPTS: RecordOptions = { facility: 'local0', appName: 'falco', sdId: 'falco@32473', format: 'output', bom: true };

describe('fuzz: syslog records under 1,000 hostile alerts', () => {
  const samples = fc.sample(hostileAlert, { numRuns: 1_000, seed: 4242 });

  it.each([undefined, 2048, 480])('max %s bytes: strict RFC 5424, within the limit, SD values kept or cut as prefixes', (max) => {
    const frames: Buffer[] = [];
    for (const [i, alert] of samples.entries()) {
      const format = i % 2 === 0 ? 'output' : 'json';
      const raw = formatRecord(alert, { ...OPTS, format, bom: i % 3 !== 0 }, max);
      if (max !== undefined) expect(raw.length).toBeLessThanOrEqual(max);
      const m = parseSyslogMessage(raw);
      const rule = m.sd[0]?.params.find(([k]) => k === 'rule')?.[1];
      // Control characters are sent as #ooo; a lone surrogate as U+FFFD, as any UTF-8 encoder writes it.
      const sent = escapeControls(Buffer.from(alert.rule).toString());
      if (rule !== undefined) expect(sent.startsWith(rule)).toBe(true);
      if (max === undefined) expect(rule).toBe(sent);
      frames.push(raw);
    }
    const decoded = new OctetCountingDecoder().push(Buffer.concat(frames.map(octetCounted)));
    // Buffer.equals: a deep toEqual over megabytes of buffers takes minutes.
    expect(decoded).toHaveLength(frames.length);
    expect(decoded.every((d, i) => d.equals(frames[i]!))).toBe(true);
  });
});
