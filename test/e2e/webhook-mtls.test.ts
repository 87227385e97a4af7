import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { fixtureAlertLines } from '../helpers/fixtures.js';
import { startPipeline, testConfig, type Pipeline } from '../helpers/harness.js';
import { startMtlsServer, tlsFixture as tls, type MtlsServer } from '../helpers/mtls-server.js';
import { waitFor } from '../helpers/wait.js';


let pipeline: Pipeline | undefined;
let server: MtlsServer | undefined;
afterEach(async () => {
  await pipeline?.stop();
  await server?.stop();
  pipeline = server = undefined;
});

describe('webhook over mutual TLS', () => {
  it('trusts the configured CA and presents the configured client certificate', async () => {
    server = await startMtlsServer();
    const received = server.received;
    const url = `${server.url}/hook`;

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
