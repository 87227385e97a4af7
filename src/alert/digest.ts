import type { Alert } from './alert.js';
import { parseJson, type JsonObject, type JsonValue } from './json.js';

/** output_fields a digest carries; an output recognises a digest by DIGEST_FIELD. */
export const DIGEST_FIELD = 'falconet.digest';
export const SUPPRESSED_FIELD = 'falconet.suppressed';
export const FIRST_TIME_FIELD = 'falconet.first_time';
export const LAST_TIME_FIELD = 'falconet.last_time';
export const CAUSE_FIELD = 'falconet.cause';
export const HOSTS_FIELD = 'falconet.hosts';
export const NAMESPACES_FIELD = 'falconet.namespaces';
export const PODS_FIELD = 'falconet.pods';
/** The output text of the first folded alert. */
export const EXAMPLE_FIELD = 'falconet.example';

/** Counts of one dimension: the top few by count, then how many alerts the others had. */
export interface TopCounts {
  /** Distinct values seen (hosts, namespaces, pods). */
  distinct: number;
  top: Array<{ name: string; count: number }>;
  /** Alerts of the values not in `top`. */
  others: number;
}

export interface DigestInfo {
  suppressed: number;
  firstTime: string;
  lastTime: string;
  cause: 'storm' | 'overflow';
  hosts: TopCounts;
  namespaces: TopCounts;
  pods: TopCounts;
  /** Output text of the first folded alert. */
  example: string;
}

/** What the flusher read of one bucket in Redis. */
export interface BucketState {
  id: string;
  fields: Record<string, string>;
  hosts: TopCounts;
  namespaces: TopCounts;
  pods: TopCounts;
}

function countsField(c: TopCounts): JsonObject {
  return { distinct: c.distinct, top: c.top.map((t) => ({ name: t.name, count: t.count })), others: c.others };
}

/**
 * The digest of one window, shaped as an alert so every output can send it: the first folded
 * alert (its rule, priority, labels and fields, so PagerDuty's dedup_key and Alertmanager's
 * fingerprint are those of the storm), with its time set to the last event and the digest facts
 * under `falconet.*` output fields.
 */
export function buildDigestAlert(bucket: BucketState): Alert {
  const sample = parseJson(bucket.fields.sample!) as unknown as Alert;
  const info: DigestInfo = {
    suppressed: Number(bucket.fields.n),
    firstTime: bucket.fields.first!,
    lastTime: bucket.fields.last!,
    cause: Number(bucket.fields.overflowed ?? 0) > 0 ? 'overflow' : 'storm',
    hosts: bucket.hosts,
    namespaces: bucket.namespaces,
    pods: bucket.pods,
    example: sample.output ?? sample.message ?? '',
  };
  const digest: Alert = {
    ...sample,
    id: bucket.id,
    time: info.lastTime,
    output_fields: {
      ...sample.output_fields,
      [DIGEST_FIELD]: true,
      [SUPPRESSED_FIELD]: info.suppressed,
      [FIRST_TIME_FIELD]: info.firstTime,
      [LAST_TIME_FIELD]: info.lastTime,
      [CAUSE_FIELD]: info.cause,
      [HOSTS_FIELD]: countsField(info.hosts),
      [NAMESPACES_FIELD]: countsField(info.namespaces),
      [PODS_FIELD]: countsField(info.pods),
      [EXAMPLE_FIELD]: info.example,
    },
  };
  // Generic outputs (webhook, stdout, SIEMs) show `output`: the summary, not one event's text.
  digest.output = digestSummary(digest, info);
  return digest;
}

function readCounts(value: JsonValue | undefined): TopCounts {
  const v = (value ?? {}) as { distinct?: unknown; top?: unknown; others?: unknown };
  const top = Array.isArray(v.top) ? (v.top as Array<{ name: string; count: unknown }>).map((t) => ({ name: String(t.name), count: Number(t.count) })) : [];
  return { distinct: Number(v.distinct ?? top.length), top, others: Number(v.others ?? 0) };
}

/** The digest facts of an alert, or undefined for an ordinary alert. */
export function digestOf(alert: Alert): DigestInfo | undefined {
  const f = alert.output_fields;
  if (f[DIGEST_FIELD] !== true) return undefined;
  return {
    suppressed: Number(f[SUPPRESSED_FIELD] ?? 0),
    firstTime: String(f[FIRST_TIME_FIELD] ?? alert.time),
    lastTime: String(f[LAST_TIME_FIELD] ?? alert.time),
    cause: f[CAUSE_FIELD] === 'overflow' ? 'overflow' : 'storm',
    hosts: readCounts(f[HOSTS_FIELD]),
    namespaces: readCounts(f[NAMESPACES_FIELD]),
    pods: readCounts(f[PODS_FIELD]),
    example: typeof f[EXAMPLE_FIELD] === 'string' ? f[EXAMPLE_FIELD] : '',
  };
}

function clock(time: string): string {
  const match = /T(\d{2}:\d{2}:\d{2})/.exec(time);
  if (match && /Z$/.test(time)) return match[1]!;
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? time : new Date(ms).toISOString().slice(11, 19);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** "Terminal shell in container ×523 on 12 pods in team2, 10:01:02–10:05:40 UTC". */
export function digestSummary(alert: Alert, info: DigestInfo = digestOf(alert)!): string {
  let text = `${alert.rule} ×${info.suppressed}`;
  if (info.pods.distinct > 0) text += ` on ${plural(info.pods.distinct, 'pod')}`;
  else if (info.hosts.distinct > 0) text += ` on ${plural(info.hosts.distinct, 'host')}`;
  if (info.namespaces.distinct === 1) text += ` in ${info.namespaces.top[0]!.name}`;
  else if (info.namespaces.distinct > 1) text += ` in ${plural(info.namespaces.distinct, 'namespace')}`;
  return `${text}, ${clock(info.firstTime)}–${clock(info.lastTime)} UTC`;
}

/** "team2 ×500, team3 ×23, 4 others ×12": one dimension for chat messages. */
export function countsLine(c: TopCounts): string {
  const parts = c.top.map((t) => `${t.name} ×${t.count}`);
  const rest = c.distinct - c.top.length;
  if (rest > 0) parts.push(`${rest} other${rest === 1 ? '' : 's'} ×${c.others}`);
  return parts.join(', ');
}

/** Why the alerts were folded and an example of them, as the body of a chat message, lines joined by `separator`. */
export function digestText(info: DigestInfo, separator: string): string {
  return [causeText(info), info.example !== '' ? `Example: ${info.example}` : ''].filter(Boolean).join(separator);
}

/** Why the alerts were folded, for people. */
export function causeText(info: DigestInfo): string {
  return info.cause === 'overflow'
    ? `${info.suppressed} alerts folded while this destination was more than its backlog bound behind`
    : `${info.suppressed} repeats suppressed by storm control after the first alert`;
}
