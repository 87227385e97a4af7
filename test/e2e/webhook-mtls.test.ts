import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { fixtureAlertLines } from '../helpers/fixtures.js';
import { startPipeline, testConfig, type Pipeline } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';

const tls = (name: string) => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));

let pipeline: Pipeline | undefined;
let server: Server | undefined;
afterEach(async () => {
  await pipeline?.stop();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  pipeline = server = undefined;
});

describe('webhook over mutual TLS', () => {
  it('trusts the configured CA and presents the configured client certificate', async () => {
    const received: Array<{ peer: string; body: string }> = [];
    // A receiver that only talks to clients holding a certificate from the test CA.
    server = createServer(
      { key: readFileSync(tls('server.key')), cert: readFileSync(tls('server.pem')), ca: readFileSync(tls('ca.pem')), requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          received.push({ peer: (req.socket as TLSSocket).getPeerCertificate().subject.CN as string, body });
          res.writeHead(200).end();
        });
      },
    );
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

    pipeline = await startPipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: {
          secure: {
            type: 'webhook',
            url,
            // Paths here; inline PEM text works too.
            tls: { ca: tls('ca.pem'), cert: tls('client.pem'), key: readFileSync(tls('client.key'), 'utf8') },
          },
        },
        routes: [{ outputs: ['secure'] }],
      }),
    );
    const line = fixtureAlertLines()[8]!;
    expect((await pipeline.post(line)).status).toBe(200);
    await waitFor(() => received.length >= 1, { what: 'the alert over mTLS' });
    expect(received[0]!.peer).toBe('falconet-client');
    expect(JSON.parse(received[0]!.body.replace(/:(\d{16,})/g, ':"$1"'))).toMatchObject({ rule: 'Terminal shell in container' });
  });
});
