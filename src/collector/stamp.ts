import type { JsonObject } from '../alert/json.js';

// Where the top-level output_fields object opens. Inside a JSON string its quotes would be
// escaped (\"), so the needle only matches real keys; nested objects may hold the same key, so
// more than one match is ambiguous and the caller re-serialises instead.
const OUTPUT_FIELDS_KEY = /"output_fields"\s*:\s*(\{|null)/g;

/**
 * The alert text with the stamp's fields written into output_fields, by splicing: the rest of
 * the text (big integers, key order, escapes) stays byte for byte what the sender wrote, and no
 * parse/serialise round trip is paid. Undefined when the splice is not certainly right (the
 * stamp removes a key, output_fields appears twice, or is not an object): re-serialise then.
 */
export function stampText(text: string, alert: JsonObject, stamp: Readonly<Record<string, string | undefined>>): string | undefined {
  const entries = Object.entries(stamp).filter((e): e is [string, string] => e[1] !== undefined);
  const fields = alert.output_fields;
  if (fields !== undefined && fields !== null && (typeof fields !== 'object' || Array.isArray(fields))) return undefined;
  if (fields && Object.keys(stamp).some((k) => Object.prototype.hasOwnProperty.call(fields, k))) return undefined;
  if (entries.length === 0) return text;
  // An escaped key ("output\u005ffields") would hide the real one from the needle.
  if (text.includes('\\u')) return undefined;
  const members = entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',');
  const matches = [...text.matchAll(OUTPUT_FIELDS_KEY)];
  if (matches.length > 1) return undefined;
  // A match without a top-level output_fields is a nested key; none with one is an odd spelling.
  if ((matches.length === 1) !== (fields !== undefined)) return undefined;
  if (matches.length === 0) {
    // No output_fields at all: add one as the first member of the alert object.
    const open = text.indexOf('{');
    const empty = /^\{\s*\}$/.test(text);
    return `${text.slice(0, open + 1)}"output_fields":{${members}}${empty ? '' : ','}${text.slice(open + 1)}`;
  }
  const match = matches[0]!;
  const at = match.index! + match[0].length;
  if (match[1] === 'null') return `${text.slice(0, at - 4)}{${members}}${text.slice(at)}`;
  const nonEmpty = fields !== null && Object.keys(fields as object).length > 0;
  return `${text.slice(0, at)}${members}${nonEmpty ? ',' : ''}${text.slice(at)}`;
}
