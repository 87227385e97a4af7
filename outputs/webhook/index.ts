import { z } from 'zod';
import { defineOutput } from '../kit/define.js';
import { httpClientFor } from '../kit/http-client.js';
import { httpOptions, mustacheTemplate } from '../kit/options.js';
import { BODY_TEMPLATE_VOCABULARY, buildWebhookBody, idempotencyKey, signBody, webhookContentType } from './payload.js';

const options = {
  /** url, headers (e.g. Authorization: "Bearer ${SIEM_TOKEN}"), auth, tls, proxy, gzip. */
  ...httpOptions,
  method: z.enum(['POST', 'PUT']).default('POST'),
  /** `json`: one object, or an array per batch. `ndjson`: one alert per line. */
  format: z.enum(['json', 'ndjson']).default('json'),
  /** HMAC-SHA256 signature of timestamp + "." + body, so the receiver can check the origin. */
  signing: z
    .strictObject({
      secret: z.string().min(1),
      header: z.string().min(1).default('X-Falconet-Signature'),
      timestampHeader: z.string().min(1).default('X-Falconet-Timestamp'),
    })
    .optional(),
  /** Mustache template of the body, rendered per alert, checked at load (see docs/outputs/webhook.md). */
  bodyTemplate: mustacheTemplate(BODY_TEMPLATE_VOCABULARY).optional(),
};

export const webhookOutput = defineOutput({
  type: 'webhook',
  summary: 'POST (or PUT) each alert as JSON, or a JSON array / NDJSON per batch, to any HTTP endpoint; optional HMAC signing',
  transport: 'http',
  options,
  batching: 'optional',
  secretKeys: ['url', 'headers', 'signing.secret', 'auth'],
  example: ({ url }) => ({
    type: 'webhook',
    url: `${url}/ingest?token=s3cr3t-webhook-token`,
    headers: { 'X-Api-Key': 's3cr3t-header-key' },
    batch: { size: 100, interval: '1s' },
    signing: { secret: 's3cr3t-hmac-key' },
    auth: { bearer: 's3cr3t-bearer' },
  }),
  create(config) {
    const http = httpClientFor(config);
    const batched = config.batch !== undefined;
    // A Content-Type among the user's headers wins (the client sends those with every request).
    const userContentType = Object.keys(config.headers).some((name) => name.toLowerCase() === 'content-type');
    const contentType: Record<string, string> = userContentType ? {} : { 'content-type': webhookContentType(config.format) };
    return {
      async send(alerts, { signal }) {
        const body = buildWebhookBody(alerts, { batched, format: config.format, bodyTemplate: config.bodyTemplate });
        const headers: Record<string, string> = { ...contentType, 'idempotency-key': idempotencyKey(alerts) };
        if (config.signing) {
          const timestamp = String(Math.floor(Date.now() / 1000));
          headers[config.signing.timestampHeader] = timestamp;
          headers[config.signing.header] = signBody(config.signing.secret, timestamp, body);
        }
        await http.send({ url: config.url, method: config.method, headers, body, signal });
      },
      close: () => http.close(),
    };
  },
});
