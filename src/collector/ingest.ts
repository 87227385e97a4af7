import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.js';
import type { Identity } from '../auth/identity.js';
import type { Metrics } from '../observability/metrics.js';
import { BadBodyError, BodyTooLargeError } from './body.js';
import { AlertForbiddenError, BadAlertError, decodeAlerts, type RawAlert } from './decode.js';
import { SpoolFullError } from './spool.js';

/**
 * What the collector answers one ingest request: 200 with no body, or a status with the JSON
 * `{error, detail}` (and Retry-After for 429/503). Written by the Koa app (src/collector/app.ts)
 * or straight onto the response by the ingest fast path (src/collector/fast-ingest.ts), the same
 * bytes either way.
 */
export interface IngestAnswer {
  status: number;
  error?: string;
  detail?: string;
  retryAfter?: string;
}

/** The one success answer, shared: the hot path allocates none. */
export const ACCEPTED: IngestAnswer = Object.freeze({ status: 200 });

export interface IngestDeps {
  maxBodySize: number;
  /** Resolves once the alerts are in Redis or the spool ('spooled'); rejects when they could not be written. */
  ingest(alerts: RawAlert[], receivedAt: number): Promise<void | 'spooled'>;
  metrics: Metrics;
  logger: Logger;
  auth?: Authenticator;
}

const answer = (status: number, error: string, detail: string, retryAfter?: string): IngestAnswer => ({ status, error, detail, retryAfter });

/**
 * One request's body to its answer: decode, namespace claims, rate limit, the durable write,
 * and the metrics of each outcome. No HTTP framework in here, so both paths share it.
 */
export function createIngest(deps: IngestDeps) {
  const { metrics, logger: log } = deps;
  return async function ingest(body: string, contentType: string | undefined, identity: Identity | undefined): Promise<IngestAnswer> {
    const receivedAt = Date.now();
    let alerts: RawAlert[];
    try {
      alerts = decodeAlerts(body, contentType, receivedAt, identity && deps.auth?.policy(identity));
    } catch (err) {
      if (err instanceof AlertForbiddenError) {
        metrics.countRequest('forbidden');
        metrics.countRefused('forbidden');
        deps.auth?.refused(identity, 'namespace');
        log.info({ identity: identity?.name, detail: err.detail }, 'refused alerts outside the sender\'s namespaces');
        return answer(403, err.code, err.detail);
      }
      if (!(err instanceof BadAlertError)) throw err;
      metrics.countRequest('rejected');
      metrics.countRefused('rejected');
      log.debug({ code: err.code, detail: err.detail }, 'rejected request');
      return answer(400, err.code, err.detail);
    }
    const wait = identity ? deps.auth!.admit(identity, alerts.length) : 0;
    if (wait > 0) {
      metrics.countRequest('rate_limited');
      metrics.countReceivedAlerts(alerts, 'rate_limited');
      deps.auth?.refused(identity, 'rate_limited');
      return answer(429, 'rate_limited', `"${identity!.name}" may post ${identity!.rateLimit} alerts per second (auth rateLimit); nothing was accepted`, String(wait));
    }
    let stored: void | 'spooled';
    try {
      stored = await deps.ingest(alerts, receivedAt);
    } catch (err) {
      if (err instanceof SpoolFullError) {
        metrics.countRequest('spool_full');
        metrics.countReceivedAlerts(alerts, 'unavailable');
        metrics.spoolFull.inc();
        log.error({ err: err.message }, 'Redis unreachable and the spool full: refusing alerts');
        return answer(503, 'spool_full', `Redis is unreachable and the spool is full (spool.maxBytes = ${err.maxBytes}); nothing was accepted`, '5');
      }
      metrics.countRequest('unavailable');
      metrics.countReceivedAlerts(alerts, 'unavailable');
      log.warn({ err: (err as Error).message }, 'could not store alerts in Redis or the spool');
      return answer(503, 'unavailable', 'alerts could not be stored (Redis unreachable, spool not writable); nothing was accepted', '1');
    }
    metrics.countRequest('accepted');
    metrics.countReceivedAlerts(alerts, stored === 'spooled' ? 'spooled' : 'accepted');
    return ACCEPTED;
  };
}

/** The answer to an error thrown while reading or ingesting a request (a body too large, unreadable, or a bug: 500). */
export function errorAnswer(err: unknown, deps: Pick<IngestDeps, 'maxBodySize' | 'metrics' | 'logger'>): IngestAnswer {
  if (err instanceof BodyTooLargeError) {
    deps.metrics.countRequest('too_large');
    return answer(413, 'body_too_large', `the body exceeds ${deps.maxBodySize} bytes (listen.maxBodySize)`);
  }
  if (err instanceof BadBodyError) {
    deps.metrics.countRequest('rejected');
    return answer(err.status, err.code, err.detail);
  }
  deps.logger.error({ err }, 'unexpected error handling a request');
  return answer(500, 'internal_error', 'unexpected error; see the collector log');
}
