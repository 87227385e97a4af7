import type { Alert } from '../../src/alert/alert.js';
import { classifyHttpStatus } from '../kit/classify.js';
import type { HttpClient, HttpResponse } from '../kit/http-client.js';
import { redactUrl } from '../kit/redact.js';

/**
 * Alertmanager's own answer to a batch with invalid alerts (api/v2 postAlertsHandler, checked
 * against prometheus-alertmanager 0.25): HTTP 400 whose body is one JSON *string*, the validation
 * errors joined by "; ", after the valid alerts were inserted. Any other 400 (a proxy's HTML page,
 * Alertmanager's own `{"code":400,…}` for an unparseable body, which inserts nothing) is not that.
 */
export function validationErrors(res: HttpResponse): string | undefined {
  if (res.status !== 400) return undefined;
  const body = res.body.trim();
  if (!body.startsWith('"')) return undefined;
  try {
    const message = JSON.parse(body) as unknown;
    return typeof message === 'string' ? message : undefined;
  } catch {
    return undefined;
  }
}

export type ReplicaAnswer = { rejected: Map<Alert, string> };

/**
 * Posts the batch to one replica. On Alertmanager's partial answer the valid alerts are in, but it
 * does not say which were not: each alert is posted again alone (harmless for the ones already in:
 * the same labels refresh the same alert) and those answered with a validation error are rejected.
 * Every other non-2xx goes through the shared classifier (a proxy's 400 fails with its body).
 */
export async function postToReplica(
  http: HttpClient,
  url: string,
  alerts: Alert[],
  bodyOf: (alerts: Alert[]) => string,
  signal: AbortSignal,
): Promise<ReplicaAnswer> {
  const target = redactUrl(url);
  const res = await http.request({ url, body: bodyOf(alerts), signal });
  const errors = validationErrors(res);
  if (errors === undefined) {
    classifyHttpStatus(res.status, res.headers, res.body, target);
    return { rejected: new Map() };
  }
  const reasonFor = (message: string) => `Alertmanager ${target} refused the alert: ${message}`;
  if (alerts.length === 1) return { rejected: new Map([[alerts[0]!, reasonFor(errors)]]) };
  const rejected = new Map<Alert, string>();
  await Promise.all(
    alerts.map(async (alert) => {
      const one = await http.request({ url, body: bodyOf([alert]), signal });
      const error = validationErrors(one);
      if (error !== undefined) rejected.set(alert, reasonFor(error));
      else classifyHttpStatus(one.status, one.headers, one.body, target);
    }),
  );
  return { rejected };
}
