import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExampleTarget } from '../../outputs/kit/types.js';

/** An output's `example` target for a loopback server at `url` (http://127.0.0.1:port). */
export function exampleTarget(url: string): ExampleTarget {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port), url: `${u.protocol}//${u.host}${u.pathname.replace(/\/$/, '')}` };
}

export interface CapturedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** The body's bytes (a gzip body does not survive `body`'s UTF-8 decoding). */
  raw: Buffer;
  at: number;
}

export interface ScriptedResponse {
  status: number;
  /** Answer this much later (a slow destination). */
  delayMs?: number;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * A real HTTP server on 127.0.0.1:0 that records every request and answers from a script: each
 * request takes the next scripted response, then `fallback` (200 by default) forever.
 */
export class CaptureServer {
  readonly requests: CapturedRequest[] = [];
  private script: Array<ScriptedResponse | ((req: CapturedRequest) => ScriptedResponse)> = [];
  fallback: ScriptedResponse | ((req: CapturedRequest) => ScriptedResponse) = { status: 200 };
  private server?: Server;
  url = '';

  respondWith(...responses: Array<ScriptedResponse | ((req: CapturedRequest) => ScriptedResponse)>): this {
    this.script.push(...responses);
    return this;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const captured: CapturedRequest = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          raw: Buffer.concat(chunks),
          at: Date.now(),
        };
        this.requests.push(captured);
        const next = this.script.shift() ?? this.fallback;
        const r = typeof next === 'function' ? next(captured) : next;
        const answer = () => {
          res.writeHead(r.status, r.headers);
          res.end(r.body ?? '');
        };
        if (r.delayMs) setTimeout(answer, r.delayMs);
        else answer();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** This server as an output's `example` target. */
  target(): ExampleTarget {
    return exampleTarget(this.url);
  }

  /** Parsed JSON bodies of the requests whose status was 2xx-bound are not tracked: all bodies. */
  jsonBodies(): unknown[] {
    return this.requests.map((r) => JSON.parse(r.body));
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
