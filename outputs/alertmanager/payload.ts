import { DEFAULT_SEVERITY } from '../kit/common.js';
import { alertNamespace, alertPod, alertTimeNanos, type Alert } from '../../src/alert/alert.js';
import { displayValue, stringifyJson } from '../../src/alert/json.js';
import type { Priority } from '../../src/alert/priority.js';
import { causeText, countsLine, digestOf, digestSummary } from '../../src/alert/digest.js';


export interface AlertmanagerPayloadOptions {
  /** Milliseconds after the event time at which Alertmanager resolves the alert. */
  expiresAfter: number;
  extraLabels: Readonly<Record<string, string>>;
  severityMap: Readonly<Partial<Record<Priority, string>>>;
  /** output_fields keys (e.g. customFields keys) that become labels, names sanitised. */
  labelFields: readonly string[];
}

/** One element of the `postableAlerts` array of `POST /api/v2/alerts`. */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
}

/**
 * Label name in the classic Prometheus form `[a-zA-Z_][a-zA-Z0-9_]*`, which every Alertmanager
 * accepts whatever its utf8 mode. Runs of `_` collapse so no name gets the reserved `__` prefix.
 */
export function sanitiseLabelName(name: string): string {
  const cleaned = name.replace(/[^a-zA-Z0-9_]/g, '_').replace(/_+/g, '_');
  if (cleaned === '' || cleaned === '_') return '';
  return /^[0-9]/.test(cleaned) ? `_${cleaned}` : cleaned;
}

function putLabel(labels: Record<string, string>, name: string, value: string | undefined): void {
  const key = sanitiseLabelName(name);
  // Alertmanager drops empty labels itself; dropping them here keeps the fingerprint ours.
  if (key === '' || value === undefined || value === '') return;
  labels[key] = value;
}

/**
 * Falco event time as RFC 3339 with milliseconds: Alertmanager keeps Go time precision, but the
 * fingerprint ignores times and ms is what its UI shows.
 */
function eventTimeMs(alert: Alert): number {
  return Number(alertTimeNanos(alert) / 1_000_000n);
}

/**
 * Labels are a bounded set so that repeats of one rule on one pod fold into one Alertmanager alert
 * (same fingerprint) and grouping works; everything high-cardinality (command lines, pids, paths)
 * goes to annotations, which do not count for identity.
 */
export function buildAlertmanagerAlert(alert: Alert, opts: AlertmanagerPayloadOptions): PostableAlert {
  const labels: Record<string, string> = {};
  for (const [name, value] of Object.entries(opts.extraLabels)) putLabel(labels, name, value);
  for (const field of opts.labelFields) putLabel(labels, field, displayValue(alert.output_fields[field]));
  putLabel(labels, 'k8s_ns_name', alertNamespace(alert));
  putLabel(labels, 'k8s_pod_name', alertPod(alert));
  putLabel(labels, 'hostname', alert.hostname);
  // `source=falco` + `eventsource` is falcosidekick's convention: existing routes keep matching.
  putLabel(labels, 'source', 'falco');
  putLabel(labels, 'eventsource', alert.source);
  putLabel(labels, 'priority', alert.priority);
  putLabel(labels, 'severity', opts.severityMap[alert.priority] ?? DEFAULT_SEVERITY[alert.priority]);
  putLabel(labels, 'alertname', alert.rule);

  const annotations: Record<string, string> = {};
  const put = (name: string, value: string | undefined) => {
    if (value !== undefined && value !== '') annotations[name] = value;
  };
  put('summary', alert.rule);
  put('description', alert.output ?? alert.message);
  put('output_fields', Object.keys(alert.output_fields).length > 0 ? stringifyJson(alert.output_fields) : undefined);
  put('tags', alert.tags.join(','));
  put('time', alert.time);
  put('falconet_id', alert.id);

  let startsMs = eventTimeMs(alert);
  // A digest has the labels of the storm's alerts (same fingerprint): Alertmanager refreshes that
  // alert, from the first folded event to the last, with the digest's counts as annotations.
  const digest = digestOf(alert);
  if (digest) {
    annotations.summary = digestSummary(alert, digest);
    annotations.description = causeText(digest);
    annotations.falconet_suppressed = String(digest.suppressed);
    for (const [name, counts] of [['falconet_hosts', digest.hosts], ['falconet_namespaces', digest.namespaces], ['falconet_pods', digest.pods]] as const) {
      const line = countsLine(counts);
      if (line !== '') annotations[name] = line;
    }
    const first = Date.parse(digest.firstTime);
    if (!Number.isNaN(first)) startsMs = first;
    const last = Date.parse(digest.lastTime);
    return {
      labels,
      annotations,
      startsAt: new Date(startsMs).toISOString(),
      endsAt: new Date((Number.isNaN(last) ? startsMs : last) + opts.expiresAfter).toISOString(),
    };
  }
  return {
    labels,
    annotations,
    startsAt: new Date(startsMs).toISOString(),
    endsAt: new Date(startsMs + opts.expiresAfter).toISOString(),
  };
}

/** The request body: one JSON array carrying the whole batch. */
export function buildAlertmanagerBody(alerts: Alert[], opts: AlertmanagerPayloadOptions): string {
  return JSON.stringify(alerts.map((a) => buildAlertmanagerAlert(a, opts)));
}

export const ALERTMANAGER_API_PATH = '/api/v2/alerts';
