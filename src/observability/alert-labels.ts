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
  const extra = fields.map((field) => ({ label: metricLabelName(field), read: stringValue(field.replace(/^output_fields\./, '')), seen: new Capped(maxValues) }));
  const readSource = stringValue('source');
  const readPriority = stringValue('priority');
  return (text: string): string[] => {
    const values = [sources.admit(readSource(text) ?? 'syscall'), parsePriority(readPriority(text) ?? '') ?? 'unknown'];
    for (const { read, seen } of extra) values.push(seen.admit(read(text) ?? ''));
    return values;
  };
}

/** Label names, in the order alertLabelValues returns values. */
export function alertLabelNames(fields: readonly string[]): string[] {
  return ['source', 'priority', ...fields.map((f) => metricLabelName(f.replace(/^output_fields\./, '')))];
}

/**
 * The string value of the first `"key":` in a JSON text: a plain search for Falco's compact form,
 * a regex for JSON with spaces (other senders). Values with escapes are taken as written.
 */
function stringValue(key: string): (text: string) => string | undefined {
  const compact = `${JSON.stringify(key)}:"`;
  const quoted = JSON.stringify(key).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const spaced = new RegExp(`${quoted}\\s*:\\s*"([^"\\\\]{0,200})"`);
  return (text) => {
    const at = text.indexOf(compact);
    if (at >= 0) {
      const start = at + compact.length;
      const end = text.indexOf('"', start);
      return end > start + 200 || end < 0 ? text.slice(start, start + 200) : text.slice(start, end);
    }
    return spaced.exec(text)?.[1];
  };
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
