import { parsePriority } from '../alert/priority.js';

/** `metrics.alertLabels`: alert fields that become labels of falconet_alerts_received_total (opt-in). */
export interface AlertLabelOptions {
  /** `rule`, `source`-like top-level keys or output_fields keys such as `k8s.ns.name`. */
  fields: readonly string[];
  /** Distinct values kept per label; later ones are counted under "other" (cardinality cap). */
  maxValues: number;
}

/** `k8s.ns.name` → `k8s_ns_name` (Prometheus label names are [a-zA-Z_][a-zA-Z0-9_]*). */
export function metricLabelName(field: string): string {
  const name = field.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[A-Za-z_]/.test(name) ? name : `_${name}`;
}

/** Sources a collector labels by name; a client sending more gets them counted as "other". */
const MAX_SOURCES = 32;

/**
 * Labels of one raw alert text, read without parsing it (the collector stores texts as sent and
 * must stay cheap per alert): the first `"key":"value"` of each key. Top-level keys precede
 * output_fields in what Falco sends; a value with escapes is taken as written.
 */
export function alertLabelValues(fields: readonly string[], maxValues: number) {
  const sources = new Capped(MAX_SOURCES);
  const extra = fields.map((field) => ({ label: metricLabelName(field), re: stringValue(field), seen: new Capped(maxValues) }));
  const sourceRe = stringValue('source');
  const priorityRe = stringValue('priority');
  return (text: string): Record<string, string> => {
    const labels: Record<string, string> = {
      source: sources.admit(sourceRe.exec(text)?.[1] ?? 'syscall'),
      priority: parsePriority(priorityRe.exec(text)?.[1] ?? '') ?? 'unknown',
    };
    for (const { label, re, seen } of extra) labels[label] = seen.admit(re.exec(text)?.[1] ?? '');
    return labels;
  };
}

function stringValue(key: string): RegExp {
  const quoted = JSON.stringify(key).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`${quoted}\\s*:\\s*"([^"\\\\]{0,200})"`);
}

/** The first `max` distinct values pass; the rest become "other". */
class Capped {
  private readonly values = new Set<string>();
  constructor(private readonly max: number) {}
  admit(value: string): string {
    if (this.values.has(value)) return value;
    if (this.values.size >= this.max) return 'other';
    this.values.add(value);
    return value;
  }
}
