import { z } from 'zod';
import { basicAuth } from '../auth.js';
import { tlsConfig } from '../common.js';
import type { OutputDefinition } from '../types.js';
import { buildWebhookBody, idempotencyKey, signBody, webhookContentType } from './payload.js';

const options = {
  url: z.url({ protocol: /^https?$/ }),
  method: z.enum(['POST', 'PUT']).default('POST'),
  /** Extra request headers, e.g. Authorization: "Bearer ${SIEM_TOKEN}". */
  headers: z.record(z.string(), z.string()).default({}),
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
  auth: z
    .union([z.strictObject({ username: z.string(), password: z.string() }), z.strictObject({ bearer: z.string().min(1) })])
    .optional(),
  /** Client certificate and CA for HTTPS receivers; applied by the worker's HTTP client. */
  tls: tlsConfig.optional(),
  /** Mustache template of the body, rendered per alert (see docs/outputs/webhook.md). */
  bodyTemplate: z.string().min(1).optional(),
};

export const webhookOutput: OutputDefinition<typeof options> = {
  type: 'webhook',
  summary: 'POST (or PUT) each alert as JSON, or a JSON array / NDJSON per batch, to any HTTP endpoint; optional HMAC signing',
  options,
  batching: 'optional',
  secretKeys: ['url', 'headers', 'signing.secret', 'auth'],
  example: (baseUrl) => ({
    type: 'webhook',
    url: `${baseUrl}/ingest?token=s3cr3t-webhook-token`,
    headers: { 'X-Api-Key': 's3cr3t-header-key' },
    batch: { size: 100, interval: '1s' },
    signing: { secret: 's3cr3t-hmac-key' },
    auth: { bearer: 's3cr3t-bearer' },
  }),
  create(config, { http }) {
    const batched = config.batch !== undefined;
    // Lower-cased so a user's "Content-Type" replaces ours instead of being sent twice.
    const staticHeaders: Record<string, string> = { 'content-type': webhookContentType(config.format) };
    for (const [name, value] of Object.entries(config.headers)) staticHeaders[name.toLowerCase()] = value;
    if (config.auth) {
      staticHeaders.authorization =
        'bearer' in config.auth ? `Bearer ${config.auth.bearer}` : basicAuth(config.auth.username, config.auth.password);
    }
    return {
      async send(alerts, { signal }) {
        const body = buildWebhookBody(alerts, { batched, format: config.format, bodyTemplate: config.bodyTemplate });
        const headers: Record<string, string> = { ...staticHeaders, 'idempotency-key': idempotencyKey(alerts) };
        if (config.signing) {
          const timestamp = String(Math.floor(Date.now() / 1000));
          headers[config.signing.timestampHeader] = timestamp;
          headers[config.signing.header] = signBody(config.signing.secret, timestamp, body);
        }
        await http.send({ url: config.url, method: config.method, headers, body, signal });
      },
    };
  },
};
