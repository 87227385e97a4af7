import { createHash, createHmac } from 'node:crypto';
import Mustache from 'mustache';
import { alertNamespace, alertPod, type Alert } from '../../src/alert/alert.js';
import { alertJson, displayValue, stringifyJson, type JsonValue } from '../../src/alert/json.js';
import type { TemplateVocabulary } from '../kit/template.js';

export interface WebhookBodyOptions {
  /** A JSON array per request (the instance sets `batch`); otherwise the single alert object. */
  batched: boolean;
  format: 'json' | 'ndjson';
  /** Mustache template rendered per alert; replaces the JSON document. */
  bodyTemplate?: string;
}

/**
 * The webhook body. `json`: the alert as Falco sent it plus Falconet's `id`, or a JSON array of them
 * when batched. `ndjson`: one alert per line, each line ending in "\n". With a `bodyTemplate`, each
 * alert is rendered and the renderings are joined by newlines. Big integers are written exactly.
 */
export function buildWebhookBody(alerts: Alert[], opts: WebhookBodyOptions): string {
  if (opts.bodyTemplate !== undefined) {
    const template = opts.bodyTemplate;
    const text = alerts.map((a) => renderBodyTemplate(template, a)).join('\n');
    return opts.format === 'ndjson' ? `${text}\n` : text;
  }
  if (opts.format === 'ndjson') return alerts.map((a) => `${alertJson(a)}\n`).join('');
  // A non-batching instance only ever gets one alert; an array keeps any surplus from being lost.
  if (opts.batched || alerts.length > 1) return `[${alerts.map(alertJson).join(',')}]`;
  return alertJson(alerts[0]!);
}

/** What a body template can name: the alert's keys, `fields.<key_with_underscores>`, `json`. */
export const BODY_TEMPLATE_VOCABULARY: TemplateVocabulary = {
  names: ['id', 'rule', 'priority', 'time', 'source', 'hostname', 'output', 'message', 'tags', 'output_fields', 'namespace', 'pod', 'fields', 'json'],
  prefixes: ['fields.'],
  hint: 'output fields are {{fields.k8s_ns_name}}: dots become underscores',
};

export function webhookContentType(format: 'json' | 'ndjson'): string {
  return format === 'ndjson' ? 'application/x-ndjson' : 'application/json';
}

/** Same alerts, same key: a receiver can drop the retry of a request it already processed. */
export function idempotencyKey(alerts: Alert[]): string {
  if (alerts.length === 1) return alerts[0]!.id;
  return createHash('sha256').update(alerts.map((a) => a.id).join(',')).digest('hex');
}

/**
 * `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`. The timestamp is inside the MAC so
 * a receiver can refuse replays of an old request (the Stripe / Slack scheme).
 */
export function signBody(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Renders a body template. Values are escaped for a JSON string (templates are usually JSON
 * documents and alert text is attacker-influenced); `{{{triple}}}` inserts raw text. Output fields
 * are under `fields` with dots turned into underscores (`{{fields.k8s_ns_name}}`), because
 * mustache reads dots as nesting. Not outputs/template.ts: that renders without escaping (chat
 * outputs escape for their own markup afterwards), which would let alert text break a JSON body.
 */
export function renderBodyTemplate(template: string, alert: Alert): string {
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(alert.output_fields)) fields[key.replace(/\./g, '_')] = displayValue(value as JsonValue);
  const view = {
    ...alert,
    namespace: alertNamespace(alert) ?? '',
    pod: alertPod(alert) ?? '',
    fields,
    tags: alert.tags.join(','),
    json: stringifyJson(alert),
  };
  return Mustache.render(template, view, undefined, { escape: escapeJsonString });
}

function escapeJsonString(value: unknown): string {
  return JSON.stringify(String(value)).slice(1, -1);
}
