import type { Alert } from '../../alert/alert.js';
import { parseJson, type JsonObject } from '../../alert/json.js';
import { parsePriority } from '../../alert/priority.js';

/**
 * Stage 1: raw alert JSON (as Falco sent it, already validated by the collector) to an Alert with
 * canonical priority, default source and empty collections where Falco omitted them. Big integers
 * stay exact. Unknown top-level keys are dropped.
 */
export function normalise(raw: ReadonlyArray<readonly [string, string]>): Alert[] {
  return raw.map(([id, text]) => {
    const a = parseJson(text) as JsonObject;
    const alert: Alert = {
      id,
      rule: a.rule as string,
      priority: parsePriority(a.priority as string) ?? 'Debug',
      time: a.time as string,
      source: typeof a.source === 'string' && a.source !== '' ? a.source : 'syscall',
      tags: Array.isArray(a.tags) ? (a.tags as string[]) : [],
      output_fields: a.output_fields && typeof a.output_fields === 'object' ? (a.output_fields as JsonObject) : {},
    };
    if (typeof a.hostname === 'string') alert.hostname = a.hostname;
    if (typeof a.output === 'string') alert.output = a.output;
    if (typeof a.message === 'string') alert.message = a.message;
    return alert;
  });
}
