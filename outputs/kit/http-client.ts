import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { createRequire } from 'node:module';
import type * as Undici from 'undici';
import type { Dispatcher } from 'undici';
import { basicAuth } from './auth.js';
import { pem } from './files.js';
import { classifyHttpStatus, networkError, type ClassifyOptions } from './classify.js';
import type { HttpTransportConfig, TlsOptions } from './options.js';
import { redactUrl } from './redact.js';

const gzip = promisify(gzipCallback);

export interface HttpRequest {
  url: string;
  method?: 'POST' | 'PUT';
  headers?: Record<string, string>;
  body: string | Buffer;
  signal: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface HttpClient {
  /** Performs the request; throws a retryable DeliveryError on transport failure, never on status. */
  request(req: HttpRequest): Promise<HttpResponse>;
  /** `request` plus the shared classifier: resolves on success, throws DeliveryError otherwise. */
  send(req: HttpRequest, classify?: ClassifyOptions): Promise<HttpResponse>;
  close(): Promise<void>;
}

const USER_AGENT = 'falconet';

/** URLs parsed so far: an output posts to the same few again and again. */
const targets = new Map<string, { origin: string; path: string } | null>();
const MAX_TARGETS = 1000;

/**
 * Origin and path of an http(s) URL, as undici.request would derive them, parsed once per URL
 * rather than on every request (a WHATWG parse and four getters per alert, issue #10). Null for
 * anything else: undici.request itself then refuses it, with its usual error.
 */
function targetOf(url: string): { origin: string; path: string } | null {
  let target = targets.get(url);
  if (target !== undefined) return target;
  target = null;
  if (URL.canParse(url)) {
    const parsed = new URL(url);
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') target = { origin: parsed.origin, path: parsed.search ? `${parsed.pathname}${parsed.search}` : parsed.pathname };
  }
  if (targets.size >= MAX_TARGETS) targets.clear();
  targets.set(url, target);
  return target;
}

export interface HttpClientOptions {
  tls?: Partial<TlsOptions>;
  /** Connections per origin. */
  connections?: number;
  proxy?: string;
  gzip?: boolean;
  /** Sent with every request (lower-cased names; a request's own headers win). */
  headers?: Record<string, string>;
}

/**
 * The client of one HTTP output from its transport keys (outputs/kit/options.ts: headers, auth,
 * tls, proxy, gzip): every HTTP output builds its client here, so a private CA or a proxy works
 * for all of them alike.
 */
export function httpClientFor(config: HttpTransportConfig): HttpClient {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(config.headers)) headers[name.toLowerCase()] = value;
  if (config.auth) {
    headers.authorization = 'bearer' in config.auth ? `Bearer ${config.auth.bearer}` : basicAuth(config.auth.username, config.auth.password);
  }
  return createHttpClient({ tls: config.tls, proxy: config.proxy, gzip: config.gzip, headers, connections: config.concurrency * 2 });
}

/**
 * undici, loaded with the first HTTP client: the collector validates output configs but never
 * sends, and undici is about 18 MB of a process's memory (as mqtt.js is, outputs/mqtt).
 */
let undiciLibrary: typeof Undici | undefined;
const undici = (): typeof Undici => (undiciLibrary ??= createRequire(import.meta.url)('undici') as typeof Undici);

/**
 * The shared HTTP client: undici with a keep-alive pool per output. Measured on this machine,
 * undici.request does ~11k POST/s against ~1.7k for axios (README, "HTTP client"), so it is the one
 * on the delivery hot path. Redirects are never followed: a webhook URL is a credential.
 */
export function createHttpClient(opts: HttpClientOptions = {}): HttpClient {
  const { Agent, ProxyAgent, request } = undici();
  const tls = opts.tls;
  const connect = tls
    ? { ca: pem(tls.ca, 'tls.ca'), cert: pem(tls.cert, 'tls.cert'), key: pem(tls.key, 'tls.key'), rejectUnauthorized: !tls.insecureSkipVerify }
    : undefined;
  const agentOptions = { keepAliveTimeout: 30_000, connections: opts.connections ?? 64 };
  const dispatcher: Dispatcher = opts.proxy
    ? new ProxyAgent({ ...agentOptions, uri: opts.proxy, requestTls: connect })
    : new Agent({ ...agentOptions, connect });
  const staticHeaders = { 'user-agent': USER_AGENT, 'content-type': 'application/json', ...opts.headers };

  async function doRequest(req: HttpRequest): Promise<HttpResponse> {
    const target = redactUrl(req.url);
    const headers: Record<string, string> = { ...staticHeaders, ...req.headers };
    let payload = req.body;
    if (opts.gzip) {
      payload = await gzip(payload);
      headers['content-encoding'] = 'gzip';
    }
    try {
      const method = req.method ?? 'POST';
      const at = targetOf(req.url);
      const res = at
        ? await dispatcher.request({ origin: at.origin, path: at.path, method, headers, body: payload, signal: req.signal })
        : await request(req.url, { method, headers, body: payload, signal: req.signal, dispatcher });
      return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
    } catch (err) {
      throw networkError(err, target, req.signal);
    }
  }

  return {
    request: doRequest,
    async send(req, classify) {
      const res = await doRequest(req);
      classifyHttpStatus(res.status, res.headers, res.body, redactUrl(req.url), classify);
      return res;
    },
    close: () => dispatcher.close(),
  };
}
