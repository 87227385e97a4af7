import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCollector } from '../../src/collector/service.js';
import { buildConfig } from '../../src/config/load.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { toolConnection, waitForRedis } from '../../src/queue/connection.js';
import { startWorker } from '../../src/worker/service.js';
import { falconet, killAll, untilLogged, writeConfig } from '../chaos/procs.js';
import { CaptureServer } from '../helpers/capture-server.js';
import { falcoHeaders } from '../helpers/fixtures.js';
import { freePort } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'falconet-redis-tls-'));
const file = (name: string) => join(dir, name);

/** A test CA, a server certificate for 127.0.0.1 and a client certificate, all made here. */
function makeCertificates(): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=falconet test CA', '-keyout', 'ca.key', '-out', 'ca.crt');
  for (const [name, cn] of [['server', '127.0.0.1'], ['client', 'falconet']] as const) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    writeFileSync(file(`${name}.ext`), name === 'server' ? 'subjectAltName=IP:127.0.0.1\n' : 'extendedKeyUsage=clientAuth\n');
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
  }
}

let server: ChildProcess | undefined;
let port = 0;
const tls = { ca: file('ca.crt'), cert: file('client.crt'), key: file('client.key') };

beforeAll(async () => {
  makeCertificates();
  port = await freePort();
  // TLS only (no plain port), client certificates required, and one ACL user (default is off).
  server = spawn('redis-server', [
    '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes',
    '--tls-cert-file', file('server.crt'), '--tls-key-file', file('server.key'), '--tls-ca-cert-file', file('ca.crt'), '--tls-auth-clients', 'yes',
    '--user', 'default', 'off', '--user', 'falconet', 'on', '>s3cret-pw', '~*', '&*', '+@all',
  ], { stdio: 'ignore' });
  const probe = toolConnection({ url: `rediss://falconet:s3cret-pw@127.0.0.1:${port}`, tls }, { retryStrategy: () => 100 });
  probe.on('error', () => undefined);
  try {
    await waitForRedis(probe, 20_000);
  } finally {
    probe.disconnect();
  }
}, 60_000);

afterAll(async () => {
  await killAll();
  server?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

const doc = (url: string, sink: string) => ({
  listen: { host: '127.0.0.1', port: 0 },
  redis: { url, tls, prefix: `fnt-${randomUUID().slice(0, 8)}`, embedded: false },
  spool: { dir: join(dir, 'spool') },
  worker: { metricsPort: 0 },
  log: { level: 'info' },
  outputs: { sink: { type: 'webhook', url: sink } },
  routes: [{ outputs: ['sink'] }],
});

describe('rediss:// with a test CA, a client certificate and an ACL user', () => {
  it('collector and worker deliver through it', async () => {
    const sink = await new CaptureServer().start();
    const config = buildConfig(doc(`rediss://falconet:s3cret-pw@127.0.0.1:${port}`, sink.url), {});
    const logger = pino({ level: 'silent' });
    const metrics = createMetrics();
    const worker = await startWorker(config, logger, metrics);
    const collector = await startCollector(config, logger, metrics);
    try {
      const body = JSON.stringify({ rule: 'Terminal shell in container', priority: 'Warning', hostname: 'node-1', time: '2026-12-01T08:00:00Z', output: 'shell' });
      expect((await fetch(collector.url, { method: 'POST', body, headers: falcoHeaders() })).status).toBe(200);
      await waitFor(() => sink.requests.length === 1, { timeoutMs: 20_000, what: 'delivered over TLS' });
      expect(JSON.parse(sink.requests[0]!.body)).toMatchObject({ hostname: 'node-1' });
      // Nothing was spooled: the write went to the TLS Redis.
      expect(metrics.spoolSource.bytes()).toBe(0);
    } finally {
      await collector.stop();
      await worker.stop();
      await sink.stop();
    }
  }, 60_000);

  it('a wrong password: collector and worker say so, naming the url without the password', async () => {
    const url = `rediss://falconet:wrong-pw@127.0.0.1:${port}`;
    const path = writeConfig(dir, doc(url, 'http://127.0.0.1:9/unused'));
    for (const role of ['collector', 'worker']) {
      const proc = falconet(role, path);
      await untilLogged(proc, 'refuses the login');
      expect(proc.log()).toContain(`Redis at rediss://falconet:***@127.0.0.1:${port} refuses the login (WRONGPASS`);
      expect(proc.log()).toContain('check the ACL user and password in redis.url');
      expect(proc.log()).not.toContain('wrong-pw');
    }
  }, 60_000);
});
