import { DeliveryError } from '../kit/errors.js';

/**
 * NATS and JetStream failures as DeliveryErrors. The client's errors are matched by name along the
 * cause chain (the JetStream package wraps core errors). What is retried:
 * - no connection, a refused or dropped one, no ack in time (`network`, `timeout`);
 * - no responders (503) on a JetStream publish: no stream listens on the subject (yet), or
 *   JetStream is off. Retryable, since creating the stream fixes it and the alerts wait in the queue;
 * - JetStream API errors with a 5xx status (store failed, stream full with `discard: new`, no quorum).
 * What is not: bad credentials (`auth_error`, like HTTP 401), a publish permission violation, a
 * message over `max_payload` or the stream's `max_msg_size` (`invalid_payload`), other 4xx API
 * errors such as the wrong stream for `stream` (`client_error`).
 */

type Named = Error & { code?: unknown; status?: unknown; cause?: unknown };

function chain(err: unknown): Named[] {
  const out: Named[] = [];
  for (let e = err as Named | undefined; e && out.length < 8; e = e.cause as Named | undefined) out.push(e);
  return out;
}

/** JetStream's code for "message size exceeds maximum allowed" (the stream's max_msg_size). */
const JS_MSG_TOO_BIG = 10054;

export function natsError(err: unknown, target: string, subject?: string): DeliveryError {
  const errors = chain(err);
  const named = (name: string) => errors.find((e) => e.name === name);
  const on = subject ? ` on "${subject}"` : '';
  const subj = subject ? ` "${subject}"` : '';
  const first = errors[0];
  const text = first?.message ?? String(err);

  if (named('NoResponders') || named('JetStreamNotEnabled')) {
    return new DeliveryError(
      `${target}: no JetStream stream captures the subject${subj} (no responders, 503); create a stream whose subjects cover it, or JetStream is not enabled`,
      { retryable: true, reason: 'server_error', status: 503 },
    );
  }
  if (named('TimeoutError')) return new DeliveryError(`${target}: no publish ack${on} in time`, { retryable: true, reason: 'timeout' });
  const api = named('JetStreamApiError');
  if (api) {
    const status = typeof api.status === 'number' ? api.status : 500;
    const code = typeof api.code === 'number' ? api.code : 0;
    const message = `${target}: JetStream refused the message${on}: ${api.message} (err_code ${code}, ${status})`;
    if (code === JS_MSG_TOO_BIG) return new DeliveryError(message, { retryable: false, reason: 'invalid_payload', status });
    if (status >= 500 || status === 408 || status === 429) return new DeliveryError(message, { retryable: true, reason: 'server_error', status });
    return new DeliveryError(message, { retryable: false, reason: 'client_error', status });
  }
  // The kit's rule for persistent links (outputs/kit/options.ts brokerOptions): a refused login
  // is retried, since the link keeps reconnecting and a rotated credential fixes it.
  if (named('AuthorizationError') || named('UserAuthenticationExpiredError')) {
    return new DeliveryError(`${target}: authorization failed (${text}); check the credentials`, { retryable: true, reason: 'auth_error' });
  }
  if (named('PermissionViolationError')) {
    return new DeliveryError(`${target}: ${text}`, { retryable: false, reason: 'auth_error' });
  }
  if (named('InvalidArgumentError') && /max_payload/.test(text)) {
    return new DeliveryError(`${target}: message${on} larger than the server's max_payload`, { retryable: false, reason: 'invalid_payload' });
  }
  const sys = errors.find((e) => typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code));
  return new DeliveryError(`${target}: ${sys ? String(sys.code) : text}`, { retryable: true, reason: 'network' });
}
