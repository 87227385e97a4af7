import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nkeyAuthenticator, nkeys } from '@nats-io/transport-node';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alert/alert.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { digestFixture } from '../../test/helpers/digest-fixture.js';
import { expectGolden, goldenAlerts } from '../../test/helpers/golden.js';
import { NatsProbe, TestNats } from '../../test/helpers/nats-server.js';
import { DeliveryError, isDeliveryError } from '../kit/errors.js';
import type { Output, SendResult } from '../kit/types.js';
import { backoffMs } from './connection.js';
import { natsOutput } from './index.js';
import { buildNatsMessage, wireFrame } from './payload.js';

const golden = (name: string) => fileURLToPath(new URL(`./golden/${name}`, import.meta.url));
const alerts = goldenAlerts();
const TLS = fileURLToPath(new URL('../../test/fixtures/tls/', import.meta.url));

const logLines: string[] = [];
const logger = pino({ level: 'debug' }, new Writable({ write: (c: Buffer, _e, done) => (logLines.push(c.toString()), done()) }));

function build(config: Record<string, unknown>): Output {
  const instance = parseOutputInstance('nats-test', { type: 'nats', ...config }, natsOutput);
  return natsOutput.create(instance.config, { name: instance.name, logger });
}

async function failure(p: Promise<unknown>): Promise<DeliveryError> {
  try {
    await p;
  } catch (err) {
    expect(isDeliveryError(err), String(err)).toBe(true);
    return err as DeliveryError;
  }
  throw new Error('expected the send to fail');
}

const signal = () => AbortSignal.timeout(10_000);

describe('nats message builder', () => {
  it('frames every fixture alert and a digest as golden HPUB messages', () => {
    const frames = [...Object.values(alerts), digestFixture()].map((a) => wireFrame(buildNatsMessage(a)));
    expectGolden(golden('messages.txt'), frames.join('\n'));
  });

  it('subject: slugs of priority and rule, so a rule name never adds a token or a wildcard', () => {
    expect(buildNatsMessage(alerts.syscall).subject).toBe(`falco.${alerts.syscall.priority.toLowerCase()}.${alerts.syscall.rule.toLowerCase().replace(/[^a-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '')}`);
    const nasty: Alert = { ...alerts.syscall, rule: 'Shell > pod * in ns.kube-system', priority: 'Critical' };
    expect(buildNatsMessage(nasty).subject).toBe('falco.critical.shell_pod_in_ns_kube-system');
    expect(buildNatsMessage(nasty, 'sec.{hostname}.{output_fields.k8s.ns.name}').subject).toMatch(/^sec\.[a-z0-9_-]+\.[a-z0-9_-]+$/);
  });

  it('headers: Nats-Msg-Id is the alert id; values are one line (Falco text is attacker-influenced)', () => {
    const evil: Alert = { ...alerts.syscall, rule: 'line one\r\nNats-Msg-Id: forged\u0000' };
    const m = buildNatsMessage(evil);
    expect(m.headers[0]).toEqual(['Nats-Msg-Id', evil.id]);
    expect(m.headers.find(([k]) => k === 'Falco-Rule')![1]).toBe('line one Nats-Msg-Id: forged');
    expect(m.headers.filter(([k]) => k === 'Nats-Msg-Id')).toHaveLength(1);
    for (const [, v] of m.headers) expect(v).not.toMatch(/[\r\n]/);
  });

  it('body: the alert JSON with nanosecond integers exact', () => {
    const m = buildNatsMessage(alerts.plugin);
    expect(m.body).toMatch(/:\d{16,}/);
    expect(m.body).toContain(`"id":"${alerts.plugin.id}"`);
  });

  it('a digest says so in its headers', () => {
    const m = buildNatsMessage(digestFixture());
    expect(m.headers).toContainEqual(['Falconet-Digest', 'storm']);
    expect(m.headers).toContainEqual(['Falconet-Suppressed', '523']);
  });
});

