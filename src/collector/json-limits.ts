/**
 * Limits checked on the JSON text before any parser builds objects from it. A body nested 100,000
 * deep parses natively but overflows the stack of every recursive walk after it (the router's
 * big-integer repair, serialisation): a poison job retried forever. One alert with 200,000 keys
 * stalls a process for seconds. Both are refused here, in one linear pass, with a 400.
 */
export const MAX_JSON_DEPTH = 32;
/** Keys in one alert, nested objects included (Falco's largest, k8s_audit, carry ~100). */
export const MAX_ALERT_KEYS = 5_000;

export type JsonLimitProblem = { kind: 'depth' | 'keys'; offset: number; item: number };

/**
 * `itemDepth` is the nesting at which alerts sit: 0 for one object, 1 inside a JSON array. Keys
 * are counted per item. Depth counts from the alert itself (the alert object is depth 1).
 * Returns the first problem, or undefined. Strings are skipped with their escapes.
 */
export function checkJsonLimits(text: string, itemDepth: 0 | 1): JsonLimitProblem | undefined {
  let depth = 0;
  let keys = 0;
  let item = -1;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      // Jump to the closing quote, skipping escaped characters.
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) i++;
        else if (d === 34) break;
      }
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (depth === itemDepth) {
        item++;
        keys = 0;
      }
      depth++;
      if (depth - itemDepth > MAX_JSON_DEPTH) return { kind: 'depth', offset: i, item };
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      depth--;
    } else if (c === 58 /* : */) {
      if (++keys > MAX_ALERT_KEYS) return { kind: 'keys', offset: i, item };
    }
  }
  return undefined;
}

/**
 * The same limits on an already parsed alert (depth from the alert object = 1), stopping at the
 * first problem: for small bodies this walk is cheaper than scanning the text.
 */
export function checkValueLimits(value: unknown): JsonLimitProblem['kind'] | undefined {
  let keys = 0;
  const walk = (node: unknown, depth: number): JsonLimitProblem['kind'] | undefined => {
    if (node === null || typeof node !== 'object') return undefined;
    if (depth > MAX_JSON_DEPTH) return 'depth';
    if (Array.isArray(node)) {
      for (const v of node) {
        const problem = walk(v, depth + 1);
        if (problem) return problem;
      }
      return undefined;
    }
    for (const key in node) {
      if (++keys > MAX_ALERT_KEYS) return 'keys';
      const problem = walk((node as Record<string, unknown>)[key], depth + 1);
      if (problem) return problem;
    }
    return undefined;
  };
  return walk(value, 1);
}

/** Bodies up to this size are checked after JSON.parse (V8 parses any depth iteratively); larger ones before. */
export const SCAN_TEXT_ABOVE = 16 * 1024;

/** True when a parsed value holds an own `__proto__` key anywhere (JSON.parse makes it a plain key). */
export function hasProtoKey(value: unknown, depth = 0): boolean {
  if (value === null || typeof value !== 'object' || depth > MAX_JSON_DEPTH + 1) return false;
  if (Array.isArray(value)) return value.some((v) => hasProtoKey(v, depth + 1));
  if (Object.prototype.hasOwnProperty.call(value, '__proto__')) return true;
  for (const key in value) if (hasProtoKey((value as Record<string, unknown>)[key], depth + 1)) return true;
  return false;
}
