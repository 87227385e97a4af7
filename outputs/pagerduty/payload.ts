import { DEFAULT_SEVERITY, type Severity } from '../kit/common.js';
import { alertNamespace, alertPod, alertTimeNanos, type Alert } from '../../src/alert/alert.js';
import { displayValue, stringifyJson, type JsonObject } from '../../src/alert/json.js';
import type { Priority } from '../../src/alert/priority.js';
import { apiUrl } from '../kit/url.js';
import { fieldsKey } from '../../src/alert/identity.js';
import { digestOf, digestSummary } from '../../src/alert/digest.js';

export type PagerDutySeverity = Severity;


export const PD_HOSTS = { us: 'https://events.pagerduty.com', eu: 'https://events.eu.pagerduty.com' } as const;

export const PD_ENQUEUE_PATH = '/v2/enqueue';

/** Where events go: the region's Events API v2 host, or `url` (a proxy, tests) by the kit's base-URL rule. */
export function pagerdutyEndpoint(config: { region: keyof typeof PD_HOSTS; url?: string }): string {
  return apiUrl(config.url ?? PD_HOSTS[config.region], PD_ENQUEUE_PATH);
}

/** PagerDuty's documented limits (Events API v2). */
export const SUMMARY_MAX_CHARS = 1024;
export const DEDUP_KEY_MAX_CHARS = 255;
/** "512 KB" read conservatively as 512 000 bytes. */
export const MAX_REQUEST_BYTES = 512_000;
/** Room left for `output` when even trimming every output field is not enough. */
const OUTPUT_KEEP_CHARS = 16_384;

export interface PagerDutyPayloadOptions {
  routingKey: string;
  severityMap: Readonly<Partial<Record<Priority, PagerDutySeverity>>>;
  /** Alert fields hashed into dedup_key (same syntax as the router's `dedup.key`). */
  dedupFields: readonly string[];
}

/** Cuts at a code-point boundary and marks the cut, so PagerDuty never sees half a surrogate pair. */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = max - 1;
  if (/[\uD800-\uDBFF]/.test(text.charAt(cut - 1))) cut -= 1;
  return `${text.slice(0, cut)}…`;
}

/** `[Critical] <rule> on <host> (ns/pod)`: what the on-call engineer reads first. */
export function pagerdutySummary(alert: Alert): string {
  const digest = digestOf(alert);
  if (digest) return truncate(`[${alert.priority}] ${digestSummary(alert, digest)}`, SUMMARY_MAX_CHARS);
  const where = [alertNamespace(alert), alertPod(alert)].filter((v) => v !== undefined).join('/');
  const host = alert.hostname ? ` on ${alert.hostname}` : '';
  return truncate(`[${alert.priority}] ${alert.rule}${host}${where ? ` (${where})` : ''}`, SUMMARY_MAX_CHARS);
}

/** Container image (`repo:tag`), else the process name: what PagerDuty calls the component. */
function component(alert: Alert): string | undefined {
  const f = alert.output_fields;
  const image = displayValue(f['container.image.repository']);
  if (image !== '') {
    const tag = displayValue(f['container.image.tag']);
    return tag !== '' ? `${image}:${tag}` : image;
  }
  const proc = displayValue(f['proc.name']);
  return proc !== '' ? proc : undefined;
}

/** Stable across repeats of "the same" alert so PagerDuty folds them into one incident. */
export function pagerdutyDedupKey(alert: Alert, fields: readonly string[]): string {
  return `falco:${fieldsKey(alert, fields)}`.slice(0, DEDUP_KEY_MAX_CHARS);
}

interface PagerDutyEvent {
  routing_key: string;
  event_action: 'trigger';
  dedup_key: string;
  client: string;
  payload: {
    summary: string;
    source: string;
    severity: PagerDutySeverity;
    timestamp: string;
    component?: string;
    group?: string;
    class: string;
    custom_details: {
      rule: string;
      priority: Priority;
      falco_source: string;
      hostname?: string;
      time: string;
      tags: string[];
      output?: string;
      alert_id: string;
      output_fields: JsonObject;
      trimmed_fields?: string[];
      /** A storm-control digest: what was folded since the first alert of this dedup_key. */
      digest?: { suppressed: number; first_time: string; last_time: string; cause: string; hosts: JsonObject; namespaces: JsonObject; pods: JsonObject };
    };
  };
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: string });
}

