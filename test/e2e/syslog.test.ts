import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { syslogOutput } from '../../outputs/syslog/index.js';
import { formatRecord, type RecordOptions } from '../../outputs/syslog/payload.js';
import { isDeliveryError, type DeliveryError } from '../../outputs/kit/errors.js';
import type { Output } from '../../outputs/kit/types.js';
import type { Alert } from '../../src/alert/alert.js';
import { alertId } from '../../src/collector/decode.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { fixtureAlertLines } from '../helpers/fixtures.js';
import { goldenAlerts } from '../helpers/golden.js';
import { testConfig } from '../helpers/harness.js';
import { useRig } from '../helpers/rig.js';
import { startSyslogListener, type SyslogListener, type SyslogMessage } from '../helpers/syslog-listener.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The syslog output against the strict RFC 5424 listener (test/helpers/syslog-listener.ts) over
 * real UDP, TCP and TLS sockets on loopback: exact records, framing, a listener restart in the
 * middle of a stream, a private CA, mTLS and a wrong CA.
 */

const logger = pino({ level: 'silent' });
const alerts = goldenAlerts();
const RECORD: RecordOptions = { facility: 'local0', appName: 'falco', sdId: 'falco@32473', format: 'output', bom: true };
const controlChars: Alert = { ...alerts.syscall, id: 'ctl-1', rule: 'Odd "rule" [x]', output: 'first line\nsecond\tline\r\u0000' };
const SHAPES: Alert[] = [alerts.syscall, alerts.k8s_audit, alerts.plugin, alerts.unicode, controlChars];

const dir = mkdtempSync(join(tmpdir(), 'falconet-syslog-tls-'));
const file = (name: string) => join(dir, name);

/** Two CAs: `ca` signs the listener's certificate (SAN 127.0.0.1) and a client certificate; `other` signs nothing we use. */
function makeCertificates(): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  for (const ca of ['ca', 'other']) {
    ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=falconet syslog test ${ca}`, '-keyout', `${ca}.key`, '-out', `${ca}.pem`);
  }
  for (const [name, cn, ext] of [['server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\n'], ['client', 'falconet-syslog-client', 'extendedKeyUsage=clientAuth\n']] as const) {
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    writeFileSync(file(`${name}.ext`), ext);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`);
  }
}

beforeAll(() => makeCertificates());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const listeners: SyslogListener[] = [];
const outputs: Output[] = [];
afterEach(async () => {
  await Promise.all(outputs.splice(0).map((o) => o.close?.()));
  await Promise.all(listeners.splice(0).map((l) => l.stop()));
});

async function listen(opts: Parameters<typeof startSyslogListener>[0]): Promise<SyslogListener> {
  const l = await startSyslogListener(opts);
  listeners.push(l);
  return l;
}

function output(config: Record<string, unknown>): Output {
  const instance = parseOutputInstance('sys', { type: 'syslog', ...config });
  const o = syslogOutput.create(instance.config as never, { name: 'sys', logger });
  outputs.push(o);
  return o;
}

const send = (o: Output, batch: Alert[]) => o.send(batch, { signal: AbortSignal.timeout(5_000) });

async function sendError(o: Output, batch: Alert[]): Promise<DeliveryError> {
  try {
    await send(o, batch);
  } catch (err) {
    expect(isDeliveryError(err), String(err)).toBe(true);
    return err as DeliveryError;
  }
  throw new Error('the send resolved');
}

const alertIdOf = (m: SyslogMessage) => Object.fromEntries(m.sd[0]!.params).alert_id;

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('syslog over UDP', () => {
  it('sends one exact RFC 5424 record per datagram and cuts a long one to 2048 bytes', async () => {
    const listener = await listen({ transport: 'udp' });
    const o = output({ url: listener.url });
    for (const a of SHAPES) await send(o, [a]);
    const long: Alert = { ...alerts.unicode, id: 'long-1', output: 'Zoë Ångström '.repeat(500) };
    await send(o, [long]);
    await waitFor(() => listener.messages.length >= SHAPES.length + 1, { what: 'the datagrams' });

    expect(listener.errors).toEqual([]);
    expect(listener.messages.map((m) => m.raw)).toEqual([...SHAPES, long].map((a) => formatRecord(a, RECORD, 2048)));
    expect(listener.datagramSizes.every((n) => n <= 2048)).toBe(true);
    expect(listener.datagramSizes.at(-1)).toBeGreaterThan(2040);
    expect(long.output!.startsWith(listener.messages.at(-1)!.msg!)).toBe(true);
    expect(listener.messages[4]!.msg).toBe('first line#012second#011line#015#000');
  });

  it('surfaces ECONNREFUSED of a connected socket as a retryable error on a later send', async () => {
    const o = output({ url: `udp://127.0.0.1:${await closedPort()}` });
    // The ICMP answer to one datagram is reported with the next: keep sending until it shows.
    const error = await waitFor(async () => {
      try {
        await send(o, [alerts.syscall]);
        return undefined;
      } catch (err) {
        return err as DeliveryError;
      }
    }, { what: 'a refused datagram to be reported' });
    expect(isDeliveryError(error)).toBe(true);
    expect(error).toMatchObject({ retryable: true, reason: 'network' });
    expect(error.message).toContain('ECONNREFUSED');
  });
});

