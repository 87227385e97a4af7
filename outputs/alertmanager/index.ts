import { z } from 'zod';
import { duration } from '../kit/duration.js';
import { DeliveryError, isDeliveryError } from '../kit/errors.js';
import { priorityMap } from '../kit/common.js';
import { defineOutput } from '../kit/define.js';
import { httpClientFor } from '../kit/http-client.js';
import { httpAuth, httpTransportOptions, httpUrl } from '../kit/options.js';
import { apiUrl } from '../kit/url.js';
import type { Alert } from '../../src/alert/alert.js';
import { postToReplica } from './answer.js';
import { ALERTMANAGER_API_PATH, buildAlertmanagerBody } from './payload.js';

const severityMap = priorityMap(z.string().min(1));

const options = {
  /** Every Alertmanager replica, each posted every alert (never a load balancer: replicas do not share alerts). */
  urls: z.array(httpUrl).min(1),
  /** endsAt = event time + this: the alert resolves unless the same labels are posted again. */
  expiresAfter: duration.default(600_000),
  extraLabels: z.record(z.string(), z.string()).default({}),
  /** Priority → `severity` label; unlisted priorities keep the default (critical/error/warning/info). */
  severityMap,
  /** output_fields keys that also become labels (list customFields keys here); keep them low-cardinality. */
  labelFields: z.array(z.string().min(1)).default([]),
  /** headers (e.g. Authorization for a reverse proxy in front of Alertmanager), tls, proxy, gzip. */
  ...httpTransportOptions,
  /** Alertmanager's own basic auth (web.config.file), or a bearer token for a proxy. */
  auth: httpAuth.optional(),
};

export const alertmanagerOutput = defineOutput({
  type: 'alertmanager',
  summary: 'POST batches of alerts to every Prometheus Alertmanager replica (API v2), bounded label set',
  transport: 'http',
  apiPath: ALERTMANAGER_API_PATH,
  options,
  batching: 'always',
  defaultBatch: { size: 100, interval: 1000 },
  secretKeys: ['headers', 'auth'],
  example: ({ url }) => ({ type: 'alertmanager', urls: [url], headers: { Authorization: 'Bearer s3cr3t-am-token' } }),
  create(config, { logger, name }) {
    const http = httpClientFor(config);
    const endpoints = config.urls.map((url) => apiUrl(url, ALERTMANAGER_API_PATH));
    const payloadOptions = {
      expiresAfter: config.expiresAfter,
      extraLabels: config.extraLabels,
      severityMap: config.severityMap,
      labelFields: config.labelFields,
    };
    return {
      async send(alerts, { signal }) {
        const bodyOf = (batch: Alert[]) => buildAlertmanagerBody(batch, payloadOptions);
        const results = await Promise.allSettled(endpoints.map((url) => postToReplica(http, url, alerts, bodyOf, signal)));
        const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
        if (failures.length > 0) throw combineFailures(failures, endpoints.length);
        // Only Alertmanager's own validation answer is a partial success: the rest of the batch is in.
        const rejected = new Map<Alert, string>();
        for (const r of results) if (r.status === 'fulfilled') for (const [alert, reason] of r.value.rejected) if (!rejected.has(alert)) rejected.set(alert, reason);
        if (rejected.size === 0) return;
        logger.warn({ output: name, rejected: rejected.size, of: alerts.length, first: rejected.values().next().value }, 'alertmanager refused some alerts of a batch');
        return { rejected: [...rejected].map(([alert, reason]) => ({ alert, reason })) };
      },
      close: () => http.close(),
    };
  },
});

/**
 * One error for the job. Any retryable failure makes the job retry (re-posting to replicas that
 * already have the alerts is harmless: same labels, same fingerprint); only when every failure is
 * permanent does the job go to the dead letters.
 */
function combineFailures(failures: unknown[], replicas: number): Error {
  const errors = failures.filter(isDeliveryError);
  if (errors.length < failures.length) return failures.find((f) => !isDeliveryError(f)) as Error;
  if (errors.length === 1 && replicas === 1) return errors[0]!;
  const lead = errors.find((e) => e.retryable) ?? errors[0]!;
  const pauses = errors.flatMap((e) => (e.retryAfterMs !== undefined ? [e.retryAfterMs] : []));
  return new DeliveryError(`${errors.length} of ${replicas} Alertmanager replicas failed: ${errors.map((e) => e.message).join('; ')}`, {
    retryable: lead.retryable,
    reason: lead.reason,
    status: lead.status,
    retryAfterMs: pauses.length > 0 ? Math.max(...pauses) : undefined,
  });
}
