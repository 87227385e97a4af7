import { hash } from 'node:crypto';
import { PRIORITY_NAMES_FOR_ERRORS, parsePriority } from '../alert/priority.js';
import { parseJson, stringifyJson, type JsonObject } from '../alert/json.js';
import { checkJsonLimits, checkValueLimits, hasProtoKey, MAX_ALERT_KEYS, MAX_JSON_DEPTH, SCAN_TEXT_ABOVE } from './json-limits.js';
import { stampText } from './stamp.js';

/** A request body that cannot be accepted; the collector answers 400 with these two fields. */
export class BadAlertError extends Error {
  constructor(
    readonly code: 'empty_body' | 'invalid_json' | 'invalid_alert' | 'invalid_text_alert' | 'json_too_deep' | 'json_too_many_keys' | 'forbidden_key',
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
    this.name = 'BadAlertError';
  }
}

/** An alert its sender may not post (a namespace outside its token's list): 403, whole request. */
export class AlertForbiddenError extends Error {
  constructor(
    readonly code: 'namespace_forbidden',
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
    this.name = 'AlertForbiddenError';
  }
}

/**
 * What an authenticated sender may post and what the collector writes on its alerts. `check`
 * throws AlertForbiddenError; `stamp` entries replace output_fields keys (undefined removes one,
 * so a sender cannot forge a tenant it does not hold).
 */
export interface AlertPolicy {
  check(alert: Readonly<Record<string, unknown>>, where: string): void;
  stamp?: Readonly<Record<string, string | undefined>>;
}

/** One accepted alert: its id (content hash of what Falco sent) and its JSON text. */
export type RawAlert = [id: string, json: string];

export function alertId(raw: string): string {
  // One-shot hash: no Hash object per alert (half the time of createHash().update().digest() here).
  return hash('sha256', raw, 'hex').slice(0, 32);
}

/**
 * Turns one request body into raw alert JSON texts, validated but not re-serialised: the texts are
 * stored as Falco sent them (big integers intact) and normalised by the router.
 *
 * Accepts what Falco's http_output sends (one object per request, JSON or text/plain), plus a JSON
 * array or NDJSON for batch senders. A batch is accepted whole or refused whole, naming the item.
 */
export function decodeAlerts(body: string, contentType: string | undefined, receivedAt: number, policy?: AlertPolicy): RawAlert[] {
  const text = body.trim();
  if (text === '') throw new BadAlertError('empty_body', 'the request body is empty; send one Falco alert as JSON');
  const type = (contentType ?? '').toLowerCase();
  if (type.includes('ndjson') || type.includes('jsonl')) return decodeNdjson(text, policy);
  if (text[0] === '[') return decodeArray(text, policy);
  if (text[0] === '{') return [decodeObject(text, '', policy)];
  if (type.startsWith('application/json')) {
    throw new BadAlertError('invalid_json', 'body is not a JSON object; Falco sends one alert object per request');
  }
  // json_output: false sends the rendered output line as text/plain.
  return [textAlert(text, receivedAt, policy)];
}

function decodeNdjson(text: string, policy: AlertPolicy | undefined): RawAlert[] {
  const out: RawAlert[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line !== '') out.push(decodeObject(line, `line ${i + 1}: `, policy));
  }
  return out;
}

function enforceLimits(text: string, itemDepth: 0 | 1, where: (item: number) => string): void {
  const problem = checkJsonLimits(text, itemDepth);
  if (!problem) return;
  const at = where(problem.item);
  if (problem.kind === 'depth') {
    throw new BadAlertError('json_too_deep', `${at}nested deeper than ${MAX_JSON_DEPTH} levels (at character ${problem.offset})`);
  }
  throw new BadAlertError('json_too_many_keys', `${at}more than ${MAX_ALERT_KEYS} keys in one alert`);
}

/**
 * JSON.parse keeps `__proto__` as a plain key, but any later `target[key] = value` copy would
 * turn it into a prototype change: refused. Only bodies that could hold one are walked.
 */
function refuseProtoKeys(text: string, parsed: () => unknown, at: string): void {
  if (!text.includes('__proto__') && !text.includes('\\u')) return;
  if (hasProtoKey(parsed())) throw new BadAlertError('forbidden_key', `${at}the key "__proto__" is not accepted`);
}

/** Applies the sender's stamp to a (lossless) parsed alert; false when it changes nothing. */
function stamped(value: JsonObject, policy: AlertPolicy | undefined): boolean {
  const stamp = policy?.stamp;
  if (!stamp) return false;
  const fields = value.output_fields && typeof value.output_fields === 'object' ? (value.output_fields as JsonObject) : undefined;
  const entries = Object.entries(stamp);
  if (!entries.some(([k, v]) => v !== undefined || (fields && Object.prototype.hasOwnProperty.call(fields, k)))) return false;
  const out: JsonObject = fields ?? {};
  for (const [k, v] of entries) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  value.output_fields = out;
  return true;
}

function decodeArray(text: string, policy: AlertPolicy | undefined): RawAlert[] {
  enforceLimits(text, 1, (item) => `[${item}]: `);
  let items: unknown;
  try {
    items = parseJson(text);
  } catch (err) {
    throw new BadAlertError('invalid_json', (err as Error).message);
  }
  // Checked on a native parse: the lossless fallback parser may assign keys one by one.
  refuseProtoKeys(text, () => JSON.parse(text), '');
  if (!Array.isArray(items)) throw new BadAlertError('invalid_json', 'expected a JSON array of alerts');
  if (items.length === 0) throw new BadAlertError('invalid_alert', 'the alert array is empty');
  for (const [i, item] of items.entries()) {
    validateAlert(item, `[${i}].`);
    policy?.check(item as Record<string, unknown>, `[${i}]: `);
  }
  return items.map((item) => {
    stamped(item as JsonObject, policy);
    const json = stringifyJson(item);
    return [alertId(json), json] as RawAlert;
  });
}