describe('syslog over TCP', () => {
  it('frames by octet counting, writes a batch as one stream of frames, keeps one connection', async () => {
    const listener = await listen({ transport: 'tcp' });
    const o = output({ url: listener.url, batch: { size: 10, interval: '1s' } });
    await send(o, SHAPES);
    await send(o, [alerts.internal]);
    await send(o, [alerts.null_field]);
    await waitFor(() => listener.messages.length >= SHAPES.length + 2, { what: 'the records' });

    expect(listener.errors).toEqual([]);
    expect(listener.messages.map((m) => m.raw)).toEqual([...SHAPES, alerts.internal, alerts.null_field].map((a) => formatRecord(a, RECORD)));
    expect(listener.connections()).toBe(1);
  });

  it('loses nothing when the listener restarts in the middle of a stream: sends fail retryably meanwhile, succeed after', async () => {
    let listener = await listen({ transport: 'tcp' });
    const port = listener.port;
    const o = output({ url: listener.url });
    const stream = Array.from({ length: 60 }, (_, i): Alert => ({ ...alerts.syscall, id: `stream-${i}` }));
    const received: SyslogMessage[][] = [listener.messages];
    const retry: Alert[] = [];
    const failures: DeliveryError[] = [];

    // What the queue does: a failed send is tried again later.
    const sendOrKeep = async (a: Alert) => {
      try {
        await send(o, [a]);
      } catch (err) {
        failures.push(err as DeliveryError);
        retry.push(a);
      }
    };

    for (const a of stream.slice(0, 20)) await sendOrKeep(a);
    await waitFor(() => listener.messages.length >= 20, { what: 'the first 20 records' });
    await listener.stop();
    listeners.splice(listeners.indexOf(listener), 1);

    for (const a of stream.slice(20, 40)) await sendOrKeep(a);
    expect(failures.length, 'sends while the listener is down fail').toBeGreaterThan(0);
    for (const f of failures) expect(f, f.message).toMatchObject({ retryable: true });
    expect(failures.some((f) => f.reason === 'network')).toBe(true);

    listener = await listen({ transport: 'tcp', port });
    received.push(listener.messages);
    // The retries go out once the output has reconnected (its backoff is at most 5 s).
    await waitFor(async () => {
      for (const a of retry.splice(0)) await sendOrKeep(a);
      return retry.length === 0;
    }, { timeoutMs: 20_000, intervalMs: 200, what: 'the kept alerts to go through after the restart' });
    for (const a of stream.slice(40)) await send(o, [a]);

    await waitFor(() => new Set(received.flat().map(alertIdOf)).size >= stream.length, { what: 'every alert of the stream' });
    expect(new Set(received.flat().map(alertIdOf))).toEqual(new Set(stream.map((a) => a.id)));
    expect(listener.errors).toEqual([]);
  });

  it('fails retryably while nothing listens and ends its reconnect loop on close', async () => {
    const o = output({ url: `tcp://127.0.0.1:${await closedPort()}` });
    const error = await sendError(o, [alerts.syscall]);
    expect(error).toMatchObject({ retryable: true, reason: 'network' });
    expect(error.message).toContain('ECONNREFUSED');
    // Within the backoff a send fails at once, with the same cause.
    expect((await sendError(o, [alerts.syscall])).message).toContain('ECONNREFUSED');
  });
});

