import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alert/alert.js';
import { parseJson } from '../../src/alert/json.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { digestFixture } from '../../test/helpers/digest-fixture.js';
import { expectGolden, goldenAlerts } from '../../test/helpers/golden.js';
import { OctetCountingDecoder, parseSyslogMessage, type SyslogMessage } from '../../test/helpers/syslog-listener.js';
import { escapeParamValue, formatRecord, hostnameField, msgIdField, octetCounted, timestamp, type RecordOptions } from './payload.js';

const golden = (name: string) => fileURLToPath(new URL(`./golden/${name}`, import.meta.url));
const alerts = goldenAlerts();
const DEFAULTS: RecordOptions = { facility: 'local0', appName: 'falco', sdId: 'falco@32473', format: 'output', bom: true };
const BOM = '\uFEFF';

const record = (alert: Alert, opts: Partial<RecordOptions> = {}, max?: number) => formatRecord(alert, { ...DEFAULTS, ...opts }, max);
const parsed = (alert: Alert, opts: Partial<RecordOptions> = {}, max?: number): SyslogMessage => parseSyslogMessage(record(alert, opts, max));
const params = (m: SyslogMessage) => Object.fromEntries(m.sd[0]!.params);

/** An alert whose text carries what must be escaped. */
const nasty: Alert = {
  ...alerts.syscall,
  rule: 'Weird "rule" with \\ and ] inside',
  hostname: 'node 7\tbad',
  output: 'line one\nline two\r\n\ttabbed \u0000 nul \u007f del \u0085 nel',
};