function decodeObject(text: string, where: string, policy: AlertPolicy | undefined): RawAlert {
  // A large body is scanned before parsing (200,000 keys take long to build); a small one after.
  if (text.length > SCAN_TEXT_ABOVE) enforceLimits(text, 0, () => where);
  let value: unknown;
  try {
    // Plain JSON.parse is enough to validate: the text itself, not this value, is what gets stored.
    value = JSON.parse(text);
  } catch (err) {
    throw new BadAlertError('invalid_json', `${where}${(err as Error).message}`);
  }
  if (text.length <= SCAN_TEXT_ABOVE) {
    const problem = checkValueLimits(value);
    if (problem === 'depth') throw new BadAlertError('json_too_deep', `${where}nested deeper than ${MAX_JSON_DEPTH} levels`);
    if (problem === 'keys') throw new BadAlertError('json_too_many_keys', `${where}more than ${MAX_ALERT_KEYS} keys in one alert`);
  }
  refuseProtoKeys(text, () => value, where);
  validateAlert(value, where);
  policy?.check(value as Record<string, unknown>, where);
  if (policy?.stamp && changesSomething(value as JsonObject, policy.stamp)) {
    // Spliced into the text when that is unambiguous, else re-serialised losslessly. The id hashes
    // the stamped text: a duplicate POST by one sender keeps its id, the same bytes from another
    // tenant are another alert.
    const spliced = stampText(text, value as JsonObject, policy.stamp);
    if (spliced !== undefined) return [alertId(spliced), spliced];
    const exact = parseJson(text) as JsonObject;
    stamped(exact, policy);
    const json = stringifyJson(exact);
    return [alertId(json), json];
  }
  return [alertId(text), text];
}

function changesSomething(alert: JsonObject, stamp: Readonly<Record<string, string | undefined>>): boolean {
  const fields = alert.output_fields && typeof alert.output_fields === 'object' ? (alert.output_fields as JsonObject) : undefined;
  return Object.entries(stamp).some(([k, v]) => v !== undefined || (fields !== undefined && Object.prototype.hasOwnProperty.call(fields, k)));
}

function validateAlert(value: unknown, at: string): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    // `at` is "[3]." or "line 2: "; as a prefix of a whole item it reads better without the dot.
    const where = at.replace(/\.$/, ': ');
    throw new BadAlertError('invalid_alert', `${where}expected a JSON object (a Falco alert)`);
  }
  const alert = value as Record<string, unknown>;
  const fail = (key: string, detail: string): never => {
    throw new BadAlertError('invalid_alert', `${at}${key}: ${detail}`);
  };
  if (typeof alert.rule !== 'string' || alert.rule === '') fail('rule', 'required, a non-empty string');
  if (typeof alert.priority !== 'string') fail('priority', 'required, a string');
  if (!parsePriority(alert.priority as string)) {
    fail('priority', `${JSON.stringify(alert.priority)} is not a Falco priority (one of ${PRIORITY_NAMES_FOR_ERRORS})`);
  }
  if (typeof alert.time !== 'string' || !plausibleTime(alert.time)) {
    fail('time', 'required, an RFC 3339 timestamp string (years 0001-9999)');
  }
  const fields = alert.output_fields;
  if (fields !== undefined && fields !== null && (typeof fields !== 'object' || Array.isArray(fields))) {
    fail('output_fields', 'must be an object');
  }
  for (const key of ['source', 'hostname', 'output', 'message'] as const) {
    if (alert[key] !== undefined && alert[key] !== null && typeof alert[key] !== 'string') fail(key, 'must be a string');
  }
  const tags = alert.tags;
  if (tags !== undefined && tags !== null && !(Array.isArray(tags) && tags.every((t) => typeof t === 'string'))) {
    fail('tags', 'must be an array of strings');
  }
}

// Date.parse also reads "+275760-09-13T00:00:00Z": adding an expiry to such a time throws later, in delivery.
const LAST_MS = Date.parse('9999-12-31T23:59:59.999Z');
const FIRST_MS = Date.parse('0001-01-01T00:00:00Z');
function plausibleTime(time: string): boolean {
  const ms = Date.parse(time);
  return ms >= FIRST_MS && ms <= LAST_MS;
}

// "<time>: <Priority> <rendered output>" — Falco's text line; internal messages have the same prefix.
const TEXT_LINE = /^(\S+):\s+([A-Za-z]+)\s+([\s\S]*)$/;

function textAlert(text: string, receivedAt: number, policy: AlertPolicy | undefined): RawAlert {
  const match = TEXT_LINE.exec(text);
  const priority = match ? parsePriority(match[2]!) : undefined;
  if (!match || !priority) {
    throw new BadAlertError(
      'invalid_text_alert',
      'a text/plain body must be a Falco output line "<time>: <Priority> <output>"; set json_output: true in falco.yaml',
    );
  }
  const internal = match[3]!.startsWith('Falco internal');
  const alert: JsonObject = {
    output: text,
    priority,
    rule: internal ? 'Falco internal' : 'unknown',
    source: internal ? 'internal' : 'syscall',
    // The text carries only a time of day; the receipt time is the best full timestamp we have.
    time: new Date(receivedAt).toISOString(),
    output_fields: {},
    tags: [],
  };
  const sender = stamped(alert, policy) ? `\n${JSON.stringify(alert.output_fields)}` : '';
  const json = JSON.stringify(alert);
  // Hash the text (and the sender's stamp), not the JSON holding the receipt time, so a duplicate POST keeps its id.
  return [alertId(text + sender), json];
}
