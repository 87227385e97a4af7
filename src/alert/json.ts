import { isSafeNumber, parse as losslessParse, stringify as losslessStringify } from 'lossless-json';

/**
 * JSON with integers beyond 2^53 kept exact. Falco's `evt.time`, `*.ts` and inode fields are
 * nanosecond integers that `JSON.parse` would silently round; here they become `bigint` and are
 * written back as bare numbers, byte for byte.
 */
export type JsonValue = string | number | bigint | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

// Any run of 16+ digits may exceed Number.MAX_SAFE_INTEGER; without one JSON.parse is exact and
// several times faster than the lossless parser, so most small payloads take the fast path.
const MAYBE_UNSAFE_NUMBER = /\d{16}/;

function parseNumber(text: string): number | bigint {
  if (isSafeNumber(text)) return Number(text);
  if (/^-?\d+$/.test(text)) return BigInt(text);
  // A float with too many digits for a double: Falco never sends these exactly, so a double is fine.
  return Number(text);
}

export function parseJson(text: string): JsonValue {
  if (!MAYBE_UNSAFE_NUMBER.test(text)) return JSON.parse(text) as JsonValue;
  return losslessParse(text, null, parseNumber) as JsonValue;
}

export function stringifyJson(value: unknown): string {
  if (!containsBigInt(value)) return JSON.stringify(value);
  return losslessStringify(value) as string;
}

function containsBigInt(value: unknown): boolean {
  if (typeof value === 'bigint') return true;
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(containsBigInt);
  for (const key in value) {
    if (containsBigInt((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

/** A JSON value rendered for humans (chat messages, labels): strings as-is, the rest as JSON. */
export function displayValue(value: JsonValue | undefined): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  return stringifyJson(value);
}
