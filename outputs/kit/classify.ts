import { DeliveryError, type FailureReason } from './errors.js';

export interface ClassifyOptions {
  /** Extra statuses to retry beyond 408, 429 and 5xx. */
  retryOn?: number[];
  /** Statuses that count as success although not 2xx (none by default). */
  okOn?: number[];
  now?: () => number;
}

/**
 * The one HTTP result classifier every output shares: 2xx ok; 408, 429, 5xx retry (429 and 503
 * honour Retry-After); every other status fails for good. Throws DeliveryError, returns on success.
 */
export function classifyHttpStatus(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  bodySnippet: string,
  target: string,
  opts: ClassifyOptions = {},
): void {
  if ((status >= 200 && status < 300) || opts.okOn?.includes(status)) return;
  const retryable = status === 408 || status === 429 || status >= 500 || (opts.retryOn?.includes(status) ?? false);
  const retryAfterMs =
    status === 429 || status === 503 ? parseRetryAfter(headerValue(headers['retry-after']), opts.now) : undefined;
  const detail = bodySnippet.trim().slice(0, 300);
  throw new DeliveryError(`${target} answered HTTP ${status}${detail ? `: ${detail}` : ''}`, {
    retryable,
    status,
    reason: reasonForStatus(status),
    retryAfterMs,
  });
}

function reasonForStatus(status: number): FailureReason {
  if (status === 429) return 'rate_limited';
  if (status === 408) return 'timeout';
  if (status >= 500) return 'server_error';
  if (status === 401 || status === 403) return 'auth_error';
  return 'client_error';
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3), in ms; a past date is 0. Not
 * capped here: the delivery classify stage caps it by the output's `retry.maxRetryAfter`.
 */
export function parseRetryAfter(value: string | undefined, now: () => number = Date.now): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(trimmed)) ms = Number(trimmed) * 1000;
  else {
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return undefined;
    ms = at - now();
  }
  return Math.max(Math.ceil(ms), 0);
}

/** Classifies a transport failure (no HTTP status): always retryable. */
export function networkError(err: unknown, target: string, signal?: AbortSignal): DeliveryError {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const aborted = signal?.aborted || e?.name === 'AbortError' || e?.name === 'TimeoutError';
  const code = e?.code ?? e?.cause?.code ?? e?.name ?? 'error';
  return new DeliveryError(aborted ? `${target}: request timed out or was aborted` : `${target}: ${code}`, {
    retryable: true,
    reason: aborted ? 'timeout' : 'network',
    cause: undefined,
  });
}
