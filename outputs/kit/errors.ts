/**
 * Why a delivery failed, as a closed set: it labels metrics (bounded cardinality) and decides
 * retrying. Modelled on Alertmanager's notify Reason.
 */
export type FailureReason =
  | 'rate_limited'
  | 'server_error'
  | 'timeout'
  | 'network'
  | 'client_error'
  | 'auth_error'
  | 'rejected_item'
  | 'invalid_payload';

export class DeliveryError extends Error {
  readonly retryable: boolean;
  readonly reason: FailureReason;
  readonly status?: number;
  /** From Retry-After: pause the whole output this long before the next send. */
  readonly retryAfterMs?: number;

  constructor(
    message: string,
    opts: { retryable: boolean; reason: FailureReason; status?: number; retryAfterMs?: number; cause?: unknown },
  ) {
    super(message, { cause: opts.cause });
    this.name = 'DeliveryError';
    this.retryable = opts.retryable;
    this.reason = opts.reason;
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

export function isDeliveryError(err: unknown): err is DeliveryError {
  return err instanceof DeliveryError || (err as Error | undefined)?.name === 'DeliveryError';
}
