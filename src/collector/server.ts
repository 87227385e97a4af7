import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { FalconetConfig } from '../config/load.js';

type ListenConfig = FalconetConfig['listen'];

export interface CollectorServer {
  /** Where Falco posts: http:// or https://. */
  url: string;
  port: number;
  /** The probe-only plain-HTTP port (listen.plain), when configured. */
  plainPort?: number;
  /** Re-reads the TLS certificate files now (also on SIGHUP and when a file changes). */
  reloadTls(): boolean;
  /** Stops accepting, lets in-flight requests finish, closes keep-alive connections. */
  close(): Promise<void>;
}

/** Falco (libcurl) keeps one connection per node open; don't drop it between alerts. */
const KEEP_ALIVE_TIMEOUT = 65_000;
const TLS_POLL_INTERVAL = 2_000;

function json(res: ServerResponse, status: number, error: string, detail: string, extra: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...extra });
  res.end(JSON.stringify({ error, detail }));
}

/**
 * The collector's listening sockets: HTTP or HTTPS (TLS >= 1.2, optional client certificates),
 * slow-client timeouts, the header size limit (Node answers 431), and the plain probe port.
 */
export async function startCollectorServer(listen: ListenConfig, app: RequestListener, log: Logger): Promise<CollectorServer> {
  let stopping = false;
  // Once stopping, every response closes its connection: a keep-alive client (Falco's libcurl)
  // would otherwise hold the server open forever and `close` would never finish.
  const handler: RequestListener = (req, res) => {
    if (stopping) res.setHeader('connection', 'close');
    return app(req, res);
  };
  // Node refuses headersTimeout > requestTimeout; the headers are part of the request anyway.
  const headersTimeout = Math.min(listen.headersTimeout, listen.requestTimeout);
  const serverOptions = {
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT,
    headersTimeout,
    requestTimeout: listen.requestTimeout,
    // Node checks both timeouts on this tick (default 30 s): make it fine enough for them.
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(headersTimeout / 4))),
  };

  const tls = listen.tls;
  const readTls = () => ({
    cert: readFileSync(tls!.cert),
    key: readFileSync(tls!.key),
    ca: tls!.ca ? readFileSync(tls!.ca) : undefined,
  });
  const server: Server | HttpsServer = tls
    ? createHttpsServer(
        {
          ...serverOptions,
          ...readTls(),
          minVersion: 'TLSv1.2',
          // A CA means client certificates are asked for; only requireClientCert refuses a client without one.
          requestCert: tls.requireClientCert || tls.ca !== undefined,
          rejectUnauthorized: tls.requireClientCert,
        },
        handler,
      )
    : createHttpServer(serverOptions, handler);
  // Answer an oversized `Expect: 100-continue` request before its body is sent.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (Number(req.headers['content-length']) > listen.maxBodySize) {
      return json(res, 413, 'body_too_large', `the body exceeds ${listen.maxBodySize} bytes`, { connection: 'close' });
    }
    res.writeContinue();
    handler(req, res);
  });
  server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'TLS handshake refused'));

  const reloadTls = (): boolean => {
    if (!tls) return false;
    try {
      (server as HttpsServer).setSecureContext({ ...readTls(), minVersion: 'TLSv1.2' });
      log.info({ cert: tls.cert }, 'TLS certificates reloaded');
      return true;
    } catch (err) {
      // Mid-rotation a file may be half written: keep serving the old certificate, retry on the next change.
      log.warn({ err: (err as Error).message }, 'could not reload TLS certificates; keeping the previous ones');
      return false;
    }
  };
  const tlsFiles = tls ? [tls.cert, tls.key, tls.ca].filter((f): f is string => !!f) : [];
  const onFileChange = (curr: { mtimeMs: number }, prev: { mtimeMs: number }) => {
    if (curr.mtimeMs !== prev.mtimeMs) reloadTls();
  };
  const onSighup = () => reloadTls();
  if (tls) {
    // Polling, not fs.watch: Kubernetes swaps Secret volumes by renaming a symlinked directory.
    for (const f of tlsFiles) watchFile(f, { interval: TLS_POLL_INTERVAL, persistent: false }, onFileChange);
    process.on('SIGHUP', onSighup);
  }

  await listenOn(server, listen.port, listen.host);
  const port = (server.address() as AddressInfo).port;

  let plain: Server | undefined;
  if (listen.plain) {
    const paths = new Set(listen.plain.paths);
    plain = createHttpServer(serverOptions, (req, res) => {
      const path = (req.url ?? '/').split('?', 1)[0]!;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return json(res, 405, 'method_not_allowed', `this port serves only GET ${[...paths].join(', ')}; alerts go to the TLS port`, { allow: 'GET, HEAD' });
      }
      if (!paths.has(path)) return json(res, 404, 'not_found', `this port serves only ${[...paths].join(', ')}`);
      return handler(req, res);
    });
    await listenOn(plain, listen.plain.port, listen.plain.host ?? listen.host);
  }
  const host = listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host;
  return {
    url: `${tls ? 'https' : 'http'}://${host}:${port}`,
    port,
    plainPort: plain ? (plain.address() as AddressInfo).port : undefined,
    reloadTls,
    async close() {
      stopping = true;
      for (const f of tlsFiles) unwatchFile(f, onFileChange);
      process.off('SIGHUP', onSighup);
      await Promise.all([server, plain].filter((s): s is Server => !!s).map(closeGracefully));
    },
  };
}

function listenOn(server: Server | HttpsServer, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeGracefully(server: Server | HttpsServer): Promise<void> {
  return new Promise<void>((resolve) => {
    // Connections busy now become idle later: keep closing idle ones until the server is closed.
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    server.close(() => {
      clearInterval(sweep);
      resolve();
    });
    server.closeIdleConnections();
  });
}
