import { z } from 'zod';
import { DeliveryError } from '../kit/errors.js';
import { redactUrl } from '../kit/redact.js';
import { defineOutput } from '../kit/define.js';
import { httpClientFor } from '../kit/http-client.js';
import { chatOptions, httpTransportOptions, httpUrl } from '../kit/options.js';
import { buildTeamsBody } from './payload.js';

const options = {
  /** Workflows "When a Teams webhook request is received" URL; its `sig` query is the credential. */
  webhookUrl: httpUrl,
  ...httpTransportOptions,
  ...chatOptions,
  /** `adaptive`: Workflows Adaptive Card; `messagecard`: legacy Office 365 connector card. */
  format: z.enum(['adaptive', 'messagecard']).default('adaptive'),
};

// Legacy connectors reported throttling as a 200 whose body says so (outputs.md §2.3).
const CONNECTOR_THROTTLED = /HTTP error 429/;

export const teamsOutput = defineOutput({
  type: 'teams',
  summary: 'Microsoft Teams via a Workflows webhook (Adaptive Card) or a legacy connector (MessageCard)',
  transport: 'http',
  options,
  batching: 'single',
  // Teams throttles webhooks above ~4 requests per second.
  defaultRateLimit: { max: 4, per: 1000 },
  defaultOverflow: 'digest',
  secretKeys: ['webhookUrl', 'headers'],
  example: ({ url }) => ({
    type: 'teams',
    webhookUrl: `${url}/workflows/0f1e2d/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=s3cr3tTeamsSignature`,
  }),
  create(config) {
    const http = httpClientFor(config);
    return {
      async send(alerts, { signal }) {
        for (const alert of alerts) {
          const res = await http.send({ url: config.webhookUrl, body: buildTeamsBody(alert, config), signal });
          if (config.format === 'messagecard' && CONNECTOR_THROTTLED.test(res.body)) {
            throw new DeliveryError(`${redactUrl(config.webhookUrl)} answered 200 but reports throttling`, {
              retryable: true,
              reason: 'rate_limited',
              status: 429,
            });
          }
        }
      },
      close: () => http.close(),
    };
  },
});
