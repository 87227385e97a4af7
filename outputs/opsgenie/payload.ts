import { alertNamespace, alertPod, type Alert } from '../../src/alert/alert.js';
import { causeText, countsLine, digestOf, digestSummary, type DigestInfo } from '../../src/alert/digest.js';
import { fieldsKey } from '../../src/alert/identity.js';
import { stringifyJson } from '../../src/alert/json.js';
import type { Priority } from '../../src/alert/priority.js';
import { fieldText, truncate } from '../kit/chat-fields.js';
import { apiUrl } from '../kit/url.js';

export const OPSGENIE_HOSTS = { us: 'https://api.opsgenie.com', eu: 'https://api.eu.opsgenie.com' } as const;
export const OPSGENIE_ALERTS_PATH = '/v2/alerts';

/** Where alerts go: the region's API host, or `url` (a proxy, tests) by the kit's base-URL rule. */
export function opsgenieEndpoint(config: { region: keyof typeof OPSGENIE_HOSTS; url?: string }): string {
  return apiUrl(config.url ?? OPSGENIE_HOSTS[config.region], OPSGENIE_ALERTS_PATH);
}

/** The Alert API's documented field limits (characters). */
export const OPSGENIE_LIMITS = {
  message: 130,
  alias: 512,
  description: 15_000,
  entity: 512,
  source: 100,
  tags: 20,
  tag: 50,
  /** All of `details`, keys and values together. */
  details: 8_000,
  /** One value, so a single command line cannot take the whole budget. */
  detailValue: 1_000,
} as const;

/** PagerDuty's default `dedupKey` too: rule, host, container and command line make "the same" alert. */
export const DEFAULT_ALIAS_FIELDS = ['rule', 'hostname', 'output_fields.container.id', 'output_fields.proc.cmdline'] as const;

export const OPSGENIE_PRIORITIES = ['P1', 'P2', 'P3', 'P4', 'P5'] as const;
export type OpsgeniePriority = (typeof OPSGENIE_PRIORITIES)[number];

/** Falcosidekick's mapping (docs/outputs.md §0.2), kept so a migration pages the same people. */
export const DEFAULT_OPSGENIE_PRIORITY: Readonly<Record<Priority, OpsgeniePriority>> = {
  Emergency: 'P1',
  Alert: 'P1',
  Critical: 'P2',
  Error: 'P3',
  Warning: 'P4',
  Notice: 'P5',
  Informational: 'P5',
  Debug: 'P5',
};

export type Responder = { type: 'team' | 'user' | 'escalation' | 'schedule'; id?: string; name?: string; username?: string };

export interface OpsgenieOptions {
  priorityMap: Readonly<Partial<Record<Priority, OpsgeniePriority>>>;
  /** Alert fields hashed into `alias` (as PagerDuty's `dedupKey`). */
  dedupFields: readonly string[];
  responders: readonly Responder[];
}

export interface OpsgenieAlert {
  message: string;
  alias: string;
  description: string;
  responders?: Responder[];
  tags: string[];
  details: Record<string, string>;
  entity?: string;
  source: 'falco';
  priority: OpsgeniePriority;
}

/** Stable across repeats of "the same" alert: Opsgenie then counts them on one open alert. */
export function opsgenieAlias(alert: Alert, fields: readonly string[]): string {
  return `falco:${fieldsKey(alert, fields)}`.slice(0, OPSGENIE_LIMITS.alias);
}

/** `[Critical] <rule> on <host> (ns/pod)`, or the digest's summary: what the notification says. */
export function opsgenieMessage(alert: Alert, digest = digestOf(alert)): string {
  if (digest) return truncate(`[${alert.priority}] ${digestSummary(alert, digest)}`, OPSGENIE_LIMITS.message);
  const where = [alertNamespace(alert), alertPod(alert)].filter((v) => v !== undefined).join('/');
  const host = alert.hostname ? ` on ${alert.hostname}` : '';
  return truncate(`[${alert.priority}] ${alert.rule}${host}${where ? ` (${where})` : ''}`, OPSGENIE_LIMITS.message);
}

