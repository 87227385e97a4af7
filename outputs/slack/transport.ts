import {
  IncomingWebhook,
  IncomingWebhookHTTPError,
  IncomingWebhookRequestError,
  type FetchFunction,
  type IncomingWebhookSendArguments,
} from '@slack/webhook';
import { classifyHttpStatus, networkError } from '../kit/classify.js';
import { DeliveryError, isDeliveryError } from '../kit/errors.js';
import type { HttpClient, HttpResponse } from '../kit/http-client.js';
import { redactUrl } from '../kit/redact.js';

/**
 * Posts one message through @slack/webhook's IncomingWebhook, with its fetch routed through the
 * shared HTTP client. That gives the library our keep-alive pool, no redirects and the send's abort
 * signal (the library only knows a fixed timeout), and lets us keep the response headers: the
 * library's errors carry none, so a 429's Retry-After would otherwise be lost.
 */
export async function postSlackMessage(
  http: HttpClient,
  webhookUrl: string,
  message: IncomingWebhookSendArguments,
  signal: AbortSignal,
): Promise<void> {
  let lastHeaders: HttpResponse['headers'] = {};
  const fetchViaSharedClient: FetchFunction = async (url, init) => {
    const res = await http.request({ url: String(url), headers: lowerCaseKeys(init?.headers), body: String(init?.body ?? ''), signal });
    lastHeaders = res.headers;
    return asFetchResponse(res, String(url));
  };
  // One IncomingWebhook per send: the fetch closes over this send's signal and headers, so
  // concurrent sends cannot see each other's responses. Construction is a few property sets.
  const webhook = new IncomingWebhook(webhookUrl, { fetch: fetchViaSharedClient });
  try {
    await webhook.send(message);
  } catch (err) {
    throw toDeliveryError(err, lastHeaders, redactUrl(webhookUrl), signal);
  }
}

/** The library's errors, as the shared classifier's DeliveryError (never with the URL in it). */
function toDeliveryError(err: unknown, headers: HttpResponse['headers'], target: string, signal: AbortSignal): DeliveryError {
  if (err instanceof IncomingWebhookHTTPError) {
    try {
      classifyHttpStatus(err.statusCode, headers, typeof err.body === 'string' ? err.body : '', target);
    } catch (classified) {
      if (isDeliveryError(classified)) return classified;
    }
    // Not reachable today (the library only throws for non-2xx), but never report success wrongly.
    return new DeliveryError(`${target} answered HTTP ${err.statusCode}`, { retryable: false, reason: 'client_error', status: err.statusCode });
  }
  // Transport failures come from the shared client already classified (timeout vs network).
  const original = err instanceof IncomingWebhookRequestError ? err.original : err;
  if (isDeliveryError(original)) return original;
  return networkError(original, target, signal);
}

function lowerCaseKeys(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) out[k.toLowerCase()] = v;
  return out;
}

type FetchResponse = Awaited<ReturnType<FetchFunction>>;

/** The slice of a fetch Response the library reads. */
function asFetchResponse(res: HttpResponse, url: string): FetchResponse {
  const entries: Array<[string, string]> = Object.entries(res.headers).flatMap(([k, v]) =>
    v === undefined ? [] : Array.isArray(v) ? v.map((item): [string, string] => [k, item]) : [[k, v] as [string, string]],
  );
  return {
    ok: res.status >= 200 && res.status < 300,
    status: res.status,
    statusText: '',
    url,
    headers: {
      get: (name: string) => entries.find(([k]) => k === name.toLowerCase())?.[1] ?? null,
      entries: () => entries,
    },
    text: async () => res.body,
    json: async () => JSON.parse(res.body) as unknown,
    arrayBuffer: async () => {
      const bytes = Buffer.from(res.body);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    },
  };
}
