import { defineOutput } from '../kit/define.js';
import { httpClientFor } from '../kit/http-client.js';
import { httpOptions, httpUrl } from '../kit/options.js';
import { apiUrl } from '../kit/url.js';
import { buildTalonEvent } from './payload.js';

/** Talon's listener in its Helm chart: service falco-talon, port 2803 (listen_port). */
export const DEFAULT_TALON_URL = 'http://falco-talon:2803';

/**
 * Talon routes every path to its event handler (`mux.Handle("/")`); `/` is the path its docs
 * and Falcosidekick use. A gateway prefix is kept: `http://gw/talon` posts to `/talon/`.
 */
const TALON_PATH = '/';

const options = {
  ...httpOptions,
  /** Talon's HTTP listener. */
  url: httpUrl.default(DEFAULT_TALON_URL),
};

export const talonOutput = defineOutput({
  type: 'talon',
  summary: 'Falco Talon (response engine): each alert posted to its webhook in Falco\'s own JSON, as Falcosidekick does',
  transport: 'http',
  apiPath: TALON_PATH,
  options,
  batching: 'single',
  // Talon acts on each event (kills a pod, labels it…): a digest would hide events from it.
  defaultOverflow: 'queue',
  secretKeys: ['headers', 'auth'],
  example: ({ url }) => ({ type: 'talon', url, auth: { bearer: 's3cr3t-talon-gateway-token' } }),
  check(config) {
    const problems: Array<{ key: string; message: string }> = [];
    if (config.dedup) problems.push({ key: 'dedup', message: 'Talon acts on each event; storm control would fold events into digests it cannot act on (Talon deduplicates repeats itself)' });
    if (config.overflow?.mode === 'digest') problems.push({ key: 'overflow.mode', message: 'Talon acts on each event: use queue' });
    return problems;
  },
  create(config) {
    const http = httpClientFor(config);
    const url = apiUrl(config.url, TALON_PATH);
    return {
      async send(alerts, { signal }) {
        // 200 (empty body) once Talon has queued the event in its NATS stream; 400 for a body it
        // cannot decode; 500 when that publish failed (retried).
        for (const alert of alerts) await http.send({ url, body: buildTalonEvent(alert), signal });
      },
      close: () => http.close(),
    };
  },
});