describe('nats config', () => {
  const load = (more: Record<string, unknown>) => parseOutputInstance('n', { type: 'nats', url: 'nats://127.0.0.1:4222', ...more });

  it('defaults: JetStream, falco.{priority}.{rule}, connect timeout 10 s', () => {
    const { config } = parseOutputInstance('n', { type: 'nats', url: 'nats://127.0.0.1:4222' }, natsOutput);
    expect(config).toMatchObject({ mode: 'jetstream', subject: 'falco.{priority}.{rule}', connectTimeout: 10_000 });
  });

  it('accepts nats:// and tls:// URLs only', () => {
    expect(() => load({ url: 'tls://nats.example:4222' })).not.toThrow();
    expect(() => load({ url: 'http://nats.example:4222' })).toThrow(/outputs\.n\.url/);
  });

  it('refuses wildcards and unknown names in the subject, with the key path', () => {
    expect(() => load({ subject: 'falco.>' })).toThrow(/outputs\.n\.subject: ">" is not allowed/);
    expect(() => load({ subject: 'falco.*.{rule}' })).toThrow(/outputs\.n\.subject/);
    expect(() => load({ subject: 'falco.{ruel}' })).toThrow(/outputs\.n\.subject: unknown name/);
  });

  it('one credential kind at a time; password needs username; stream only with JetStream', () => {
    expect(() => load({ username: 'u', password: 'p', token: 't' })).toThrow(/outputs\.n\.token: set one of/);
    expect(() => load({ password: 'p' })).toThrow(/outputs\.n\.password: needs username/);
    expect(() => load({ mode: 'core', stream: 'FALCO' })).toThrow(/outputs\.n\.stream: only for mode: jetstream/);
    expect(() => load({ stream: 'a.b' })).toThrow(/outputs\.n\.stream/);
  });

  it('backoff grows with the outage from 250 ms to 5 s', () => {
    expect(backoffMs(0, 1)).toBe(250);
    expect(backoffMs(4_000, 1)).toBe(2_000);
    expect(backoffMs(600_000, 1)).toBe(5_000);
    expect(backoffMs(600_000, 1.2)).toBe(6_000);
  });
});

