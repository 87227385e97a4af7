import { domainToASCII } from 'node:url';
import { alertNamespace, alertPod, type Alert } from '../../src/alert/alert.js';
import { digestOf } from '../../src/alert/digest.js';
import { stringifyJson } from '../../src/alert/json.js';
import { priorityRank } from '../../src/alert/priority.js';

/**
 * RFC 5424 records for Falco alerts, and their framing (RFC 6587 octet counting, RFC 5426
 * datagrams). Pure: the transports only write the buffers built here.
 *
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID param="value" …] BOM MSG
 */

/** Facility codes (RFC 5424 §6.2.1, table 1) under their syslog.h / rsyslog names. */
export const FACILITIES = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  ntp: 12,
  audit: 13,
  alert: 14,
  clock: 15,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;
export type FacilityName = keyof typeof FACILITIES;

export const NILVALUE = '-';
const BOM = '\uFEFF';
const BOM_BYTES = 3;

/** RFC 5424 §6: field lengths. */
export const LIMITS = { hostname: 255, appName: 48, msgId: 32, sdName: 32 } as const;

/** SD-NAME (§6.3.2): 1–32 PRINTUSASCII except `=`, SP, `]`, `"`. A private SD-ID is `name@<enterprise number>`. */
export const SD_NAME = /^[!#-<>-\\^-~]{1,32}$/;
const PRIVATE_SD_ID = /^[!#-?A-\\^-~]+@\d+(\.\d+)*$/;

/** Whether `id` may be used as our SD-ID: an SD-NAME of the private `name@number` form. */
export function isPrivateSdId(id: string): boolean {
  return SD_NAME.test(id) && PRIVATE_SD_ID.test(id);
}

export interface RecordOptions {
  facility: FacilityName;
  appName: string;
  /** The SD-ID of our structured data element, e.g. `falco@32473`. */
  sdId: string;
  /** `output`: Falco's output text; `json`: the whole alert as JSON. */
  format: 'output' | 'json';
  /** Start MSG with the UTF-8 BOM (RFC 5424 §6.4: MSG-UTF8). */
  bom: boolean;
}

/** PRI = facility × 8 + severity; Falco's priorities are syslog's severities, Emergency 0 … Debug 7. */
export function pri(facility: FacilityName, alert: Alert): number {
  return FACILITIES[facility] * 8 + priorityRank(alert.priority);
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * TIMESTAMP (§6.2.3) from Falco's RFC 3339 time: in UTC, with exactly six fraction digits. Falco
 * sends nanoseconds; the extra digits are cut, never rounded (rounding could carry into the next
 * second, minute or year). NILVALUE when the time is not a valid RFC 3339 date-time.
 */
export function timestamp(time: string): string {
  const m = RFC3339.exec(time);
  if (!m) return NILVALUE;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return NILVALUE;
  const local = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(local);
  // Date.UTC rolls 31 April over into May: refuse what is not a real date.
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month - 1) return NILVALUE;
  const zone = m[8]!;
  const offsetMinutes = zone === 'Z' || zone === 'z' ? 0 : (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  const utc = new Date(local - offsetMinutes * 60_000);
  const utcYear = utc.getUTCFullYear();
  if (utcYear < 0 || utcYear > 9999) return NILVALUE;
  const fraction = (m[7] ?? '').slice(0, 6).padEnd(6, '0');
  return `${utc.toISOString().slice(0, 19)}.${fraction}Z`;
}

/** PRINTUSASCII (%d33-126) only, at most `max` characters; NILVALUE when nothing is left. */
function printUsAscii(value: string, max: number): string {
  const cleaned = value.replace(/[^!-~]/g, '_').slice(0, max);
  return cleaned === '' ? NILVALUE : cleaned;
}

/**
 * HOSTNAME (§6.2.4): the alert's hostname. An internationalised name becomes its punycode form;
 * anything else outside PRINTUSASCII becomes `_`. NILVALUE when the alert has none.
 */
export function hostnameField(hostname: string | undefined): string {
  if (!hostname) return NILVALUE;
  if (/^[!-~]+$/.test(hostname)) return hostname.slice(0, LIMITS.hostname);
  const ascii = domainToASCII(hostname);
  return printUsAscii(ascii !== '' ? ascii : hostname, LIMITS.hostname);
}

/** MSGID (§6.2.7): the alert's source (`syscall`, `k8s_audit`, a plugin's name). */
export function msgIdField(source: string): string {
  return printUsAscii(source, LIMITS.msgId);
}

/**
 * RFC 5424 §8.2: control characters (C0, DEL and C1) become `#` and three octal digits (a
 * newline is `#012`), so no raw newline can split a record in a receiver that frames by lines.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
function controlEscape(ch: string): string {
  return `#${ch.charCodeAt(0).toString(8).padStart(3, '0')}`;
}
export function escapeControls(text: string): string {
  return text.replace(CONTROL, controlEscape);
}

/** PARAM-VALUE (§6.3.3): `"`, `\` and `]` escaped with a backslash; control characters as in MSG. */
export function escapeParamValue(value: string): string {
  return value.replace(/["\\\]]/g, (ch) => `\\${ch}`).replace(CONTROL, controlEscape);
}

function escapeParamChar(ch: string): string {
  return ch === '"' || ch === '\\' || ch === ']' ? `\\${ch}` : escapeControls(ch);
}

/**
 * The longest prefix of `text`, escaped character by character with `escape`, whose UTF-8 form
 * has at most `maxBytes`: a cut never splits a code point or an escape sequence.
 */
export function escapeWithin(text: string, maxBytes: number, escape: (ch: string) => string): string {
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const piece = escape(ch);
    const size = Buffer.byteLength(piece);
    if (bytes + size > maxBytes) break;
    out += piece;
    bytes += size;
  }
  return out;
}

/** The SD-PARAMs of an alert, in order: rule, priority, source, namespace, pod, alert_id (+ digest facts). */
export function sdParams(alert: Alert): Array<[name: string, value: string]> {
  const params: Array<[string, string]> = [
    ['rule', alert.rule],
    ['priority', alert.priority],
    ['source', alert.source],
  ];
  const namespace = alertNamespace(alert);
  if (namespace) params.push(['namespace', namespace]);
  const pod = alertPod(alert);
  if (pod) params.push(['pod', pod]);
  params.push(['alert_id', alert.id]);
  const digest = digestOf(alert);
  if (digest) {
    params.push(['digest_count', String(digest.suppressed)], ['digest_first', digest.firstTime], ['digest_last', digest.lastTime], ['digest_cause', digest.cause]);
  }
  return params;
}

function sdElement(sdId: string, params: Array<[string, string]>, valueBudget?: number): string {
  const body = params
    .map(([name, value]) => `${name}="${valueBudget === undefined ? escapeParamValue(value) : escapeWithin(value, valueBudget, escapeParamChar)}"`)
    .join(' ');
  return `[${sdId} ${body}]`;
}

/** The MSG text before escaping: the output text (a digest's is its summary) or the alert's JSON. */
export function messageText(alert: Alert, format: RecordOptions['format']): string {
  if (format === 'json') return stringifyJson(alert);
  return alert.output ?? alert.message ?? alert.rule;
}

/**
 * One RFC 5424 record. With `maxBytes` (UDP datagrams; optional on streams) the record is cut to
 * fit: MSG first (at a character boundary); if HEADER and SD alone are too long, the SD values
 * share what is left; as a last resort SD is NILVALUE. HEADER is never cut (it is at most ~375
 * bytes and `maxMessageSize` is at least 480, the minimum RFC 5426 makes receivers accept).
 */
export function formatRecord(alert: Alert, opts: RecordOptions, maxBytes?: number): Buffer {
  const header = `<${pri(opts.facility, alert)}>1 ${timestamp(alert.time)} ${hostnameField(alert.hostname)} ${opts.appName} ${NILVALUE} ${msgIdField(alert.source)}`;
  const params = sdParams(alert);
  const sd = sdElement(opts.sdId, params);
  const text = messageText(alert, opts.format);
  const bom = opts.bom ? BOM : '';
  const full = text === '' ? `${header} ${sd}` : `${header} ${sd} ${bom}${escapeControls(text)}`;
  if (maxBytes === undefined) return Buffer.from(full);
  const fullBytes = Buffer.byteLength(full);
  if (fullBytes <= maxBytes) return Buffer.from(full);

  const head = `${header} ${sd}`;
  const room = maxBytes - Buffer.byteLength(head) - 1 - (opts.bom ? BOM_BYTES : 0);
  if (room > 0 && text !== '') return Buffer.from(`${head} ${bom}${escapeWithin(text, room, escapeControls)}`);
  if (Buffer.byteLength(head) <= maxBytes) return Buffer.from(head);

  const skeleton = `${header} ${sdElement(opts.sdId, params, 0)}`;
  const perValue = Math.floor((maxBytes - Buffer.byteLength(skeleton)) / params.length);
  if (perValue >= 0) return Buffer.from(`${header} ${sdElement(opts.sdId, params, perValue)}`);
  return Buffer.from(`${header} ${NILVALUE}`);
}

/** RFC 6587 §3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`, MSG-LEN in octets. */
export function octetCounted(record: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${record.length} `), record]);
}
