import { z } from 'zod';
import { classifyHttpStatus } from '../kit/classify.js';
import { defineOutput } from '../kit/define.js';
import { httpClientFor } from '../kit/http-client.js';
import { httpTransportOptions, httpUrl } from '../kit/options.js';
import { apiUrl } from '../kit/url.js';
import { redactUrl } from '../kit/redact.js';
import { buildHecBody, hecPartialFailure } from './payload.js';

const options = {
  /** HEC base URL (https://splunk:8088, https://gw/splunk); events go to <url>/services/collector/event. */
  url: httpUrl,
  ...httpTransportOptions,
  /** The HEC token (a GUID). */
  token: z.string().min(1),
  /** Target index; the token's default index when unset. */
  index: z.string().min(1).optional(),
  sourcetype: z.string().min(1).default('falco'),
};

const HEC_EVENT_PATH = '/services/collector/event';
/** Splunk documents the bare collector path as the same event endpoint. */
const HEC_ALIASES = ['/services/collector'];

export const splunkOutput = defineOutput({
  type: 'splunk',
  summary: 'Splunk HTTP Event Collector: batched JSON events with Falco time, host and indexed fields',
  transport: 'http',
  apiPath: HEC_EVENT_PATH,
  apiPathAliases: HEC_ALIASES,
  options,
  batching: 'always',
  defaultBatch: { size: 100, interval: 1000 },
  secretKeys: ['token', 'headers'],
  example: ({ url }) => ({ type: 'splunk', url, token: '5e3c1f6a-s3cr3t-hec-token', index: 'security' }),
  create(config) {
    const http = httpClientFor(config);
    const url = apiUrl(config.url, HEC_EVENT_PATH, HEC_ALIASES);
    const headers = { authorization: `Splunk ${config.token}` };
    return {
      async send(alerts, { signal }) {
        const body = buildHecBody(alerts, { sourcetype: config.sourcetype, index: config.index });
        const res = await http.request({ url, headers, body, signal });
        const partial = hecPartialFailure(alerts, res.status, res.body);
        if (partial) return partial;
        classifyHttpStatus(res.status, res.headers, res.body, redactUrl(url));
      },
      close: () => http.close(),
    };
  },
});
