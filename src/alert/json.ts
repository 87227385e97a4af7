import { isSafeNumber, parse as losslessParse } from 'lossless-json';

/**
 * JSON with integers beyond 2^53 kept exact. Falco's `evt.time`, `*.ts` and inode fields are
 * nanosecond integers that `JSON.parse` would silently round; here they become `bigint` and are
 * written back as bare numbers, byte for byte.
 *
 * Nearly every Falco alert carries such an integer, so this is on the hot path of every alert
 * (parsed by the router and by delivery, written by fan-out and by outputs). A pure-JS lossless
 * parser costs ~40 µs per alert; instead the native parser runs and only the few rounded integers
 * are repaired from the source text (~10 µs). Anything the repair cannot prove exact falls back to
 * the lossless parser.
 */
export type JsonValue = string | number | bigint | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

type Container = Record<string, unknown> | unknown[];
type Slot = [container: Container, key: string | number];

// A run of 16+ digits may exceed Number.MAX_SAFE_INTEGER; without one JSON.parse is already exact.
const MAYBE_UNSAFE_NUMBER = /\d{16}/;

function isRoundedInteger(v: number): boolean {
  return Number.isInteger(v) && !Number.isSafeInteger(v);
}

function losslessNumber(text: string): number | bigint {
  if (isSafeNumber(text)) return Number(text);
  if (/^-?\d+$/.test(text)) return BigInt(text);
  // A float with more digits than a double holds: Falco never sends these exactly.
  return Number(text);
}

function parseLossless(text: string): JsonValue {
  return losslessParse(text, null, losslessNumber) as JsonValue;
}

/** Object slots holding rounded integers; false when one sits in an array (not repairable by key). */
function findRounded(node: unknown, out: Slot[]): boolean {
  if (Array.isArray(node)) {
    for (const v of node) {
      if (typeof v === 'number' ? isRoundedInteger(v) : v !== null && typeof v === 'object' && !findRounded(v, out)) return false;
    }
    return true;
  }
  const obj = node as Record<string, unknown>;
  for (const key in obj) {
    const v = obj[key];
    if (typeof v === 'number') {
      if (isRoundedInteger(v)) out.push([obj, key]);
    } else if (v !== null && typeof v === 'object' && !findRounded(v, out)) return false;
  }
  return true;
}

/**
 * The exact digits written after `"key":` in the source whose value rounds to `rounded`. Inside a
 * JSON string the quotes around such a key would be escaped, so the needle only matches real keys.
 * Undefined when absent or ambiguous (two different exact values rounding alike under one key).
 */
function exactDigits(text: string, key: string, rounded: number): string | undefined {
  const needle = `${JSON.stringify(key)}:`;
  let found: string | undefined;
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + needle.length)) {
    let i = at + needle.length;
    while (text.charCodeAt(i) === 32) i++;
    const digits = /^-?\d+(?![\d.eE])/.exec(text.slice(i, i + 40))?.[0];
    if (digits === undefined || Number(digits) !== rounded) continue;
    if (found !== undefined && found !== digits) return undefined;
    found = digits;
  }
  return found;
}

export function parseJson(text: string): JsonValue {
  const value = JSON.parse(text) as JsonValue;
  if (!MAYBE_UNSAFE_NUMBER.test(text) || value === null || typeof value !== 'object') {
    return typeof value === 'number' && isRoundedInteger(value) ? parseLossless(text) : value;
  }
  const slots: Slot[] = [];
  if (!findRounded(value, slots)) return parseLossless(text);
  for (const [container, key] of slots) {
    const obj = container as Record<string, unknown>;
    const digits = exactDigits(text, key as string, obj[key as string] as number);
    if (digits === undefined) return parseLossless(text);
    obj[key as string] = BigInt(digits);
  }
  return value;
}

// Bigints are swapped for marked strings, serialised natively, swapped back, and the marks turned
// into bare numbers in the text. JSON.stringify escapes the NUL, so no real string can look alike.
const MARK = '\u0000falconet-bigint:';
const MARKED = /"\\u0000falconet-bigint:(-?\d+)"/g;

function markBigInts(node: unknown, out: Slot[]): void {
  const container = node as Record<string | number, unknown>;
  const keys: Array<string | number> = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(container);
  for (const key of keys) {
    const v = container[key];
    if (typeof v === 'bigint') {
      out.push([container, key]);
      container[key] = MARK + v.toString();
    } else if (v !== null && typeof v === 'object') markBigInts(v, out);
  }
}

export function stringifyJson(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const slots: Slot[] = [];
  markBigInts(value, slots);
  let text: string;
  try {
    text = JSON.stringify(value);
  } finally {
    for (const [container, key] of slots) {
      const c = container as Record<string | number, unknown>;
      c[key] = BigInt((c[key] as string).slice(MARK.length));
    }
  }
  return slots.length === 0 ? text : text.replace(MARKED, '$1');
}

/** A JSON value rendered for humans (chat messages, labels): strings as-is, the rest as JSON. */
export function displayValue(value: JsonValue | undefined): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  return stringifyJson(value);
}

const alertTexts = new WeakMap<object, string>();

/**
 * An alert's JSON, written once per alert object however many stages need it (fan-out, the UI
 * store, a webhook body): three stringifications per alert were 3 % of the worker's CPU at 500/s
 * (issue #10). Alerts are not changed after the router's enrich stage; an output's customFields
 * work on a copy (src/delivery/stages/custom-fields.ts).
 */
export function alertJson(alert: object): string {
  let text = alertTexts.get(alert);
  if (text === undefined) alertTexts.set(alert, (text = stringifyJson(alert)));
  return text;
}

/**
 * Tells alertJson the text an alert was parsed from, when that text is what alertJson wrote for
 * it (a delivery job's alerts): an output needing the JSON again does not write it a second time.
 */
export function parsedAlertJson(text: string): JsonValue {
  const value = parseJson(text);
  if (value !== null && typeof value === 'object') alertTexts.set(value, text);
  return value;
}
