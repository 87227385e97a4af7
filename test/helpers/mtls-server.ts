import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';

/** Test TLS material (test/fixtures/tls): ca.pem signs server.pem (127.0.0.1) and client.pem (CN falconet-client). */
export const tlsFixture = (name: string) => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));

export interface MtlsRequest {
  /** CN of the client certificate. */
  peer: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface MtlsServer {
  url: string;
  received: MtlsRequest[];
  stop(): Promise<void>;
}

/**
 * A real HTTPS server on 127.0.0.1:0 that only talks to clients holding a certificate from the
 * test CA, records each request and answers with `answer` (200, empty body by default).
 */
export async function startMtlsServer(answer: (req: MtlsRequest) => { status: number; body?: string } = () => ({ status: 200 })): Promise<MtlsServer> {
  const received: MtlsRequest[] = [];
  const server: Server = createServer(
    { key: readFileSync(tlsFixture('server.key')), cert: readFileSync(tlsFixture('server.pem')), ca: readFileSync(tlsFixture('ca.pem')), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const request = { peer: String((req.socket as TLSSocket).getPeerCertificate().subject.CN), path: req.url ?? '', headers: req.headers, body };
        received.push(request);
        const a = answer(request);
        res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.body ?? '');
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