export function buildPagerDutyEvent(alert: Alert, opts: PagerDutyPayloadOptions): PagerDutyEvent {
  const event: PagerDutyEvent = {
    routing_key: opts.routingKey,
    event_action: 'trigger',
    dedup_key: pagerdutyDedupKey(alert, opts.dedupFields),
    client: 'Falconet',
    payload: {
      summary: pagerdutySummary(alert),
      source: alert.hostname || 'falco',
      severity: opts.severityMap[alert.priority] ?? DEFAULT_SEVERITY[alert.priority],
      timestamp: new Date(Number(alertTimeNanos(alert) / 1_000_000n)).toISOString(),
      ...optional('component', component(alert)),
      ...optional('group', alertNamespace(alert)),
      class: truncate(alert.rule, SUMMARY_MAX_CHARS),
      custom_details: {
        rule: alert.rule,
        priority: alert.priority,
        falco_source: alert.source,
        hostname: alert.hostname,
        time: alert.time,
        tags: alert.tags,
        output: alert.output ?? alert.message,
        alert_id: alert.id,
        output_fields: { ...alert.output_fields },
      },
    },
  };
  // A digest keeps the storm's dedup_key (it carries the first folded alert's fields), so
  // PagerDuty updates the open incident's details instead of paging again.
  const digest = digestOf(alert);
  if (digest) {
    const counts = (c: typeof digest.hosts): JsonObject => ({ distinct: c.distinct, top: c.top.map((t) => ({ name: t.name, count: t.count })), others: c.others });
    event.payload.custom_details.digest = {
      suppressed: digest.suppressed,
      first_time: digest.firstTime,
      last_time: digest.lastTime,
      cause: digest.cause,
      hosts: counts(digest.hosts),
      namespaces: counts(digest.namespaces),
      pods: counts(digest.pods),
    };
  }
  return event;
}

/**
 * The request body, under PagerDuty's 512 KB limit. What grows is attacker-influenced text (command
 * lines, audit bodies, and `output`, which repeats them): the largest of the output fields and
 * `output` go first, a field replaced by a note, `output` cut to its first 16 KiB, until it fits.
 * Returns undefined when even that cannot fit (the alert cannot be sent as is).
 */
export function buildPagerDutyBody(alert: Alert, opts: PagerDutyPayloadOptions, maxBytes = MAX_REQUEST_BYTES): string | undefined {
  const event = buildPagerDutyEvent(alert, opts);
  let body = stringifyJson(event);
  if (Buffer.byteLength(body) <= maxBytes) return body;

  const details = event.payload.custom_details;
  const candidates = Object.entries(details.output_fields).map(([key, value]) => ({ key, size: Buffer.byteLength(stringifyJson(value)) }));
  if (details.output !== undefined && details.output.length > OUTPUT_KEEP_CHARS) {
    candidates.push({ key: OUTPUT_KEY, size: Buffer.byteLength(stringifyJson(details.output)) });
  }
  candidates.sort((a, b) => b.size - a.size || (a.key < b.key ? -1 : 1));
  details.trimmed_fields = [];
  for (const { key, size } of candidates) {
    if (key === OUTPUT_KEY) details.output = truncate(details.output!, OUTPUT_KEEP_CHARS);
    else details.output_fields[key] = `[trimmed by Falconet: ${size} bytes]`;
    details.trimmed_fields.push(key);
    body = stringifyJson(event);
    if (Buffer.byteLength(body) <= maxBytes) return body;
  }
  return undefined;
}

// Not an output field name Falco can produce (they contain a dot or are plain words).
const OUTPUT_KEY = '(output)';
