import { z } from 'zod';
import { DEFAULT_DEDUP_KEY } from '../../src/config/schema.js';
import { DeliveryError } from '../../src/delivery/errors.js';
import { priorityMap, SEVERITIES } from '../common.js';
import type { OutputDefinition } from '../types.js';
import { buildPagerDutyBody, MAX_REQUEST_BYTES, pagerdutyEndpoint } from './payload.js';

const severityMap = priorityMap(z.enum(SEVERITIES));

const options = {
  /** Events API v2 integration key: authenticates and routes. A secret. */
  routingKey: z.string().min(1),
  /** The PagerDuty service region; `eu` posts to events.eu.pagerduty.com. */
  region: z.enum(['us', 'eu']).default('us'),
  /** Full enqueue URL, overriding the region (proxies, tests). */
  url: z.url({ protocol: /^https?$/ }).optional(),
  /** Priority → PagerDuty severity; unlisted priorities keep the default (critical/error/warning/info). */
  severityMap,
  /** Alert fields hashed into dedup_key: repeats with equal values fold into one PagerDuty alert. */
  dedupKey: z.array(z.string().min(1)).min(1).default(DEFAULT_DEDUP_KEY),
};

export const pagerdutyOutput: OutputDefinition<typeof options> = {
  type: 'pagerduty',
  summary: 'Trigger PagerDuty alerts (Events API v2), one event per alert, stable dedup_key, us or eu region',
  options,
  batching: 'single',
  // PagerDuty's documented limit: about 120 events per minute per integration key.
  defaultRateLimit: { max: 120, per: 60_000 },
  defaultOverflow: 'digest',
  secretKeys: ['routingKey'],
  example: (baseUrl) => ({ type: 'pagerduty', routingKey: 's3cr3tR0utingKey0123456789abcdef', url: `${baseUrl}/v2/enqueue` }),
  create(config, { http }) {
    const url = pagerdutyEndpoint(config);
    const payloadOptions = { routingKey: config.routingKey, severityMap: config.severityMap, dedupFields: config.dedupKey };
    return {
      async send(alerts, { signal }) {
        for (const alert of alerts) {
          const body = buildPagerDutyBody(alert, payloadOptions);
          if (body === undefined) {
            throw new DeliveryError(`alert ${alert.id} does not fit PagerDuty's ${MAX_REQUEST_BYTES}-byte limit even trimmed`, {
              retryable: false,
              reason: 'invalid_payload',
            });
          }
          // 202 is success; 429 carries no Retry-After, so the shared backoff applies.
          await http.send({ url, body, signal });
        }
      },
    };
  },
};
