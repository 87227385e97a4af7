import type { JsonObject, JsonValue } from './json.js';
import type { Priority } from './priority.js';

/**
 * One Falco alert as it travels through Falconet. The Falco keys keep their wire names so that a
 * webhook receiver written for Falco (or Falcosidekick) reads it unchanged; `id` is Falconet's.
 */
export interface Alert {
  /** Content hash of the raw alert as Falco sent it: a duplicate POST gets the same id. */
  id: string;
  rule: string;
  priority: Priority;
  /** Falco's event time, kept as sent (RFC 3339 with nanoseconds). */
  time: string;
  source: string;
  hostname?: string;
  output?: string;
  message?: string;
  tags: string[];
  output_fields: JsonObject;
}

/** Reads a top-level key or `output_fields.<key>` (keys may themselves contain dots). */
export function alertField(alert: Alert, path: string): JsonValue | undefined {
  if (path.startsWith('output_fields.')) return alert.output_fields[path.slice('output_fields.'.length)];
  switch (path) {
    case 'id':
    case 'rule':
    case 'priority':
    case 'time':
    case 'source':
    case 'hostname':
    case 'output':
    case 'message':
      return alert[path];
    case 'tags':
      return alert.tags;
    default:
      return undefined;
  }
}

/** Kubernetes namespace of an alert: syscall rules carry k8s.ns.name, audit rules ka.target.namespace. */
export function alertNamespace(alert: Alert): string | undefined {
  const fields = alert.output_fields;
  const ns = fields['k8s.ns.name'] ?? fields['ka.target.namespace'] ?? fields['k8smeta.ns.name'];
  return typeof ns === 'string' && ns !== '' ? ns : undefined;
}

export function alertPod(alert: Alert): string | undefined {
  const pod = alert.output_fields['k8s.pod.name'] ?? alert.output_fields['k8smeta.pod.name'];
  return typeof pod === 'string' && pod !== '' ? pod : undefined;
}

/** Event time in epoch nanoseconds, from the RFC 3339 `time` (which keeps all 9 digits). */
export function alertTimeNanos(alert: Alert): bigint {
  const match = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(alert.time);
  if (!match) return BigInt(Date.parse(alert.time) || 0) * 1_000_000n;
  const seconds = BigInt(Math.floor(Date.parse(`${match[1]}${match[3]}`) / 1000));
  const fraction = BigInt((match[2] ?? '').padEnd(9, '0'));
  return seconds * 1_000_000_000n + fraction;
}

/** The rule named in an alert's raw JSON text, or '' when the text is not an alert (dead letters). */
export function ruleOfText(text: string): string {
  try {
    const rule = (JSON.parse(text) as { rule?: unknown }).rule;
    return typeof rule === 'string' ? rule : '';
  } catch {
    return '';
  }
}