describe('syslog reconnects', () => {
  it('backs off from a peer that drops every connection at once, and stops on close()', async () => {
    let connections = 0;
    const server = createServer((socket) => (connections++, socket.destroy()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const o = output({ url: `tcp://127.0.0.1:${(server.address() as AddressInfo).port}` });
      const started = Date.now();
      // The first record may be written before the peer's close arrives: TCP syslog has no ack.
      await send(o, [alerts.syscall]).catch(() => undefined);
      // The loop reconnects by itself; 100, 200, 400 ms (jittered to at least half) between tries.
      await waitFor(() => connections >= 4, { what: 'the reconnect loop' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(350);
      await o.close?.();
      const after = connections;
      // A negative check: nothing may connect after close(), whatever the loop had scheduled.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(connections).toBe(after);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('syslog over TLS (RFC 5425)', () => {
  const serverTls = () => ({ key: readFileSync(file('server.key')), cert: readFileSync(file('server.pem')) });

  it('trusts a private CA, presents a client certificate (mTLS), frames by octet counting', async () => {
    const listener = await listen({ transport: 'tls', tls: { ...serverTls(), ca: readFileSync(file('ca.pem')), requestCert: true } });
    // CA and cert by path, key as PEM text.
    const o = output({ url: listener.url, tls: { ca: file('ca.pem'), cert: file('client.pem'), key: readFileSync(file('client.key'), 'utf8') } });
    await send(o, SHAPES);
    await waitFor(() => listener.messages.length >= SHAPES.length, { what: 'the records over TLS' });
    expect(listener.errors).toEqual([]);
    expect(listener.peers).toEqual(['falconet-syslog-client']);
    expect(listener.messages.map((m) => m.raw)).toEqual(SHAPES.map((a) => formatRecord(a, RECORD)));
  });

  it('a server that requires a client certificate we lack: the first send already fails (TLS 1.3 alert awaited), retryably', async () => {
    const listener = await listen({ transport: 'tls', tls: { ...serverTls(), ca: readFileSync(file('ca.pem')), requestCert: true } });
    const o = output({ url: listener.url, tls: { ca: file('ca.pem') } });
    const error = await sendError(o, [alerts.syscall]);
    expect(error).toMatchObject({ retryable: true, reason: 'network' });
    expect(error.message).toContain('CERTIFICATE_REQUIRED');
    expect(listener.messages).toEqual([]);
  });

  it('refuses a server whose certificate another CA signed: retryable, the code in the message, nothing sent', async () => {
    const listener = await listen({ transport: 'tls', tls: serverTls() });
    const o = output({ url: listener.url, tls: { ca: file('other.pem') } });
    const error = await sendError(o, [alerts.syscall]);
    expect(error).toMatchObject({ retryable: true, reason: 'network' });
    expect(error.message).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
    expect(listener.messages).toEqual([]);

    // The same server with the system CAs only: refused too; insecureSkipVerify gets through.
    expect((await sendError(output({ url: listener.url }), [alerts.syscall])).retryable).toBe(true);
    await send(output({ url: listener.url, tls: { insecureSkipVerify: true } }), [alerts.syscall]);
    await waitFor(() => listener.messages.length === 1, { what: 'the record with verification off' });
  });
});

describe('syslog through the pipeline', () => {
  const rig = useRig();

  it('alerts posted while the listener is down wait in the queue and arrive after it is back', async () => {
    let listener = await listen({ transport: 'tcp' });
    const port = listener.port;
    const pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: { sys: { type: 'syslog', url: listener.url, retry: { attempts: 50, backoff: '200ms', maxBackoff: '1s' } } },
        routes: [{ outputs: ['sys'] }],
      }),
    );
    const lines = fixtureAlertLines().slice(0, 20);
    const ids = lines.map((l) => alertId(l));
    const received = [listener.messages];
    const all = () => new Set(received.flat().map(alertIdOf));
    for (const line of lines.slice(0, 10)) expect((await pipeline.post(line)).status).toBe(200);
    await waitFor(() => all().size >= 10, { what: 'the first 10 alerts' });

    await listener.stop();
    listeners.splice(listeners.indexOf(listener), 1);
    for (const line of lines.slice(10)) expect((await pipeline.post(line)).status).toBe(200);
    const retries = async () => {
      const text = await pipeline.metrics.registry.metrics();
      return [...text.matchAll(/^falconet_deliveries_total\{output="sys",status="retry",reason="[a-z_]+"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    };
    await waitFor(async () => (await retries()) > 0, { what: 'deliveries to be retried while the listener is down' });

    listener = await listen({ transport: 'tcp', port });
    received.push(listener.messages);
    await waitFor(() => all().size >= ids.length, { timeoutMs: 30_000, what: 'every alert after the restart' });
    expect(all()).toEqual(new Set(ids));
    expect(listener.errors).toEqual([]);
  }, 60_000);
});