function digestDescription(info: DigestInfo): string {
  const lines = [causeText(info), ''];
  const dims: Array<[string, string]> = [
    ['Hosts', countsLine(info.hosts)],
    ['Namespaces', countsLine(info.namespaces)],
    ['Pods', countsLine(info.pods)],
  ];
  for (const [title, value] of dims) if (value !== '') lines.push(`${title}: ${value}`);
  lines.push(`First event: ${info.firstTime}`, `Last event: ${info.lastTime}`);
  if (info.example !== '') lines.push('', `Example: ${info.example}`);
  return lines.join('\n');
}

/**
 * `details` (string → string): what the alert is, then every output field (dots turned into
 * underscores, as Falcosidekick sends them; numbers and int64 written exactly), sorted by key,
 * within Opsgenie's 8,000 characters: a value is cut to 1,000, and fields past the budget are
 * counted in `omitted_fields` instead.
 */
export function opsgenieDetails(alert: Alert, digest = digestOf(alert)): Record<string, string> {
  const details: Record<string, string> = { rule: alert.rule, priority: alert.priority, falco_source: alert.source };
  if (alert.hostname) details.hostname = alert.hostname;
  details.time = alert.time;
  details.alert_id = alert.id;
  if (alert.tags.length > 0) details.tags = alert.tags.join(', ');
  if (digest) {
    details.suppressed = String(digest.suppressed);
    details.first_time = digest.firstTime;
    details.last_time = digest.lastTime;
    details.cause = digest.cause;
  }
  const size = (k: string, v: string) => k.length + v.length;
  // Room kept for the omitted_fields entry.
  let budget = OPSGENIE_LIMITS.details - 40 - Object.entries(details).reduce((n, [k, v]) => n + size(k, v), 0);
  let omitted = 0;
  const fields = alert.output_fields;
  for (const key of Object.keys(fields).sort()) {
    // A digest's own facts are above, readable; the falconet.* fields hold them as JSON.
    if (digest && key.startsWith('falconet.')) continue;
    const name = key.replace(/\./g, '_');
    if (name in details) continue;
    const value = truncate(fieldText(fields[key]), OPSGENIE_LIMITS.detailValue);
    if (size(name, value) > budget) {
      omitted++;
      continue;
    }
    details[name] = value;
    budget -= size(name, value);
  }
  if (omitted > 0) details.omitted_fields = String(omitted);
  return details;
}

export function buildOpsgenieAlert(alert: Alert, opts: OpsgenieOptions): OpsgenieAlert {
  const digest = digestOf(alert);
  const body: OpsgenieAlert = {
    message: opsgenieMessage(alert, digest),
    // A digest carries the storm's first alert's fields, hence its alias: Opsgenie counts it on
    // the open alert instead of paging again (docs/outputs/opsgenie.md, "Digests").
    alias: opsgenieAlias(alert, opts.dedupFields),
    description: truncate(digest ? digestDescription(digest) : (alert.output ?? alert.message ?? alert.rule), OPSGENIE_LIMITS.description),
    tags: alert.tags.slice(0, OPSGENIE_LIMITS.tags).map((t) => truncate(t, OPSGENIE_LIMITS.tag)),
    details: opsgenieDetails(alert, digest),
    source: 'falco',
    priority: opts.priorityMap[alert.priority] ?? DEFAULT_OPSGENIE_PRIORITY[alert.priority],
  };
  if (opts.responders.length > 0) body.responders = opts.responders.map((r) => ({ ...r }));
  const entity = digest && digest.hosts.distinct > 1 ? undefined : alert.hostname;
  if (entity) body.entity = truncate(entity, OPSGENIE_LIMITS.entity);
  return body;
}

export function buildOpsgenieBody(alert: Alert, opts: OpsgenieOptions): string {
  return stringifyJson(buildOpsgenieAlert(alert, opts));
}
