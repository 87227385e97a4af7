import { z } from 'zod';
import { DeliveryError } from '../kit/errors.js';
import { alertFieldPath, priorityMap, SEVERITIES } from '../kit/common.js';
import { defineOutput } from '../kit/define.js';
import { httpClientFor } from '../kit/http-client.js';
import { httpTransportOptions, httpUrl } from '../kit/options.js';
import { buildPagerDutyBody, MAX_REQUEST_BYTES, PD_ENQUEUE_PATH, pagerdutyEndpoint } from './payload.js';

const severityMap = priorityMap(z.enum(SEVERITIES));

/** The fields whose repeats one incident folds. */
export const DEFAULT_DEDUP_KEY = ['rule', 'hostname', 'output_fields.container.id', 'output_fields.proc.cmdline'];

const options = {
  /** Events API v2 integration key: authenticates and routes. A secret. */
  routingKey: z.string().min(1),
  /** The PagerDuty service region; `eu` posts to events.eu.pagerduty.com. */
  region: z.enum(['us', 'eu']).default('us'),
  /** A base URL overriding the region (proxies, tests); /v2/enqueue is appended unless present. */
  url: httpUrl.optional(),
  ...httpTransportOptions,
  /** Priority → PagerDuty severity; unlisted priorities keep the default (critical/error/warning/info). */
  severityMap,
  /** Alert fields hashed into dedup_key: repeats with equal values fold into one PagerDuty alert. */
  dedupKey: z.array(alertFieldPath).min(1).default(DEFAULT_DEDUP_KEY),
};

export const pagerdutyOutput = defineOutput({
  type: 'pagerduty',
  summary: 'Trigger PagerDuty alerts (Events API v2), one event per alert, stable dedup_key, us or eu region',
  transport: 'http',
  apiPath: PD_ENQUEUE_PATH,
  options,
  batching: 'single',
  // PagerDuty's documented limit: about 120 events per minute per integration key.
  defaultRateLimit: { max: 120, per: 60_000 },
  defaultOverflow: 'digest',
  secretKeys: ['routingKey', 'headers'],
  example: ({ url }) => ({ type: 'pagerduty', routingKey: 's3cr3tR0utingKey0123456789abcdef', url }),
  create(config) {
    const http = httpClientFor(config);
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
      close: () => http.close(),
    };
  },
});
