import { z } from 'zod';
import { classifyHttpStatus } from '../kit/classify.js';
import { defineOutput } from '../kit/define.js';
import { httpClientFor } from '../kit/http-client.js';
import { httpOptions } from '../kit/options.js';
import { redactUrl } from '../kit/redact.js';
import { apiUrl } from '../kit/url.js';
import { stringifyJson } from '../../src/alert/json.js';
import { DEFAULT_RESOURCE, buildExportRequest, partialOutcome, partialSuccess } from './payload.js';

const OTLP_LOGS_PATH = '/v1/logs';

/** `url` is the OTLP/HTTP base (http://otel-collector:4318); records go to <url>/v1/logs. */
const options = {
  ...httpOptions,
  /** Resource attributes of every record (strings); `host.name` is added from the alert's hostname. */
  resource: z.record(z.string().min(1), z.string()).default({ ...DEFAULT_RESOURCE }),
};

export const otlpOutput = defineOutput({
  type: 'otlp',
  summary: 'OpenTelemetry logs over OTLP/HTTP (JSON): one log record per alert, severity from priority, typed attributes',
  transport: 'http',
  apiPath: OTLP_LOGS_PATH,
  options,
  batching: 'always',
  defaultBatch: { size: 100, interval: 1000 },
  defaultOverflow: 'queue',
  secretKeys: ['headers', 'auth'],
  example: ({ url }) => ({ type: 'otlp', url, headers: { authorization: 'Api-Token s3cr3t-otlp-ingest-token' } }),
  create(config, { logger }) {
    const http = httpClientFor(config);
    const url = apiUrl(config.url, OTLP_LOGS_PATH);
    return {
      async send(alerts, { signal }) {
        const request = buildExportRequest(alerts, { resource: config.resource, observedNanos: BigInt(Date.now()) * 1_000_000n });
        const res = await http.request({ url, body: stringifyJson(request), signal });
        // 429, 502, 503, 504 are OTLP's retryable statuses (Retry-After honoured); the shared
        // classifier also retries 408 and 500, which OTLP calls permanent (docs/outputs/otlp.md).
        classifyHttpStatus(res.status, res.headers, res.body, redactUrl(url));
        const partial = partialSuccess(res.body);
        if (!partial) return;
        const outcome = partialOutcome(alerts, partial);
        if (outcome) return outcome;
        logger.warn({ rejected: partial.rejected, sent: alerts.length, message: partial.message }, 'OTLP receiver accepted the batch partially (it does not say which records it rejected)');
      },
      close: () => http.close(),
    };
  },
});