describe('nats output against nats-server', () => {
  const server = new TestNats();
  let probe: NatsProbe;
  const outputs: Output[] = [];
  const output = (config: Record<string, unknown>) => {
    const o = build({ url: server.url, ...config });
    outputs.push(o);
    return o;
  };

  beforeAll(async () => {
    await server.start();
    probe = await NatsProbe.connect(server.url);
    await probe.createStream('UNIT', ['falco.>']);
    await probe.createStream('SMALL', ['small.>'], { max_msg_size: 2048 });
  });

  afterAll(async () => {
    await Promise.all(outputs.map((o) => o.close?.()));
    await probe?.close();
    await server.destroy();
  });

  it('no stream on the subject: retryable 503 that says what to create', async () => {
    const err = await failure(output({ subject: 'nostream.{rule}' }).send([alerts.syscall], { signal: signal() }));
    expect(err.retryable).toBe(true);
    expect(err.status).toBe(503);
    expect(err.message).toMatch(/no JetStream stream captures the subject "nostream\.[a-z0-9_]+" \(no responders, 503\); create a stream/);
  });

  it('`stream` set to another stream than the subject lands in: permanent client error', async () => {
    const err = await failure(output({ stream: 'OTHER' }).send([alerts.syscall], { signal: signal() }));
    expect(err.retryable).toBe(false);
    expect(err.reason).toBe('client_error');
    expect(err.message).toMatch(/expected stream does not match \(err_code 10060, 400\)/);
    await expect(output({ stream: 'UNIT' }).send([alerts.k8s_audit], { signal: signal() })).resolves.toBeUndefined();
  });

  it('a batch: the alert over the stream max_msg_size is rejected, the others are stored', async () => {
    const big: Alert = { ...alerts.syscall, id: 'big-one', output_fields: { ...alerts.syscall.output_fields, blob: 'x'.repeat(4000) } };
    const small: Alert = { ...alerts.internal, output_fields: {} };
    const smallDigest: Alert = { ...small, id: 'small-two' };
    expect(Buffer.byteLength(buildNatsMessage(small).body)).toBeLessThan(1500);
    const before = await probe.count('SMALL');
    const result = (await output({ subject: 'small.{rule}', batch: { size: 3 } }).send([small, big, smallDigest], { signal: signal() })) as SendResult;
    expect(result.retry).toEqual([]);
    expect(result.rejected).toHaveLength(1);
    expect(result.rejected![0]!.alert).toBe(big);
    expect(result.rejected![0]!.reason).toMatch(/message size exceeds maximum allowed \(err_code 10054/);
    expect(await probe.count('SMALL')).toBe(before + 2);
  });

  it('a batch: alerts whose ack failed come back for retry, the acked ones are delivered', async () => {
    await probe.createStream('MIX', ['mix.critical.>']);
    const critical: Alert = { ...alerts.syscall, id: 'mix-critical', priority: 'Critical' };
    const notice: Alert = { ...alerts.syscall, id: 'mix-notice', priority: 'Notice' };
    const warning: Alert = { ...alerts.k8s_audit, id: 'mix-warning', priority: 'Warning' };
    const result = (await output({ subject: 'mix.{priority}.{rule}', batch: { size: 3 } }).send([notice, critical, warning], { signal: signal() })) as SendResult;
    expect(result.rejected).toEqual([]);
    expect(result.retry).toEqual([notice, warning]);
    expect(result.retry![0]).toBe(notice);
    expect(await probe.count('MIX')).toBe(1);
    // All of a batch failing alike: one error for the whole send, with its reason.
    const err = await failure(output({ subject: 'mix.{priority}.{rule}', batch: { size: 2 } }).send([notice, warning], { signal: signal() }));
    expect(err).toMatchObject({ retryable: true, reason: 'server_error', status: 503 });
  });

  it('close() while the server is away ends the reconnects at once', async () => {
    const own = await new TestNats().start();
    try {
      const probeOwn = await NatsProbe.connect(own.url);
      await probeOwn.createStream('AWAY', ['falco.>']);
      await probeOwn.close();
      const o = build({ url: own.url });
      await o.send([alerts.syscall], { signal: signal() });
      await own.stop();
      const err = await failure(o.send([alerts.syscall], { signal: signal() }));
      expect(err).toMatchObject({ retryable: true, reason: 'network' });
      const guard = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 3_000).unref());
      expect(await Promise.race([o.close!().then(() => 'closed'), guard])).toBe('closed');
      await expect(o.send([alerts.syscall], { signal: signal() })).rejects.toThrow(/output closed/);
    } finally {
      await own.destroy();
    }
  });

  it('core mode: a message over max_payload fails for good (invalid_payload)', async () => {
    const huge: Alert = { ...alerts.syscall, output_fields: { blob: 'x'.repeat(2 * 1024 * 1024) } };
    const err = await failure(output({ mode: 'core' }).send([huge], { signal: signal() }));
    expect(err.retryable).toBe(false);
    expect(err.reason).toBe('invalid_payload');
  });

  it('an aborted signal ends a send with a retryable timeout', async () => {
    const controller = new AbortController();
    controller.abort();
    const err = await failure(output({}).send([alerts.syscall], { signal: controller.signal }));
    expect(err).toMatchObject({ retryable: true, reason: 'timeout' });
  });
});

