import { z } from 'zod';
import { classifyHttpStatus } from '../kit/classify.js';
import { DeliveryError } from '../kit/errors.js';
import { redactUrl } from '../kit/redact.js';
import { basicAuth } from '../kit/auth.js';
import { defineOutput } from '../kit/define.js';
import { httpClientFor } from '../kit/http-client.js';
import { httpTransportOptions, httpUrl } from '../kit/options.js';
import { apiUrl } from '../kit/url.js';
import { DEFAULT_INDEX, buildBulkBody, bulkOutcome, type BulkTarget } from './payload.js';

const options = {
  /** Cluster URL (https://es:9200, https://gw/es); requests go to <url>/_bulk. */
  url: httpUrl,
  ...httpTransportOptions,
  /** Index name pattern; %Y %m %d %H come from the alert time (UTC). Default falco-%Y.%m.%d. */
  index: z.string().min(1).optional(),
  /** Write to this data stream instead of dated indices (needs a matching index template). */
  dataStream: z.string().min(1).optional(),
  /** Encoded API key (Authorization: ApiKey …); takes precedence over username/password. */
  apiKey: z.string().min(1).optional(),
  username: z.string().min(1).optional(),
  password: z.string().optional(),
};

export const elasticsearchOutput = defineOutput({
  type: 'elasticsearch',
  summary: 'Elasticsearch / OpenSearch _bulk: create with _id = alert id, per-document retry and dead letters',
  transport: 'http',
  apiPath: '/_bulk',
  options,
  batching: 'always',
  defaultBatch: { size: 500, interval: 1000 },
  secretKeys: ['apiKey', 'password', 'headers'],
  example: ({ url }) => ({ type: 'elasticsearch', url, username: 'falconet', password: 's3cr3t-es-password' }),
  check: (config) =>
    config.index && config.dataStream ? [{ key: 'dataStream', message: 'set index or dataStream, not both' }] : [],
  create(config) {
    const http = httpClientFor(config);
    const url = apiUrl(config.url, '/_bulk');
    const target: BulkTarget = config.dataStream ? { dataStream: config.dataStream } : { index: config.index ?? DEFAULT_INDEX };
    const headers: Record<string, string> = { 'content-type': 'application/x-ndjson' };
    if (config.apiKey) headers.authorization = `ApiKey ${config.apiKey}`;
    else if (config.username) headers.authorization = basicAuth(config.username, config.password ?? '');
    return {
      async send(alerts, { signal }) {
        const res = await http.request({ url, headers, body: buildBulkBody(alerts, target), signal });
        classifyHttpStatus(res.status, res.headers, res.body, redactUrl(url));
        try {
          return bulkOutcome(alerts, res.body);
        } catch (err) {
          throw new DeliveryError(`${redactUrl(url)}: unreadable bulk answer (${(err as Error).message})`, {
            retryable: true,
            reason: 'server_error',
          });
        }
      },
      close: () => http.close(),
    };
  },
});
