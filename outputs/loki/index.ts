import { z } from 'zod';
import { basicAuth } from '../kit/auth.js';
import { defineOutput } from '../kit/define.js';
import { httpClientFor } from '../kit/http-client.js';
import { httpTransportOptions, httpUrl } from '../kit/options.js';
import { apiUrl } from '../kit/url.js';
import { DEFAULT_LABELS, buildLokiPush } from './payload.js';

const LOKI_PUSH_PATH = '/loki/api/v1/push';

const options = {
  /** Loki (or gateway) base URL; alerts are pushed to <url>/loki/api/v1/push. */
  url: httpUrl,
  ...httpTransportOptions,
  /**
   * Alert keys or output fields that become stream labels. Keep them low-cardinality: every
   * distinct combination is a stream. Loki allows 15 labels per stream.
   */
  labels: z.array(z.string().min(1)).min(1).max(15).default(DEFAULT_LABELS),
  /** Multi-tenant Loki: sent as X-Scope-OrgID. */
  tenant: z.string().min(1).optional(),
  /** Basic auth (Grafana Cloud: instance id and an access token). */
  username: z.string().min(1).optional(),
  password: z.string().optional(),
};

export const lokiOutput = defineOutput({
  type: 'loki',
  summary: 'Grafana Loki push API: streams by a small label set, ns timestamps, the alert JSON as the line',
  transport: 'http',
  apiPath: LOKI_PUSH_PATH,
  options,
  batching: 'always',
  defaultBatch: { size: 500, interval: 1000 },
  secretKeys: ['password', 'headers'],
  example: ({ url }) => ({ type: 'loki', url, tenant: 'security', username: '123456', password: 's3cr3t-loki-token' }),
  create(config) {
    const http = httpClientFor(config);
    const url = apiUrl(config.url, LOKI_PUSH_PATH);
    const headers: Record<string, string> = {};
    if (config.tenant) headers['x-scope-orgid'] = config.tenant;
    if (config.username) headers.authorization = basicAuth(config.username, config.password ?? '');
    return {
      async send(alerts, { signal }) {
        await http.send({ url, headers, body: buildLokiPush(alerts, config.labels), signal });
      },
      close: () => http.close(),
    };
  },
});
