import { alertNamespace, alertTimeNanos, type Alert } from '../../src/alert/alert.js';
import { stringifyJson } from '../../src/alert/json.js';
import type { SendResult } from '../kit/types.js';

export interface HecOptions {
  sourcetype: string;
  index?: string;
}

/**
 * One HEC request body: the event envelopes back to back, one per line (HEC wants no array).
 * `fields` are indexed in Splunk, so they hold the few keys people filter on; `event` is the alert.
 */
export function buildHecBody(alerts: Alert[], opts: HecOptions): string {
  return alerts.map((a) => hecEvent(a, opts)).join('\n') + '\n';
}

export function hecEvent(alert: Alert, opts: HecOptions): string {
  const fields: Record<string, string> = { rule: alert.rule, priority: alert.priority };
  const namespace = alertNamespace(alert);
  if (namespace) fields.namespace = namespace;
  fields.alert_id = alert.id;
  fields.falco_source = alert.source;
  const envelope: Record<string, unknown> = {};
  if (alert.hostname) envelope.host = alert.hostname;
  envelope.source = 'falco';
  envelope.sourcetype = opts.sourcetype;
  if (opts.index) envelope.index = opts.index;
  envelope.fields = fields;
  envelope.event = alert;
  // `time` is written as a decimal literal with all 9 fraction digits: a double would lose the
  // nanoseconds, and HEC reads the literal itself.
  return `{"time":${epochSeconds(alertTimeNanos(alert))},${stringifyJson(envelope).slice(1)}`;
}

/** Epoch nanoseconds as seconds with 9 decimals, exactly: 1749708161.123456789. */
export function epochSeconds(nanos: bigint): string {
  const sign = nanos < 0n ? '-' : '';
  const abs = nanos < 0n ? -nanos : nanos;
  return `${sign}${abs / 1_000_000_000n}.${(abs % 1_000_000_000n).toString().padStart(9, '0')}`;
}

/**
 * HEC's answer to a batch with a bad event: 400 with `invalid-event-number` (0-based) naming the
 * first event it refused; the events before it were indexed. Returns the per-alert outcome, or
 * undefined when the body does not say which event failed (then the whole request failed).
 */
export function hecPartialFailure(alerts: Alert[], status: number, body: string): SendResult | undefined {
  if (status !== 400) return undefined;
  let parsed: { text?: unknown; code?: unknown; 'invalid-event-number'?: unknown };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    return undefined;
  }
  const n = parsed['invalid-event-number'];
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n >= alerts.length) return undefined;
  const text = typeof parsed.text === 'string' ? parsed.text : 'invalid event';
  const code = typeof parsed.code === 'number' ? ` (code ${parsed.code})` : '';
  return {
    rejected: [{ alert: alerts[n]!, reason: `Splunk HEC: ${text}${code}` }],
    retry: alerts.slice(n + 1),
  };
}
