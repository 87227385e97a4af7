import { ruleOfText, type Alert } from '../../alert/alert.js';
import { parseJson, type JsonObject } from '../../alert/json.js';
import { parsePriority } from '../../alert/priority.js';
import { ROUTER_OUTPUT, type DeadLetterStore } from '../../dlq/store.js';
import type { Metrics } from '../../observability/metrics.js';

/**
 * Deeper nesting than this is no Falco alert (output fields are flat: scalars and lists), and the
 * recursive JSON code of every later stage would overflow the stack on it (a 100,000-deep body did).
 */
export const MAX_NESTING = 64;

/** An alert the router cannot process: set aside with why, so the rest of its ingest job goes on. */
export interface PoisonedAlert {
  id: string;
  text: string;
  error: string;
}

/**
 * Stage 1: raw alert JSON (as Falco sent it, already validated by the collector) to an Alert with
 * canonical priority, default source and empty collections where Falco omitted them. Big integers
 * stay exact. Unknown top-level keys are dropped. Throws on the first alert it cannot process.
 */
export function normalise(raw: ReadonlyArray<readonly [string, string]>): Alert[] {
  return raw.map(([id, text]) => normaliseOne(id, text));
}

/** normalise, one alert at a time: an alert that throws (or nests too deep) is set aside, the others pass. */
export function normaliseEach(raw: ReadonlyArray<readonly [string, string]>): { alerts: Alert[]; poisoned: PoisonedAlert[] } {
  const alerts: Alert[] = [];
  const poisoned: PoisonedAlert[] = [];
  for (const [id, text] of raw) {
    try {
      alerts.push(normaliseOne(id, text));
    } catch (err) {
      poisoned.push({ id, text, error: (err as Error)?.message ?? String(err) });
    }
  }
  return { alerts, poisoned };
}

/**
 * The router's stage 1 with per-alert isolation: a poison alert (one that would throw on every
 * attempt) is written to the dead letters under ROUTER_OUTPUT, once, and its ingest job delivers
 * the others instead of retrying all of them until it fails.
 */
export function createNormaliseStage(deadLetters: DeadLetterStore, metrics: Metrics, now: () => number = Date.now) {
  return async (raw: ReadonlyArray<readonly [string, string]>): Promise<Alert[]> => {
    const { alerts, poisoned } = normaliseEach(raw);
    if (poisoned.length === 0) return alerts;
    const at = now();
    await deadLetters.add(
      ROUTER_OUTPUT,
      poisoned.map((p) => ({ id: p.id, rule: ruleOfText(p.text), alert: p.text, reason: `router: ${p.error}`, attempts: 1, firstAttemptAt: at, lastAttemptAt: at })),
    );
    metrics.countRouted('dead_lettered', poisoned.length);
    return alerts;
  };
}

function normaliseOne(id: string, text: string): Alert {
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
  if (!withinNesting(alert.output_fields, MAX_NESTING)) throw new Error(`output_fields nest deeper than ${MAX_NESTING} levels`);
  return alert;
}

/** Iterative on purpose: a recursive walk would overflow on exactly the values it must refuse. */
function withinNesting(root: JsonObject, limit: number): boolean {
  const stack: Array<[object, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > limit) return false;
    for (const v of Object.values(node)) if (v !== null && typeof v === 'object') stack.push([v as object, depth + 1]);
  }
  return true;
}

