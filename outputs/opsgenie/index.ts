import { z } from 'zod';
import { alertFieldPath, priorityMap } from '../kit/common.js';
import { defineOutput } from '../kit/define.js';
import { httpClientFor } from '../kit/http-client.js';
import { httpTransportOptions, httpUrl } from '../kit/options.js';
import { DEFAULT_ALIAS_FIELDS, OPSGENIE_ALERTS_PATH, OPSGENIE_PRIORITIES, buildOpsgenieBody, opsgenieEndpoint } from './payload.js';

const responder = z
  .strictObject({
    type: z.enum(['team', 'user', 'escalation', 'schedule']),
    id: z.string().min(1).optional(),
    name: z.string().min(1).optional(),
    username: z.string().min(1).optional(),
  })
  .refine((r) => [r.id, r.name, r.username].filter((v) => v !== undefined).length === 1, 'give exactly one of id, name, username')
  .refine((r) => r.username === undefined || r.type === 'user', 'username is for type user');

const options = {
  /** API key of an Opsgenie API integration (Authorization: GenieKey …). A secret. */
  apiKey: z.string().min(1),
  /** The Opsgenie instance: `eu` posts to api.eu.opsgenie.com. */
  region: z.enum(['us', 'eu']).default('us'),
  /** A base URL overriding the region (proxies, tests); /v2/alerts is appended unless present. */
  url: httpUrl.optional(),
  ...httpTransportOptions,
  /** Priority → P1…P5; unlisted priorities keep the default (P1 P1 P2 P3 P4 P5 P5 P5). */
  priorityMap: priorityMap(z.enum(OPSGENIE_PRIORITIES)),
  /** Alert fields hashed into `alias`: repeats with equal values count on one open Opsgenie alert. */
  dedupKey: z.array(alertFieldPath).min(1).default([...DEFAULT_ALIAS_FIELDS]),
  /** Teams, users, escalations or schedules notified (else the integration's own routing). */
  responders: z.array(responder).max(50).default([]),
};

export const opsgenieOutput = defineOutput({
  type: 'opsgenie',
  summary: 'Opsgenie Alert API: one alert per Falco alert, stable alias, P1–P5 from priority, us or eu region',
  transport: 'http',
  apiPath: OPSGENIE_ALERTS_PATH,
  options,
  batching: 'single',
  // Opsgenie publishes its limits per plan only; one alert a second is below every plan's.
  defaultRateLimit: { max: 60, per: 60_000 },
  defaultOverflow: 'digest',
  secretKeys: ['apiKey', 'headers'],
  example: ({ url }) => ({ type: 'opsgenie', apiKey: 'eb243592-faa2-4ba2-a551-1afdf565c889', url }),
  create(config) {
    const http = httpClientFor(config);
    const url = opsgenieEndpoint(config);
    const headers = { authorization: `GenieKey ${config.apiKey}` };
    const payloadOptions = { priorityMap: config.priorityMap, dedupFields: config.dedupKey, responders: config.responders };
    return {
      async send(alerts, { signal }) {
        // 202 {"result":"Request will be processed","requestId":…}: accepted, processed
        // asynchronously. 422 (invalid alert) is permanent; 429 and 5xx are retried.
        for (const alert of alerts) await http.send({ url, headers, body: buildOpsgenieBody(alert, payloadOptions), signal });
      },
      close: () => http.close(),
    };
  },
});
