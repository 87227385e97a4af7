import { z } from 'zod';
import { classifyHttpStatus } from '../../src/delivery/classify.js';
import { redactUrl } from '../../src/delivery/redact.js';
import type { OutputDefinition } from '../types.js';
import { buildHecBody, hecPartialFailure } from './payload.js';

const options = {
  /** HEC base URL (https://splunk:8088); /services/collector/event is added when it has no path. */
  url: z.url({ protocol: /^https?$/ }),
  /** The HEC token (a GUID). */
  token: z.string().min(1),
  /** Target index; the token's default index when unset. */
  index: z.string().min(1).optional(),
  sourcetype: z.string().min(1).default('falco'),
};

/** The event endpoint, unless the URL already names one (e.g. /services/collector). */
export function hecEndpoint(url: string): string {
  const u = new URL(url);
  if (u.pathname === '' || u.pathname === '/') u.pathname = '/services/collector/event';
  return u.toString();
}

export const splunkOutput: OutputDefinition<typeof options> = {
  type: 'splunk',
  summary: 'Splunk HTTP Event Collector: batched JSON events with Falco time, host and indexed fields',
  options,
  batching: 'always',
  defaultBatch: { size: 100, interval: 1000 },
  secretKeys: ['token'],
  example: (baseUrl) => ({ type: 'splunk', url: baseUrl, token: '5e3c1f6a-s3cr3t-hec-token', index: 'security' }),
  create(config, { http }) {
    const url = hecEndpoint(config.url);
    const headers = { authorization: `Splunk ${config.token}` };
    return {
      async send(alerts, { signal }) {
        const body = buildHecBody(alerts, { sourcetype: config.sourcetype, index: config.index });
        const res = await http.request({ url, headers, body, signal });
        const partial = hecPartialFailure(alerts, res.status, res.body);
        if (partial) return partial;
        classifyHttpStatus(res.status, res.headers, res.body, redactUrl(url));
      },
    };
  },
};
