import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Identity } from '../auth/identity.js';
import { readBody } from './body.js';
import { errorAnswer, type IngestAnswer, type IngestDeps } from './ingest.js';

/**
 * Paths the Koa app keeps whatever the method: the web UI and its API (/ui, /api), the operator
 * endpoints (/-/reload), and /test (a test alert, or with ?output= one for a single output). Every
 * other POST or PUT is a Falco alert, answered by the fast path below.
 */
export function isKoaPath(path: string): boolean {
  return path === '/test' || path.startsWith('/api') || path.startsWith('/ui') || path.startsWith('/-/');
}

/**
 * The path of an origin-form request target ("/a/b?x=1" → "/a/b"); undefined for any other
 * form (absolute URL, "*"), which the Koa app parses as before.
 */
function originPath(url: string | undefined): string | undefined {
  if (url === undefined || url.charCodeAt(0) !== 47 /* / */) return undefined;
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** The headers of a 200, as Koa wrote them for `ctx.body = ''`. */
const OK_HEADERS = Object.freeze({ 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '0' });

/** Writes an answer in one write (headers and body together), the bytes Koa wrote for the same answer. */
export function sendAnswer(res: ServerResponse, answer: IngestAnswer): void {
  // What Koa checks before it responds (ctx.writable): the client may have left meanwhile.
  if (res.writableEnded || (res.socket !== null && !res.socket.writable)) return;
  if (answer.status === 200) {
    res.writeHead(200, OK_HEADERS);
    res.end();
    return;
  }
  const body = JSON.stringify({ error: answer.error, detail: answer.detail });
  const length = String(Buffer.byteLength(body));
  res.writeHead(
    answer.status,
    answer.retryAfter === undefined
      ? { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': length }
      : { 'Retry-After': answer.retryAfter, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': length },
  );
  res.end(body);
}

/**
 * The collector's request listener: Falco's POSTs go straight from node:http to the ingest, every
 * other request to the Koa app (`koa`). Koa's per-request work (a context of three objects,
 * the middleware chain, on-finished listeners, a content-type lookup when the body is set) bought
 * the hot path nothing but a status line and two headers; without it (and with the leaner body
 * read) the collector's CPU per alert at 500 alerts/s fell by about a quarter (bench/README.md).
 *
 * Anything the fast path does not answer itself goes to Koa before the body is read, so every
 * other behaviour is the Koa app's own: a request whose credentials are refused (401 and its
 * metric), an API or UI path, a GET. Once it reads the body, it answers with the same shared ingest
 * (src/collector/ingest.ts) and the same bytes as the Koa app.
 */
export function fastIngestListener(
  koa: RequestListener,
  deps: IngestDeps,
  ingest: (body: string, contentType: string | undefined, identity: Identity | undefined) => Promise<IngestAnswer>,
): RequestListener {
  const auth = deps.auth;
  const handle = async (req: IncomingMessage, res: ServerResponse, identity: Identity | undefined): Promise<void> => {
    let answer: IngestAnswer;
    try {
      const body = await readBody(req, deps.maxBodySize);
      answer = await ingest(body, req.headers['content-type'] || undefined, identity);
    } catch (err) {
      answer = errorAnswer(err, deps);
    }
    sendAnswer(res, answer);
  };
  return (req, res) => {
    const method = req.method;
    const path = method === 'POST' || method === 'PUT' ? originPath(req.url) : undefined;
    if (path === undefined || isKoaPath(path)) return koa(req, res);
    let identity: Identity | undefined;
    if (auth?.enabled) {
      const who = auth.identify(req);
      // Refused: the Koa app's auth middleware answers (401, WWW-Authenticate, the refusal counts).
      if (typeof who === 'string') return koa(req, res);
      identity = who;
    }
    handle(req, res, identity).catch((err: unknown) => deps.logger.error({ err }, 'unexpected error answering a request'));
  };
}
