import { z } from 'zod';
import { basicAuth } from '../auth.js';
import type { OutputDefinition } from '../types.js';
import { DEFAULT_LABELS, buildLokiPush } from './payload.js';

const options = {
  /** Loki (or gateway) base URL; alerts are pushed to <url>/loki/api/v1/push. */
  url: z.url({ protocol: /^https?$/ }),
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

export const lokiOutput: OutputDefinition<typeof options> = {
  type: 'loki',
  summary: 'Grafana Loki push API: streams by a small label set, ns timestamps, the alert JSON as the line',
  options,
  batching: 'always',
  defaultBatch: { size: 500, interval: 1000 },
  secretKeys: ['password'],
  example: (baseUrl) => ({ type: 'loki', url: baseUrl, tenant: 'security', username: '123456', password: 's3cr3t-loki-token' }),
  create(config, { http }) {
    const url = `${config.url.replace(/\/+$/, '')}/loki/api/v1/push`;
    const headers: Record<string, string> = {};
    if (config.tenant) headers['x-scope-orgid'] = config.tenant;
    if (config.username) headers.authorization = basicAuth(config.username, config.password ?? '');
    return {
      async send(alerts, { signal }) {
        await http.send({ url, headers, body: buildLokiPush(alerts, config.labels), signal });
      },
    };
  },
};
