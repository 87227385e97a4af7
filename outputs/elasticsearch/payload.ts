import type { Alert } from '../../src/alert/alert.js';
import { stringifyJson } from '../../src/alert/json.js';
import type { SendResult } from '../kit/types.js';

export const DEFAULT_INDEX = 'falco-%Y.%m.%d';

/** Where documents go: an index name pattern (date from the alert time), or a data stream. */
export type BulkTarget = { index: string } | { dataStream: string };

/**
 * A `_bulk` body: per alert a `create` action with `_id` = alert id (a retried request cannot
 * store a document twice: the second create answers 409) and the alert with `@timestamp`.
 * Every line ends with "\n", the last one included, as the bulk API requires.
 */
export function buildBulkBody(alerts: Alert[], target: BulkTarget): string {
  let body = '';
  for (const alert of alerts) {
    const index = 'dataStream' in target ? target.dataStream : indexName(target.index, alert);
    body += `${stringifyJson({ create: { _index: index, _id: alert.id } })}\n`;
    body += `${stringifyJson({ '@timestamp': alert.time, ...alert })}\n`;
  }
  return body;
}

/**
 * Expands %Y %m %d %H (UTC, from the alert's own time, so a late retry lands in the day the event
 * happened) and %% in an index pattern.
 */
export function indexName(pattern: string, alert: Alert): string {
  const ms = Date.parse(alert.time);
  const d = new Date(Number.isNaN(ms) ? 0 : ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return pattern.replace(/%([YmdH%])/g, (_, c: string) => {
    switch (c) {
      case 'Y':
        return String(d.getUTCFullYear());
      case 'm':
        return two(d.getUTCMonth() + 1);
      case 'd':
        return two(d.getUTCDate());
      case 'H':
        return two(d.getUTCHours());
      default:
        return '%';
    }
  });
}

interface BulkItem {
  status?: number;
  error?: { type?: string; reason?: string } | string;
}

/**
 * Per-document outcome of a 2xx bulk answer (the bulk API answers 200 even when items fail).
 * Only `"errors": true` is read item by item, as every client does: any other 2xx answer counts as
 * delivered, like a 2xx anywhere else. Items: 2xx and 409 (this `_id` is already stored) are
 * delivered; 429 and 5xx are retried; anything else (mapping errors) is rejected with
 * `<type>: <reason>`. Undefined when every item succeeded. Throws when the items cannot be matched
 * to the alerts: the caller retries the whole request, which `create` + `_id` makes safe.
 */
export function bulkOutcome(alerts: Alert[], responseBody: string): SendResult | undefined {
  if (!/"errors"\s*:\s*true/.test(responseBody)) return undefined;
  const parsed = JSON.parse(responseBody) as { errors?: boolean; items?: Array<Record<string, BulkItem>> };
  if (parsed.errors !== true) return undefined;
  const items = parsed.items;
  if (!Array.isArray(items) || items.length !== alerts.length) {
    throw new Error(`bulk answer has ${Array.isArray(items) ? items.length : 'no'} items for ${alerts.length} documents`);
  }
  const retry: Alert[] = [];
  const rejected: Array<{ alert: Alert; reason: string }> = [];
  items.forEach((item, i) => {
    const result = Object.values(item)[0] ?? {};
    const status = result.status ?? 0;
    if ((status >= 200 && status < 300) || status === 409) return;
    if (status === 429 || status >= 500) retry.push(alerts[i]!);
    else rejected.push({ alert: alerts[i]!, reason: itemReason(status, result.error) });
  });
  if (retry.length === 0 && rejected.length === 0) return undefined;
  return { retry, rejected };
}

function itemReason(status: number, error: BulkItem['error']): string {
  if (typeof error === 'string') return error;
  if (error?.type || error?.reason) return `${error.type ?? 'error'}: ${error.reason ?? ''}`.trim();
  return `bulk item failed with status ${status}`;
}
