import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.js';

/** Set by the worker once it runs (readiness) and by the CLI (reload); read per request. */
export interface WorkerEndpoints {
  ready?: () => { ready: boolean; body: Record<string, unknown> };
  reload?: () => Promise<{ status: number; body: Record<string, unknown> }>;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/**
 * The worker role has no collector to serve /metrics, yet it is where deliveries succeed or fail:
 * a small HTTP server exposes its metrics, liveness (/healthz), readiness (/readyz: Redis answers,
 * the router consumes, the config is loaded) and POST /-/reload.
 */
export async function startMetricsServer(
  metrics: Metrics,
  host: string,
  port: number,
  endpoints: WorkerEndpoints = {},
): Promise<{ port: number; stop(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
      return;
    }
    if (req.method === 'GET' && path === '/healthz') return json(res, 200, { status: 'ok' });
    if (req.method === 'GET' && path === '/readyz') {
      const state = endpoints.ready?.() ?? { ready: false, body: { status: 'starting', config: 'loaded', router: 'not consuming (waiting for Redis)' } };
      return json(res, state.ready ? 200 : 503, state.body);
    }
    if (req.method === 'POST' && path === '/-/reload' && endpoints.reload) {
      req.resume();
      endpoints.reload().then(
        ({ status, body }) => json(res, status, body),
        (err) => json(res, 500, { error: 'internal_error', detail: (err as Error).message }),
      );
      return;
    }
    json(res, 404, { error: 'not_found', detail: 'GET /metrics, /healthz or /readyz; POST /-/reload' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
