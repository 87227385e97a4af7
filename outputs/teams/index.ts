import { z } from 'zod';
import { DeliveryError } from '../../src/delivery/errors.js';
import { redactUrl } from '../../src/delivery/redact.js';
import type { OutputDefinition } from '../types.js';
import { buildTeamsBody } from './payload.js';

const options = {
  /** Workflows "When a Teams webhook request is received" URL; its `sig` query is the credential. */
  webhookUrl: z.url({ protocol: /^https?$/ }),
  /** `adaptive`: Workflows Adaptive Card; `messagecard`: legacy Office 365 connector card. */
  format: z.enum(['adaptive', 'messagecard']).default('adaptive'),
};

// Legacy connectors reported throttling as a 200 whose body says so (outputs.md §2.3).
const CONNECTOR_THROTTLED = /HTTP error 429/;

export const teamsOutput: OutputDefinition<typeof options> = {
  type: 'teams',
  summary: 'Microsoft Teams via a Workflows webhook (Adaptive Card) or a legacy connector (MessageCard)',
  options,
  batching: 'single',
  // Teams throttles webhooks above ~4 requests per second.
  defaultRateLimit: { max: 4, per: 1000 },
  defaultOverflow: 'digest',
  secretKeys: ['webhookUrl'],
  example: (baseUrl) => ({
    type: 'teams',
    webhookUrl: `${baseUrl}/workflows/0f1e2d/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=s3cr3tTeamsSignature`,
  }),
  create(config, { http }) {
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
    };
  },
};
