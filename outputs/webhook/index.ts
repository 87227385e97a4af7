import { z } from 'zod';
import type { OutputDefinition } from '../types.js';
import { buildWebhookBody } from './payload.js';

const options = {
  url: z.url({ protocol: /^https?$/ }),
  method: z.enum(['POST', 'PUT']).default('POST'),
  /** Extra request headers, e.g. Authorization: "Bearer ${SIEM_TOKEN}". */
  headers: z.record(z.string(), z.string()).default({}),
};

export const webhookOutput: OutputDefinition<typeof options> = {
  type: 'webhook',
  summary: 'POST (or PUT) each alert as JSON, or a JSON array per batch, to any HTTP endpoint',
  options,
  batching: 'optional',
  secretKeys: ['url', 'headers'],
  example: (baseUrl) => ({ type: 'webhook', url: `${baseUrl}/ingest?token=s3cr3t-webhook-token`, headers: { Authorization: 'Bearer s3cr3t-bearer' } }),
  create(config, { http }) {
    const batched = config.batch !== undefined;
    return {
      async send(alerts, { signal }) {
        await http.send({
          url: config.url,
          method: config.method,
          headers: config.headers,
          body: buildWebhookBody(alerts, batched),
          signal,
        });
      },
    };
  },
};
