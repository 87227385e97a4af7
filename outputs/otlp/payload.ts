import { alertTimeNanos, type Alert } from '../../src/alert/alert.js';
import type { JsonValue } from '../../src/alert/json.js';
import type { Priority } from '../../src/alert/priority.js';
import type { SendResult } from '../kit/types.js';

/**
 * OTLP/HTTP logs in the JSON encoding (opentelemetry-proto, ExportLogsServiceRequest): field names
 * in lowerCamelCase, 64-bit integers as decimal strings, enums as numbers.
 */

export type AnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number }
  | { arrayValue: { values: AnyValue[] } }
  | { kvlistValue: { values: KeyValue[] } }
  /** No field set: OTLP's empty value, what a Falco `null` becomes. */
  | Record<string, never>;

export interface KeyValue {
  key: string;
  value: AnyValue;
}

export interface LogRecord {
  timeUnixNano: string;
  observedTimeUnixNano: string;
  severityNumber: number;
  severityText: string;
  body: AnyValue;
  attributes: KeyValue[];
}

export interface ExportLogsServiceRequest {
  resourceLogs: Array<{
    resource: { attributes: KeyValue[] };
    scopeLogs: Array<{ scope: { name: string }; logRecords: LogRecord[] }>;
  }>;
}

/**
 * Falco priorities are syslog severities; this is the OpenTelemetry log data model's own syslog
 * mapping (data-model-appendix.md, Appendix B). `severityText` keeps Falco's name, as the data
 * model asks ("the original string representation as it is known at the source").
 */
export const OTEL_SEVERITY: Readonly<Record<Priority, { number: number; name: string }>> = {
  Emergency: { number: 21, name: 'FATAL' },
  Alert: { number: 19, name: 'ERROR3' },
  Critical: { number: 18, name: 'ERROR2' },
  Error: { number: 17, name: 'ERROR' },
  Warning: { number: 13, name: 'WARN' },
  Notice: { number: 10, name: 'INFO2' },
  Informational: { number: 9, name: 'INFO' },
  Debug: { number: 5, name: 'DEBUG' },
};

export const SCOPE_NAME = 'falconet';
export const DEFAULT_RESOURCE: Readonly<Record<string, string>> = { 'service.name': 'falco' };

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A Falco value as an OTLP AnyValue, types kept: int64 exact, uint64 beyond int64 as a string. */
export function anyValue(value: JsonValue): AnyValue {
  if (value === null) return {};
  switch (typeof value) {
    case 'string':
      return { stringValue: value };
    case 'boolean':
      return { boolValue: value };
    case 'bigint':
      return value >= INT64_MIN && value <= INT64_MAX ? { intValue: value.toString() } : { stringValue: value.toString() };
    case 'number':
      if (Number.isSafeInteger(value)) return { intValue: String(value) };
      return Number.isFinite(value) ? { doubleValue: value } : { stringValue: String(value) };
    default:
      if (Array.isArray(value)) return { arrayValue: { values: value.map(anyValue) } };
      return { kvlistValue: { values: Object.entries(value).map(([key, v]) => ({ key, value: anyValue(v) })) } };
  }
}

/** Epoch ns as OTLP's fixed64 string; 0 (= unknown, per the proto) for a time before 1970. */
function unixNano(nanos: bigint): string {
  return nanos > 0n ? nanos.toString() : '0';
}

/**
 * One log record: the output text as body; attributes are the output fields under their Falco
 * names (typed), then `falco.*` for the alert's own keys and `falconet.alert_id`. An output field
 * named like one of those is left out: OTLP wants attribute keys unique, and ours say what the
 * alert is.
 */
export function logRecord(alert: Alert, observedNanos: bigint): LogRecord {
  const own: KeyValue[] = [
    { key: 'falco.rule', value: { stringValue: alert.rule } },
    { key: 'falco.priority', value: { stringValue: alert.priority } },
    { key: 'falco.source', value: { stringValue: alert.source } },
    { key: 'falco.tags', value: { arrayValue: { values: alert.tags.map((t) => ({ stringValue: t })) } } },
  ];
  if (alert.hostname) own.push({ key: 'falco.hostname', value: { stringValue: alert.hostname } });
  own.push({ key: 'falconet.alert_id', value: { stringValue: alert.id } });
  const taken = new Set(own.map((kv) => kv.key));
  const fields = Object.entries(alert.output_fields)
    .filter(([key]) => !taken.has(key))
    .map(([key, value]) => ({ key, value: anyValue(value) }));
  const severity = OTEL_SEVERITY[alert.priority];
  return {
    timeUnixNano: unixNano(alertTimeNanos(alert)),
    observedTimeUnixNano: unixNano(observedNanos),
    severityNumber: severity.number,
    severityText: alert.priority,
    body: { stringValue: alert.output ?? alert.message ?? alert.rule },
    attributes: [...fields, ...own],
  };
}

/**
 * The request for a batch: one ResourceLogs per Falco host (`host.name`, plus the configured
 * `resource` attributes, which win), in the order the hosts first appear, alert order kept inside.
 */
export function buildExportRequest(alerts: readonly Alert[], opts: { resource: Readonly<Record<string, string>>; observedNanos: bigint }): ExportLogsServiceRequest {
  const byHost = new Map<string, LogRecord[]>();
  for (const alert of alerts) {
    const host = alert.hostname ?? '';
    let records = byHost.get(host);
    if (!records) byHost.set(host, (records = []));
    records.push(logRecord(alert, opts.observedNanos));
  }
  return {
    resourceLogs: [...byHost].map(([host, logRecords]) => {
      const attributes: KeyValue[] = Object.entries(opts.resource).map(([key, v]) => ({ key, value: { stringValue: v } }));
      if (host !== '' && !('host.name' in opts.resource)) attributes.push({ key: 'host.name', value: { stringValue: host } });
      return { resource: { attributes }, scopeLogs: [{ scope: { name: SCOPE_NAME }, logRecords }] };
    }),
  };
}

export interface PartialSuccess {
  rejected: number;
  message: string;
}

/** `partialSuccess` of a 200 answer (ExportLogsServiceResponse), or undefined when it has none. */
export function partialSuccess(body: string): PartialSuccess | undefined {
  let parsed: { partialSuccess?: { rejectedLogRecords?: unknown; errorMessage?: unknown } };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    return undefined;
  }
  const p = parsed?.partialSuccess;
  if (!p || typeof p !== 'object') return undefined;
  // int64 in the JSON mapping: a string, though some servers write a number.
  const rejected = Number(p.rejectedLogRecords ?? 0);
  const message = typeof p.errorMessage === 'string' ? p.errorMessage : '';
  if (!(rejected > 0) && message === '') return undefined;
  return { rejected: Number.isFinite(rejected) && rejected > 0 ? rejected : 0, message };
}

/**
 * What a partial success means for the batch. The answer counts rejected records but does not
 * name them, and the OTLP spec forbids retrying the request. So: every record rejected → every
 * alert dead-lettered with the server's message; some → the batch counts as delivered and the
 * caller logs a warning with the count (dead-lettering the whole batch would duplicate the
 * accepted records on replay).
 */
export function partialOutcome(alerts: readonly Alert[], partial: PartialSuccess): SendResult | undefined {
  if (partial.rejected < alerts.length) return undefined;
  const reason = `OTLP receiver rejected the log records${partial.message ? `: ${partial.message}` : ''}`;
  return { rejected: alerts.map((alert) => ({ alert, reason })) };
}