describe('syslog RFC 5424 records', () => {
  it('syscall: PRI, UTC TIMESTAMP cut to microseconds, hostname, MSGID = source, SD with namespace and pod, BOM + output', () => {
    const a = alerts.syscall;
    expect(record(a).toString()).toBe(
      `<133>1 2025-06-12T08:14:03.412907Z ip-10-0-12-34.ec2.internal falco - syscall ` +
        `[falco@32473 rule="Terminal shell in container" priority="Notice" source="syscall" namespace="team1" pod="storefront-web-7c9d8f6b9-kx2lm" alert_id="${a.id}"] ` +
        `${BOM}${a.output}`,
    );
  });

  it('k8s_audit: namespace from ka.target.namespace, no pod (no container fields)', () => {
    const m = parsed(alerts.k8s_audit);
    expect(m.msgId).toBe('k8s_audit');
    expect(m.severity).toBe(5);
    expect(m.timestamp).toBe('2025-06-12T08:14:02.981233Z');
    expect(params(m)).toEqual({ rule: 'Attach/Exec Pod', priority: 'Notice', source: 'k8s_audit', namespace: 'team1', alert_id: alerts.k8s_audit.id });
  });

  it('plugin and unicode alerts: plugin source as MSGID, UTF-8 MSG after the BOM', () => {
    const plugin = parsed(alerts.plugin);
    expect(plugin).toMatchObject({ pri: 16 * 8 + 2, msgId: 'aws_cloudtrail', hostname: 'falco-cloudtrail-5f7d9c8b6-p2x8r', timestamp: '2025-06-12T06:02:41.000000Z', bom: true });
    expect(params(plugin).namespace).toBeUndefined();
    const unicode = parsed(alerts.unicode);
    expect(unicode.msg).toBe(alerts.unicode.output);
    expect(unicode.msg).toContain('Zoë Ångström');
  });

  it('severity is the Falco priority, Emergency 0 … Debug 7; facility by name', () => {
    const order = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'] as const;
    order.forEach((priority, severity) => expect(parsed({ ...alerts.syscall, priority }).pri).toBe(16 * 8 + severity));
    expect(parsed({ ...alerts.syscall, priority: 'Critical' }, { facility: 'auth' }).pri).toBe(4 * 8 + 2);
    expect(parsed(alerts.internal, { facility: 'local7' }).pri).toBe(23 * 8 + 7);
    expect(parsed(alerts.syscall, { facility: 'kern' }).pri).toBe(5);
  });

  it('escapes " \\ ] in PARAM-VALUE and control characters everywhere; the strict parser reads the values back', () => {
    const raw = record(nasty);
    // No raw control character can split the record.
    expect(/[\u0000-\u001f\u007f]/.test(raw.toString('latin1'))).toBe(false);
    expect(raw.toString()).toContain('rule="Weird \\"rule\\" with \\\\ and \\] inside"');
    const m = parseSyslogMessage(raw);
    expect(params(m).rule).toBe(nasty.rule);
    expect(m.hostname).toBe('node_7_bad');
    expect(m.msg).toBe('line one#012line two#015#012#011tabbed #000 nul #177 del #205 nel');
    expect(escapeParamValue('a"b\\c]d\ne')).toBe('a\\"b\\\\c\\]d#012e');
  });

  it('TIMESTAMP: UTC, six digits, truncated (never rounded into the next second), NILVALUE when invalid', () => {
    expect(timestamp('2025-12-31T23:59:59.999999999Z')).toBe('2025-12-31T23:59:59.999999Z');
    expect(timestamp('2025-06-12T08:14:03.412907117Z')).toBe('2025-06-12T08:14:03.412907Z');
    expect(timestamp('2026-01-01T01:30:00.5+02:00')).toBe('2025-12-31T23:30:00.500000Z');
    expect(timestamp('2025-06-12T20:00:00-05:30')).toBe('2025-06-13T01:30:00.000000Z');
    expect(timestamp('2025-06-12t08:14:03z')).toBe('2025-06-12T08:14:03.000000Z');
    for (const bad of ['', 'yesterday', '2025-02-30T00:00:00Z', '2025-06-12T24:00:00Z', '2025-06-12 08:14:03Z', '1749716043']) expect(timestamp(bad)).toBe('-');
    expect(parsed({ ...alerts.syscall, time: 'not a time' }).timestamp).toBe('-');
  });

  it('HOSTNAME and MSGID: PRINTUSASCII, length limits, punycode for IDN, NILVALUE when absent', () => {
    expect(hostnameField(undefined)).toBe('-');
    expect(hostnameField('')).toBe('-');
    expect(hostnameField('bücher.example')).toBe('xn--bcher-kva.example');
    expect(hostnameField('a'.repeat(300))).toHaveLength(255);
    expect(msgIdField('x'.repeat(40))).toHaveLength(32);
    expect(msgIdField('my plugin')).toBe('my_plugin');
    expect(parsed({ ...alerts.syscall, hostname: undefined }).hostname).toBe('-');
  });

  it('format json: MSG is the alert JSON with big integers exact; bom false: plain MSG', () => {
    const m = parsed(alerts.syscall, { format: 'json', bom: false });
    expect(m.bom).toBe(false);
    expect(m.msg).toContain('"evt.time":1749716043412907117');
    expect((parseJson(m.msg!) as { rule: string }).rule).toBe('Terminal shell in container');
    expect(parsed(alerts.syscall, { bom: false }).msg).toBe(alerts.syscall.output);
  });

  it('a digest: the summary as MSG and the digest facts as SD params', () => {
    const m = parsed(digestFixture());
    expect(m.msg).toMatch(/×523/);
    expect(params(m)).toMatchObject({ digest_count: '523', digest_cause: 'storm', digest_first: '2025-06-12T10:01:02.123456789Z', alert_id: 'digest-42-0123456789abcdef' });
  });

  it('cuts a long record to the size limit at a character boundary, keeping HEADER and SD', () => {
    const long: Alert = { ...alerts.unicode, output: 'Ångström '.repeat(400) };
    const raw = record(long, {}, 2048);
    expect(raw.length).toBeLessThanOrEqual(2048);
    expect(raw.length).toBeGreaterThan(2040);
    const m = parseSyslogMessage(raw);
    expect(params(m).rule).toBe(long.rule);
    expect(long.output!.startsWith(m.msg!)).toBe(true);
    // An escape is never cut in half.
    const ctl = parseSyslogMessage(record({ ...alerts.syscall, output: '\n'.repeat(3000) }, {}, 2048));
    expect(ctl.msg).toMatch(/^(#012)+$/);
  });

  it('at the 480-byte minimum with a huge rule and hostname: SD values share what is left, still RFC 5424', () => {
    const huge: Alert = { ...nasty, rule: '"]\\'.repeat(300), hostname: 'h'.repeat(255) };
    const raw = record(huge, {}, 480);
    expect(raw.length).toBeLessThanOrEqual(480);
    const m = parseSyslogMessage(raw);
    expect(m.hostname).toHaveLength(255);
    expect(huge.rule.startsWith(params(m).rule!)).toBe(true);
    expect(m.msg).toBeUndefined();
  });

  it('octet counting: MSG-LEN counts bytes, not characters', () => {
    const raw = record(alerts.unicode);
    const framed = octetCounted(raw);
    expect(framed.toString('latin1').startsWith(`${raw.length} <`)).toBe(true);
    expect(raw.length).toBeGreaterThan(raw.toString().length);
    // Split anywhere, a decoder gets the record back.
    const decoder = new OctetCountingDecoder();
    const out = [...decoder.push(framed.subarray(0, 7)), ...decoder.push(framed.subarray(7))];
    expect(out).toEqual([raw]);
  });

  it('golden records for every fixture shape, each parsed by the strict RFC 5424 parser', () => {
    const shapes: Record<string, Alert> = { ...alerts, digest: digestFixture(), control_chars: nasty };
    for (const [name, alert] of Object.entries(shapes)) {
      const raw = record(alert);
      expect(() => parseSyslogMessage(raw), name).not.toThrow();
      expectGolden(golden(`${name}.5424`), raw.toString());
    }
    const stream = Buffer.concat(Object.values(shapes).map((a) => octetCounted(record(a, { format: 'json', facility: 'authpriv', appName: 'falconet', sdId: 'falconet@99999.1' }))));
    expectGolden(golden('stream-json.tcp'), stream.toString());
    expect(new OctetCountingDecoder().push(stream).map((r) => parseSyslogMessage(r).appName)).toEqual(Object.keys(shapes).map(() => 'falconet'));
  });
});

describe('syslog config', () => {
  const load = (extra: Record<string, unknown>) => () => parseOutputInstance('sys', { type: 'syslog', url: 'tcp://127.0.0.1:514', ...extra });

  it('takes the documented defaults', () => {
    const { config } = parseOutputInstance('sys', { type: 'syslog', url: 'udp://10.0.0.1' });
    expect(config).toMatchObject({ facility: 'local0', appName: 'falco', sdId: 'falco@32473', format: 'output', bom: true, connectTimeout: 10_000 });
    expect((config as { maxMessageSize?: number }).maxMessageSize).toBeUndefined();
  });

  it('refuses an SD-ID that is not name@number, a bad APP-NAME, facility or size, with the key path', () => {
    for (const sdId of ['falco', 'fal co@1', 'falco@abc', 'fa"lco@1', 'fa]co@1', `${'x'.repeat(30)}@123`, 'a=b@1']) expect(load({ sdId }), sdId).toThrow(/outputs\.sys\.sdId:/);
    for (const appName of ['', 'has space', 'x'.repeat(49), 'é']) expect(load({ appName }), appName).toThrow(/outputs\.sys\.appName:/);
    expect(load({ facility: 'local8' })).toThrow(/outputs\.sys\.facility:/);
    expect(load({ maxMessageSize: 100 })).toThrow(/outputs\.sys\.maxMessageSize:/);
    expect(load({ maxMessageSize: '8KiB' })().config).toMatchObject({ maxMessageSize: 8192 });
  });

  it('refuses other schemes, paths, credentials, and tls on a non-TLS URL', () => {
    expect(load({ url: 'http://127.0.0.1:514' })).toThrow(/outputs\.sys\.url:/);
    expect(load({ url: 'tcp://127.0.0.1:514/x' })).toThrow(/outputs\.sys\.url: only scheme, host and port/);
    expect(load({ url: 'tcp://u:p@127.0.0.1:514' })).toThrow(/outputs\.sys\.url: syslog has no credentials/);
    expect(load({ tls: { insecureSkipVerify: true } })).toThrow(/outputs\.sys\.tls: applies to tls:\/\/ URLs only/);
    expect(load({ url: 'tls://127.0.0.1', tls: { ca: '/nonexistent/ca.pem' } })).toThrow(/outputs\.sys\.tls\.ca: cannot read/);
  });
});

describe('the strict RFC 5424 test parser refuses what is off-spec', () => {
  const ok = '<133>1 2025-06-12T08:14:03.412907Z host falco - syscall [falco@32473 rule="r"] msg';
  const bad = (text: string) => () => parseSyslogMessage(Buffer.from(text));

  it('accepts a valid record', () => {
    expect(parseSyslogMessage(Buffer.from(ok))).toMatchObject({ pri: 133, msg: 'msg', sd: [{ id: 'falco@32473', params: [['rule', 'r']] }] });
    expect(parseSyslogMessage(Buffer.from('<0>1 - - - - - -'))).toMatchObject({ pri: 0, sd: [], msg: undefined });
  });

  it.each([
    ['PRI over 191', ok.replace('<133>', '<192>')],
    ['PRI with a leading zero', ok.replace('<133>', '<05>')],
    ['VERSION 2', ok.replace('>1 ', '>2 ')],
    ['7 fraction digits', ok.replace('.412907Z', '.4129071Z')],
    ['lower-case t', ok.replace('T08', 't08')],
    ['not a date', ok.replace('06-12', '02-30')],
    ['unescaped ] in a value', ok.replace('rule="r"', 'rule="a]b"')],
    ['unknown escape', ok.replace('rule="r"', 'rule="a\\nb"')],
    ['unclosed value', ok.replace('rule="r"]', 'rule="r]')],
    ['SD-ID without enterprise number', ok.replace('falco@32473', 'falco')],
    ['duplicate SD-ID', ok.replace('[falco@32473 rule="r"]', '[falco@32473 rule="r"][falco@32473 x="y"]')],
    ['space in HOSTNAME position', ok.replace('host falco', 'ho st falco')],
    ['raw newline in MSG', `${ok}\nsecond line`],
    ['APP-NAME over 48', ok.replace(' falco ', ` ${'a'.repeat(49)} `)],
  ])('%s', (_why, text) => expect(bad(text)).toThrow());

  it('refuses an unframed record on a stream', () => {
    expect(() => new OctetCountingDecoder().push(Buffer.from(`${ok}\n`))).toThrow(/unframed/);
    expect(() => new OctetCountingDecoder().push(Buffer.from(`0 ${ok}`))).toThrow(/unframed/);
  });
});
