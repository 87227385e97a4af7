import type { Alert } from '../../src/alert/alert.js';
import type { Priority } from '../../src/alert/priority.js';
import { displayValue, type JsonValue } from '../../src/alert/json.js';
import { countsLine, type DigestInfo } from '../../src/alert/digest.js';

/**
 * What chat outputs (Slack, Teams) show of an alert besides its title and output text, and the
 * truncation they share. Pure functions: the payload builders' goldens depend on them.
 */

export interface ChatField {
  title: string;
  value: string;
}

const NAMESPACE_KEYS = ['k8s.ns.name', 'ka.target.namespace', 'k8smeta.ns.name'];
const POD_KEYS = ['k8s.pod.name', 'k8smeta.pod.name'];

/** The first key of `keys` holding a non-empty string: shown once, under a friendly title. */
function firstPresent(fields: Alert['output_fields'], keys: string[]): string | undefined {
  return keys.find((k) => typeof fields[k] === 'string' && fields[k] !== '');
}

/**
 * A field value for people. Falcosidekick drops every non-string field; here numbers and int64
 * values are written exactly, and null/empty are made visible rather than left blank.
 */
export function fieldText(value: JsonValue | undefined): string {
  if (value === null || value === undefined) return 'null';
  if (value === '') return '""';
  return displayValue(value);
}

/**
 * Rule, priority, source, hostname, namespace, pod and tags, then every other output field sorted
 * by key (so the message reads the same whatever order Falco wrote the fields in).
 */
export function alertChatFields(alert: Alert): ChatField[] {
  const fields = alert.output_fields;
  const out: ChatField[] = [
    { title: 'Rule', value: alert.rule },
    { title: 'Priority', value: alert.priority },
    { title: 'Source', value: alert.source },
  ];
  if (alert.hostname) out.push({ title: 'Hostname', value: alert.hostname });
  const nsKey = firstPresent(fields, NAMESPACE_KEYS);
  const podKey = firstPresent(fields, POD_KEYS);
  if (nsKey) out.push({ title: 'Namespace', value: fields[nsKey] as string });
  if (podKey) out.push({ title: 'Pod', value: fields[podKey] as string });
  if (alert.tags.length > 0) out.push({ title: 'Tags', value: alert.tags.join(', ') });
  for (const key of Object.keys(fields).sort()) {
    if (key === nsKey || key === podKey) continue;
    out.push({ title: key, value: fieldText(fields[key]) });
  }
  return out;
}

/**
 * Cuts `text` to at most `max` UTF-16 units (every destination's limit is at least as loose),
 * ending with an ellipsis, never splitting a surrogate pair.
 */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, Math.max(0, max - 1));
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** Where a digest's alerts came from and when, as chat fields (empty ones left out). */
export function digestChatFields(alert: Alert, info: DigestInfo, opts: { withRule: boolean }): ChatField[] {
  return [
    { title: 'Hosts', value: countsLine(info.hosts) },
    { title: 'Namespaces', value: countsLine(info.namespaces) },
    { title: 'Pods', value: countsLine(info.pods) },
    { title: 'First event', value: info.firstTime },
    { title: 'Last event', value: info.lastTime },
    ...(opts.withRule ? [{ title: 'Rule', value: alert.rule }] : []),
    { title: 'Priority', value: alert.priority },
  ].filter((f) => f.value !== '');
}

/** falcosidekick's Slack palette (outputs.md §0.2), which Falco users already recognise: Slack,
 * Mattermost (Slack-compatible attachments) and Google Chat use it. */
export const SLACK_COLORS: Record<Priority, string> = {
  Emergency: '#e20b0b',
  Alert: '#ff5400',
  Critical: '#ff5400',
  Error: '#e20b0b',
  Warning: '#ffc700',
  Notice: '#5bffb5',
  Informational: '#68c2ff',
  Debug: '#ccfff2',
};