describe('nats credentials and TLS', () => {
  const started: TestNats[] = [];
  const outputs: Output[] = [];
  const output = (config: Record<string, unknown>) => {
    const o = build(config);
    outputs.push(o);
    return o;
  };
  async function serve(args: string[]): Promise<TestNats> {
    const s = await new TestNats({ args }).start();
    started.push(s);
    return s;
  }

  afterAll(async () => {
    await Promise.all(outputs.map((o) => o.close?.()));
    await Promise.all(started.map((s) => s.destroy()));
  });

  it('user/password: delivered with the right ones; a wrong password fails retryably (auth_error) and never shows up', async () => {
    const s = await serve(['--user', 'falconet', '--pass', 'pw-0123456789']);
    const probe = await NatsProbe.connect(s.url, { user: 'falconet', pass: 'pw-0123456789' });
    try {
      await probe.createStream('AUTH', ['falco.>']);
      await output({ url: s.url, username: 'falconet', password: 'pw-0123456789' }).send([alerts.syscall], { signal: signal() });
      expect(await probe.count('AUTH')).toBe(1);
      const err = await failure(output({ url: s.url, username: 'falconet', password: 'wrong-9876543210' }).send([alerts.syscall], { signal: signal() }));
      expect(err).toMatchObject({ retryable: true, reason: 'auth_error' });
      expect(err.message).toMatch(/authorization failed/i);
      expect([err.message, err.stack, ...logLines].join('\n')).not.toContain('wrong-9876543210');
    } finally {
      await probe.close();
    }
  });

  it('token auth, and a token in the URL (nats://token@host) is taken out of it', async () => {
    const s = await serve(['--auth', 'tok-0123456789abcdef']);
    const probe = await NatsProbe.connect(s.url, { token: 'tok-0123456789abcdef' });
    try {
      await probe.createStream('TOKEN', ['falco.>']);
      await output({ url: s.url, token: 'tok-0123456789abcdef' }).send([alerts.syscall], { signal: signal() });
      await output({ url: `nats://tok-0123456789abcdef@127.0.0.1:${s.port}` }).send([alerts.k8s_audit], { signal: signal() });
      expect(await probe.count('TOKEN')).toBe(2);
      expect(logLines.join('\n')).not.toContain('tok-0123456789abcdef');
    } finally {
      await probe.close();
    }
  });

  it('nkey: the seed inline or from a file; the seed never shows up', async () => {
    const user = nkeys.createUser();
    const seed = new TextDecoder().decode(user.getSeed());
    const dir = mkdtempSync(join(tmpdir(), 'falconet-nkey-'));
    writeFileSync(join(dir, 'server.conf'), `authorization { users: [ { nkey: ${user.getPublicKey()} } ] }\n`);
    writeFileSync(join(dir, 'user.nk'), `${seed}\n`);
    const s = await serve(['-c', join(dir, 'server.conf')]);
    const probe = await NatsProbe.connect(s.url, { authenticator: nkeyAuthenticator(user.getSeed()) });
    try {
      await probe.createStream('NKEY', ['falco.>']);
      await output({ url: s.url, nkey: seed }).send([alerts.syscall], { signal: signal() });
      await output({ url: s.url, nkey: join(dir, 'user.nk') }).send([alerts.k8s_audit], { signal: signal() });
      expect(await probe.count('NKEY')).toBe(2);
      const err = await failure(output({ url: s.url, nkey: new TextDecoder().decode(nkeys.createUser().getSeed()) }).send([alerts.syscall], { signal: signal() }));
      expect(err).toMatchObject({ retryable: true, reason: 'auth_error' });
      expect([err.message, err.stack, ...logLines].join('\n')).not.toContain(seed);
    } finally {
      await probe.close();
    }
  });

  it('tls:// with a private CA; without the CA the certificate is refused (retryable, the alerts wait)', async () => {
    const s = await serve(['--tls', '--tlscert', `${TLS}server.pem`, '--tlskey', `${TLS}server.key`]);
    const probe = await NatsProbe.connect(s.url, { tls: { caFile: `${TLS}ca.pem` } });
    try {
      await probe.createStream('TLS', ['falco.>']);
      await output({ url: `tls://127.0.0.1:${s.port}`, tls: { ca: `${TLS}ca.pem` } }).send([alerts.syscall], { signal: signal() });
      expect(await probe.count('TLS')).toBe(1);
      const err = await failure(output({ url: `tls://127.0.0.1:${s.port}` }).send([alerts.syscall], { signal: signal() }));
      expect(err.retryable).toBe(true);
      expect(err.message).toMatch(/not connected/);
    } finally {
      await probe.close();
    }
  });
});
