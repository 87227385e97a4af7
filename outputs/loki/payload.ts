import { alertField, alertNamespace, alertTimeNanos, type Alert } from '../../src/alert/alert.js';
import { displayValue, stringifyJson, type JsonValue } from '../../src/alert/json.js';

export const DEFAULT_LABELS = ['source', 'priority', 'rule', 'hostname', 'k8s_ns_name'];
/** Loki's default per-entry structured-metadata limit. */
const MAX_METADATA_ENTRIES = 128;

/** Prometheus-style name: [a-zA-Z_][a-zA-Z0-9_]*; `k8s.ns.name` becomes `k8s_ns_name`. */
export function sanitiseLabelName(name: string): string {
  const clean = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(clean) ? `_${clean}` : clean;
}

/**
 * The value of one configured label: a top-level alert key, or an output field named as Falco
 * spells it (`k8s.ns.name`) or sanitised (`k8s_ns_name`). The namespace label also reads
 * `ka.target.namespace`, so audit and syscall alerts of one namespace share a stream.
 * Returns the output-field key used, so it is not repeated as structured metadata.
 */
function labelValue(alert: Alert, name: string): { value?: string; fieldKey?: string } {
  const sanitised = sanitiseLabelName(name);
  if (sanitised === 'k8s_ns_name') {
    const key = ['k8s.ns.name', 'ka.target.namespace', 'k8smeta.ns.name'].find((k) => alert.output_fields[k] !== undefined);
    return { value: alertNamespace(alert), fieldKey: key };
  }
  if (!name.startsWith('output_fields.')) {
    const top = alertField(alert, name);
    if (top !== undefined) return { value: displayValue(top) };
  }
  const bare = name.replace(/^output_fields\./, '');
  const key = bare in alert.output_fields ? bare : Object.keys(alert.output_fields).find((k) => sanitiseLabelName(k) === sanitised);
  return key === undefined ? {} : { value: displayValue(alert.output_fields[key]), fieldKey: key };
}

/**
 * A push request: alerts grouped into one stream per distinct label set (labels without a value
 * are left out, as Loki treats empty values as absent). Each entry is [epoch-ns string, the alert
 * JSON, structured metadata]: the alert id and every output field not used as a label, as text.
 */
export function buildLokiPush(alerts: Alert[], labels: readonly string[]): string {
  const streams = new Map<string, { stream: Record<string, string>; values: Array<[string, string, Record<string, string>]> }>();
  for (const alert of alerts) {
    const stream: Record<string, string> = {};
    const used = new Set<string>();
    for (const name of labels) {
      const { value, fieldKey } = labelValue(alert, name);
      if (fieldKey !== undefined) used.add(fieldKey);
      if (value !== undefined && value !== '') stream[sanitiseLabelName(name)] = value;
    }
    const key = JSON.stringify(stream);
    let entry = streams.get(key);
    if (!entry) streams.set(key, (entry = { stream, values: [] }));
    entry.values.push([alertTimeNanos(alert).toString(), stringifyJson(alert), structuredMetadata(alert, used)]);
  }
  return stringifyJson({ streams: [...streams.values()] });
}

function structuredMetadata(alert: Alert, used: ReadonlySet<string>): Record<string, string> {
  const meta: Record<string, string> = { alert_id: alert.id };
  let count = 1;
  for (const [key, value] of Object.entries(alert.output_fields)) {
    if (count >= MAX_METADATA_ENTRIES) break;
    if (used.has(key) || value === null) continue;
    const text = displayValue(value as JsonValue);
    if (text === '') continue;
    const name = sanitiseLabelName(key);
    if (name in meta) continue;
    meta[name] = text;
    count++;
  }
  return meta;
}
