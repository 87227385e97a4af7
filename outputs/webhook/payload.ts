import type { Alert } from '../../src/alert/alert.js';
import { stringifyJson } from '../../src/alert/json.js';

/**
 * The webhook body: the alert as Falco sent it plus Falconet's `id`, or a JSON array of them when
 * the instance batches. Big integers (evt.time) are written back exactly.
 */
export function buildWebhookBody(alerts: Alert[], batched: boolean): string {
  return stringifyJson(batched ? alerts : alerts[0]);
}
