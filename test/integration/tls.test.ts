import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { testConfig } from '../helpers/harness.js';
import { useRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

const exec = promisify(execFile);
const rig = useRig();
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'falconet-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ALERT = JSON.stringify({ rule: 'Terminal shell in container', priority: 'Notice', time: '2025-06-12T08:00:00.000000001Z', output: 'over tls', output_fields: { 'k8s.ns.name': 'team1' } });

/** curl's exit code, HTTP status (000 when none) and stderr. */
async function curl(args: string[]): Promise<{ code: number; status: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', ...args]);
    return { code: 0, status: stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, status: e.stdout, stderr: e.stderr };
  }
}

async function start(tls: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const sink = await rig.capture();
  const p = await rig.pipeline(
    testConfig({
      listen: { host: '127.0.0.1', port: 0, tls, plain: { port: 0 } },
      dedup: { window: 0 },
      outputs: { sink: { type: 'webhook', url: `${sink.url}/hook` } },
      routes: [{ outputs: ['sink'] }],
      ...extra,
    }),
  );
  return { p, sink };
}

const post = ['-H', 'content-type: application/json', '--data-binary', ALERT];

describe('collector over TLS', () => {
  it('a curl client trusting the test CA gets 200 and the alert is delivered; the plain port serves /healthz and refuses POST /', async () => {
    const { p, sink } = await start({ cert: fixture('server.pem'), key: fixture('server.key') });
    expect(p.collector.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await curl(['--cacert', fixture('ca.pem'), ...post, `${p.collector.url}/`])).toMatchObject({ code: 0, status: '200' });
    // TLS 1.1 is refused at the handshake.
    const old = await curl(['--cacert', fixture('ca.pem'), '--tlsv1.1', '--tls-max', '1.1', ...post, `${p.collector.url}/`]);
    expect(old.code).not.toBe(0);
    expect(old.status).toBe('000');
    await waitFor(() => sink.requests.length === 1, { what: 'the alert posted over TLS' });

    const plain = `http://127.0.0.1:${p.collector.plainPort}`;
    expect(await curl([`${plain}/healthz`])).toMatchObject({ code: 0, status: '200' });
    expect(await curl([`${plain}/metrics`])).toMatchObject({ code: 0, status: '200' });
    expect(await curl([...post, `${plain}/`])).toMatchObject({ code: 0, status: '405' });
    expect(await curl([`${plain}/api/dlq`])).toMatchObject({ code: 0, status: '404' });
    // The TLS port does not speak plain HTTP.
    expect((await curl([...post, p.collector.url.replace('https', 'http') + '/'])).status).not.toBe('200');
    expect(sink.requests).toHaveLength(1);
  });

  it('mTLS: no client certificate is refused at the handshake; the CA-signed one maps to its tenant', async () => {
    const { p, sink } = await start(
      { cert: fixture('server.pem'), key: fixture('server.key'), ca: fixture('ca.pem'), requireClientCert: true },
      { auth: { clientCerts: [{ subject: 'CN=falconet-client', tenant: 'team1', cluster: 'prod-eu-1', namespaces: ['team1'] }] } },
    );
    const refused = await curl(['--cacert', fixture('ca.pem'), ...post, `${p.collector.url}/`]);
    expect(refused.code).not.toBe(0);
    expect(refused.status).toBe('000');
    expect(refused.stderr).toMatch(/alert|certificate|handshake/i);
    // TLS 1.2 makes it plain that the handshake itself fails (curl: 35, SSL connect error).
    const tls12 = await curl(['--cacert', fixture('ca.pem'), '--tls-max', '1.2', ...post, `${p.collector.url}/`]);
    expect(tls12.code).toBe(35);

    const withCert = ['--cacert', fixture('ca.pem'), '--cert', fixture('client.pem'), '--key', fixture('client.key')];
    expect(await curl([...withCert, ...post, `${p.collector.url}/`])).toMatchObject({ code: 0, status: '200' });
    const other = JSON.stringify({ ...JSON.parse(ALERT), output_fields: { 'k8s.ns.name': 'team2' } });
    expect(await curl([...withCert, '-H', 'content-type: application/json', '--data-binary', other, `${p.collector.url}/`])).toMatchObject({ status: '403' });
    await waitFor(() => sink.requests.length === 1, { what: 'the mTLS alert' });
    expect(JSON.parse(sink.requests[0]!.body).output_fields).toMatchObject({ 'falconet.tenant': 'team1', 'falconet.cluster': 'prod-eu-1' });
  });

  it('with a CA but no requireClientCert: a client certificate or a token authenticates, neither gets 401', async () => {
    const token = 'team2-token-0123456789abcdef';
    const { p, sink } = await start(
      { cert: fixture('server.pem'), key: fixture('server.key'), ca: fixture('ca.pem') },
      { auth: { clientCerts: [{ subject: 'CN=falconet-client', tenant: 'team1' }], tokens: [{ name: 'team2-nodes', token, tenant: 'team2' }] } },
    );
    const ca = ['--cacert', fixture('ca.pem')];
    expect(await curl([...ca, ...post, `${p.collector.url}/`])).toMatchObject({ code: 0, status: '401' });
    expect(await curl([...ca, '--cert', fixture('client.pem'), '--key', fixture('client.key'), ...post, `${p.collector.url}/`])).toMatchObject({ status: '200' });
    expect(await curl([...ca, ...post, p.collector.url.replace('https://', `https://falco:${token}@`) + '/'])).toMatchObject({ status: '200' });
    await waitFor(() => sink.requests.length === 2, { what: 'both alerts' });
    expect(sink.requests.map((r) => JSON.parse(r.body).output_fields['falconet.tenant']).sort()).toEqual(['team1', 'team2']);
  });

  it('re-reads the certificate when its file changes, without a restart', async () => {
    const cert = join(dir, 'server.pem');
    const key = join(dir, 'server.key');
    copyFileSync(fixture('server.pem'), cert);
    copyFileSync(fixture('server.key'), key);
    const { p } = await start({ cert, key });
    const port = p.collector.port;
    const before = await peerFingerprint(port);
    // A rotated certificate, written the way a Secret update lands: new files renamed into place.
    await exec('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'new.key'), '-out', join(dir, 'new.pem')]);
    renameSync(join(dir, 'new.key'), key);
    renameSync(join(dir, 'new.pem'), cert);
    const after = await waitFor(async () => {
      const f = await peerFingerprint(port);
      return f !== before ? f : undefined;
    }, { timeoutMs: 15_000, what: 'the rotated certificate to be served' });
    expect(after).not.toBe(before);
    // SIGHUP re-reads at once (kill -HUP <pid>); emitted here, so the test runner lives on.
    await exec('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'new.key'), '-out', join(dir, 'new.pem')]);
    renameSync(join(dir, 'new.key'), key);
    renameSync(join(dir, 'new.pem'), cert);
    process.emit('SIGHUP', 'SIGHUP');
    const third = await peerFingerprint(port);
    expect([before, after]).not.toContain(third);
  });
});

function peerFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fp);
    });
    socket.on('error', reject);
  });
}
