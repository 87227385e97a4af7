import { createHash } from 'node:crypto';
import { alertField, type Alert } from './alert.js';
import { stringifyJson, type JsonValue } from './json.js';

/**
 * JSON with object keys sorted at every level and big integers as their exact digits: two
 * renderings of one value (Falco's key order, a re-serialised body) give the same text.
 */
export function canonicalJson(value: JsonValue | undefined): string {
  if (value === undefined || value === null) return 'null';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
}

/**
 * Which Falco event an alert is: its rule, source, every output field (`evt.time` included), its
 * event time and output text, plus the hostname for syscall events only. A k8s_audit or plugin
 * event read by two Falco instances (two nodes receiving one audit stream) is one event; two
 * syscall events are the same only on the same host. `time` and `output` only ever separate
 * events: a rule whose output shows no %evt.time (or a text alert with no output fields) must not
 * make distinct events look alike, and a true duplicate carries the same values anyway.
 */
export function eventIdentity(alert: Alert): string {
  const host = alert.source === 'syscall' ? (alert.hostname ?? '') : '';
  const text = `${JSON.stringify([alert.rule, alert.source, host, alert.time, alert.output ?? alert.message ?? ''])}${canonicalJson(alert.output_fields)}`;
  return createHash('sha256').update(text).digest('hex').slice(0, 40);
}

/** A hash of some alert fields: PagerDuty's `dedup_key`, Opsgenie's alias and storm-control keys. */
export function fieldsKey(alert: Alert, fields: readonly string[]): string {
  const values = fields.map((f) => alertField(alert, f) ?? null);
  return createHash('sha1').update(stringifyJson(values)).digest('hex');
}
