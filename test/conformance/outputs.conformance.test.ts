import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTPUT_DEFINITIONS } from '../../outputs/index.js';
import { templateKeys } from '../../outputs/kit/options.js';
import type { Output, OutputDefinition, SendResult } from '../../outputs/kit/types.js';
import type { Alert } from '../../src/alert/alert.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { DeliveryError, isDeliveryError } from '../../outputs/kit/errors.js';
import { normalise } from '../../src/router/stages/normalise.js';
import { CaptureServer, exampleTarget } from '../helpers/capture-server.js';
import { fixtureAlertLines } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The output contract, checked for every registered output that has an `example` (an HTTP output):
 * what it sends, how it classifies every status, Retry-After, timeouts through the signal, and that
 * its secrets never reach an error or a log line. Generic on purpose: a new output is covered by
 * registering it. Destination-specific meanings of a status are declared on the definition
 * (`conformance.okStatuses`), not special-cased here.
 */

const OK = [200, 201, 202, 204];
const RETRYABLE = [408, 429, 500, 502, 503, 504];
const PERMANENT = [400, 401, 403, 404, 410, 422];
const DOCS = fileURLToPath(new URL('../../docs/outputs', import.meta.url));
const HTTP_OUTPUTS = OUTPUT_DEFINITIONS.filter((d) => d.transport === 'http');

const lines = fixtureAlertLines();
// A syscall alert with int64 fields, a k8s_audit one and a plugin one with unicode.
const ALERTS: Alert[] = normalise([23, 19, 3].map((i) => [`conformance-${i}`, lines[i]!] as const));

/** Every string under the definition's secret keys, and the credential parts of secret URLs. */
function secretStrings(config: Record<string, unknown>, secretKeys: string[]): string[] {
  const out = new Set<string>();
  const visit = (value: unknown): void => {
    if (typeof value === 'string') {
      out.add(value);
      for (const token of value.split(/\s+/)) if (token.length >= 8) out.add(token);
      addUrlCredentials(value, out);
    } else if (value && typeof value === 'object') {
      for (const v of Object.values(value)) visit(v);
    }
  };
  for (const key of secretKeys) visit(key.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], config));
  return [...out].filter((s) => s.length >= 6);
}

function addUrlCredentials(value: string, out: Set<string>): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return;
  }
  if (url.username) out.add(decodeURIComponent(url.username));
  if (url.password) out.add(decodeURIComponent(url.password));
  for (const v of url.searchParams.values()) out.add(v);
  if (url.pathname.length > 1) out.add(url.pathname);
  // Path segments that look like tokens (Slack's T…/B…/<secret>), not words like "services".
  for (const segment of url.pathname.split('/')) if (segment.length >= 8 && /\d/.test(segment) && /[a-z]/i.test(segment)) out.add(segment);
}

/** No secret in any error (message, stack, serialised, causes) or log line the output produced. */
function expectNoSecretLeak(secrets: string[], errors: unknown[], logLines: string[]): void {
  expect(secrets.length, 'the example config should carry a secret in every secret key').toBeGreaterThan(0);
  expect(errors.length).toBeGreaterThan(0);
  const texts: string[] = [...logLines];
  for (const error of errors) {
    for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) {
      texts.push(String((e as Error).message), String((e as Error).stack), JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? '');
    }
  }
  for (const secret of secrets) expect(texts.find((t) => t.includes(secret)), `secret "${secret}" leaked`).toBeUndefined();
}

/** A receiver that reads requests and never answers them. */
async function startSilentServer(): Promise<{ url: string; received(): number; stop(): Promise<void> }> {
  let received = 0;
  const server: Server = createServer(() => void received++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: () => received,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

type Outcome = { kind: 'ok' } | { kind: 'error'; error: DeliveryError } | { kind: 'other'; error: unknown };

/** Whether every alert of the send ended up in `retry` (true), `rejected` (false), or neither. */
function perItemVerdict(result: SendResult | void, count: number): boolean | undefined {
  if (result?.retry?.length === count) return true;
  if (result?.rejected?.length === count) return false;
  return undefined;
}

describe.each(HTTP_OUTPUTS.map((d) => [d.type, d] as const))('http output %s', (_type, def: OutputDefinition) => {
  const logLines: string[] = [];
  const errors: unknown[] = [];
  const logger = pino({ level: 'trace' }, new Writable({ write: (chunk: Buffer, _enc, done) => (logLines.push(chunk.toString()), done()) }));
  let capture: CaptureServer;
  let output: Output;
  let alerts: Alert[];
  let secrets: string[];
  const built: Output[] = [];

  function build(baseUrl: string): Output {
    const instance = parseOutputInstance(`conformance-${def.type}`, def.example!(exampleTarget(baseUrl)));
    alerts = ALERTS.slice(0, instance.batchSize > 1 ? 3 : 1);
    const created = def.create(instance.config, { name: instance.name, logger });
    built.push(created);
    return created;
  }

  async function attempt(status: number, headers: Record<string, string> = {}): Promise<Outcome & { result?: SendResult | void }> {
    capture.fallback = { status, headers, body: status === 204 ? '' : status < 300 ? '{}' : 'conformance says no' };
    try {
      const result = await output.send(alerts, { signal: new AbortController().signal });
      return { kind: 'ok', result };
    } catch (error) {
      errors.push(error);
      return isDeliveryError(error) ? { kind: 'error', error } : { kind: 'other', error };
    } finally {
      capture.fallback = { status: 200 };
    }
  }

  beforeAll(async () => {
    capture = await new CaptureServer().start();
    output = build(capture.url);
    secrets = secretStrings(def.example!(capture.target()), def.secretKeys ?? []);
  });

  afterAll(async () => {
    await Promise.all(built.map((o) => o.close?.()));
    await capture.stop();
  });

  it('sends a JSON (or NDJSON) request for fixture alerts', async () => {
    const before = capture.requests.length;
    const outcome = await attempt(200);
    expect(outcome.kind, String((outcome as { error?: unknown }).error)).toBe('ok');
    const sent = capture.requests.slice(before);
    expect(sent.length).toBeGreaterThan(0);
    for (const req of sent) {
      expect(['POST', 'PUT']).toContain(req.method);
      expect(req.headers['content-type']).toMatch(/json|ndjson/);
      expect(req.body.length).toBeGreaterThan(0);
    }
  });

  // The kit's one base-URL rule (outputs/kit/url.ts): a gateway prefix is kept, the API path appended once.
  it.each(['/gw/prefix', '/gw/prefix/'])('keeps the URL path %s and appends its API path once', async (prefix) => {
    const prefixed = build(`${capture.url}${prefix}`);
    const before = capture.requests.length;
    await prefixed.send(alerts, { signal: AbortSignal.timeout(5_000) });
    const path = new URL(capture.requests[before]!.path, capture.url).pathname;
    if (def.apiPath) expect(path).toBe(`/gw/prefix${def.apiPath}`);
    else expect(path.startsWith('/gw/prefix/')).toBe(true);
  });

  it.runIf(def.apiPath !== undefined)('does not append its API path to a URL that ends with it', async () => {
    const complete = build(`${capture.url}/gw${def.apiPath}`);
    const before = capture.requests.length;
    await complete.send(alerts, { signal: AbortSignal.timeout(5_000) });
    expect(new URL(capture.requests[before]!.path, capture.url).pathname).toBe(`/gw${def.apiPath}`);
  });

  const okStatuses = [...OK, ...(def.conformance?.okStatuses ?? [])];
  it.each(okStatuses)('resolves on HTTP %i', async (status) => {
    const outcome = await attempt(status);
    expect(outcome.kind, String((outcome as { error?: unknown }).error)).toBe('ok');
  });

  it.each(RETRYABLE.filter((s) => !okStatuses.includes(s)))('retries HTTP %i', async (status) => {
    const outcome = await attempt(status);
    if (outcome.kind === 'ok') expect(perItemVerdict(outcome.result, alerts.length), 'resolved without marking alerts for retry').toBe(true);
    else expect(outcome.kind === 'error' && outcome.error.retryable, String(outcome.error)).toBe(true);
  });

  it.each(PERMANENT.filter((s) => !okStatuses.includes(s)))('fails HTTP %i for good', async (status) => {
    const outcome = await attempt(status);
    if (outcome.kind === 'ok') expect(perItemVerdict(outcome.result, alerts.length), 'resolved without rejecting the alerts').toBe(false);
    else expect(outcome.kind === 'error' && outcome.error.retryable === false, String(outcome.error)).toBe(true);
  });

  it('honours Retry-After in seconds on 429', async () => {
    const outcome = await attempt(429, { 'retry-after': '7' });
    expect(outcome.kind).toBe('error');
    expect((outcome as { error: DeliveryError }).error.retryAfterMs).toBe(7000);
  });

  it('honours Retry-After as an HTTP-date on 429', async () => {
    const outcome = await attempt(429, { 'retry-after': new Date(Date.now() + 30_000).toUTCString() });
    expect(outcome.kind).toBe('error');
    // The date has whole seconds: anything within a couple of seconds of 30 s is right.
    expect((outcome as { error: DeliveryError }).error.retryAfterMs).toBeGreaterThanOrEqual(27_000);
    expect((outcome as { error: DeliveryError }).error.retryAfterMs).toBeLessThanOrEqual(31_000);
  });

  it('gives up with a retryable timeout error when the signal fires on a silent receiver', async () => {
    const silent = await startSilentServer();
    try {
      const hanging = build(silent.url);
      const controller = new AbortController();
      const sending = hanging.send(alerts, { signal: controller.signal }).then(
        () => ({ kind: 'ok' as const }),
        (error: unknown) => (errors.push(error), { kind: 'rejected' as const, error }),
      );
      // Abort only once the request is in flight, as a real timeout would.
      await waitFor(() => silent.received() > 0, { what: 'the request to reach the silent receiver' });
      controller.abort(new DOMException('conformance timeout', 'TimeoutError'));
      // A guard, not a timing assertion: an output that ignores the signal would hang forever.
      const guard = new Promise<{ kind: 'hung' }>((resolve) => setTimeout(() => resolve({ kind: 'hung' }), 5_000).unref());
      const outcome = await Promise.race([sending, guard]);
      expect(outcome.kind).toBe('rejected');
      const error = (outcome as { error: DeliveryError }).error;
      expect(isDeliveryError(error), String(error)).toBe(true);
      expect(error.retryable).toBe(true);
      expect(error.reason).toBe('timeout');
    } finally {
      await silent.stop();
    }
  });

  it('never puts a secret into an error or a log line', () => {
    expectNoSecretLeak(secrets, errors, logLines);
  });
});

/** The contract every output meets, whatever its transport. */
describe.each(OUTPUT_DEFINITIONS.map((d) => [d.type, d] as const))('output %s', (_type, def: OutputDefinition) => {
  const target = exampleTarget('http://127.0.0.1:9');
  const example = () => def.example?.(target) ?? { type: def.type };

  it('has an example config (unless local) that loads', () => {
    if (def.transport !== 'local') expect(def.example, 'example').toBeTypeOf('function');
    expect(() => parseOutputInstance('conformance', example())).not.toThrow();
  });

  it('has a docs page that names every option key', () => {
    const page = join(DOCS, `${def.type}.md`);
    expect(existsSync(page), `${page} is missing`).toBe(true);
    const text = readFileSync(page, 'utf8');
    for (const key of Object.keys(def.options)) expect(text, `docs/outputs/${def.type}.md does not mention \`${key}\``).toContain(`\`${key}`);
  });

  it('has golden payloads (unless local)', () => {
    if (def.transport === 'local') return;
    const dir = fileURLToPath(new URL(`../../outputs/${def.type}/golden`, import.meta.url));
    expect(existsSync(dir) && readdirSync(dir).length > 0, `outputs/${def.type}/golden is empty`).toBe(true);
  });

  it('refuses an unknown key with its path', () => {
    expect(() => parseOutputInstance('conformance', { ...example(), colour: 'red' })).toThrow(/outputs\.conformance\.colour: unknown key/);
  });

  const templates = templateKeys(def.options);
  it.each(templates.length > 0 ? templates : [undefined])('refuses a template typo in %o with its key path', (template) => {
    if (!template) return;
    const typos = template.kind === 'mustache' ? ['{{ruel}}', '{{#rule}} unclosed'] : ['falco.{ruel}', 'falco.{rule'];
    for (const typo of typos) {
      const attempt = () => parseOutputInstance('conformance', { ...example(), [template.key]: typo });
      expect(attempt, typo).toThrow(new RegExp(`outputs\\.conformance\\.${template.key}:`));
    }
  });
});

/** A TCP server that accepts connections and never says a word (a hung broker). */
async function startSilentTcp(): Promise<{ host: string; port: number; connections(): number; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createNetServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port with nothing listening: bound once, then closed. */
async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const SOCKET_OUTPUTS = OUTPUT_DEFINITIONS.filter((d) => d.transport === 'socket');

/**
 * Broker and daemon outputs without their daemon: refused and hung peers. Each send must end,
 * classified retryable (the alerts wait in the queue), when the signal fires; secrets stay out of
 * errors and logs; close() ends the reconnect loop. Their real-daemon tests live in test/e2e.
 */
describe.each(SOCKET_OUTPUTS.map((d) => [d.type, d] as const))('socket output %s', (_type, def: OutputDefinition) => {
  const logLines: string[] = [];
  const errors: unknown[] = [];
  const logger = pino({ level: 'trace' }, new Writable({ write: (chunk: Buffer, _enc, done) => (logLines.push(chunk.toString()), done()) }));

  async function sendUntilAborted(host: string, port: number, abortAfter: () => Promise<void>): Promise<DeliveryError> {
    const instance = parseOutputInstance(`conformance-${def.type}`, def.example!({ host, port, url: `http://${host}:${port}` }));
    const output = def.create(instance.config, { name: instance.name, logger });
    try {
      const controller = new AbortController();
      const sending = output.send(ALERTS.slice(0, 1), { signal: controller.signal }).then(
        () => ({ kind: 'resolved' as const }),
        (error: unknown) => (errors.push(error), { kind: 'rejected' as const, error }),
      );
      await abortAfter();
      controller.abort(new DOMException('conformance timeout', 'TimeoutError'));
      // A guard, not a timing assertion: an output that ignores the signal would hang forever.
      const guard = new Promise<{ kind: 'hung' }>((resolve) => setTimeout(() => resolve({ kind: 'hung' }), 5_000).unref());
      const outcome = await Promise.race([sending, guard]);
      expect(outcome.kind).toBe('rejected');
      const error = (outcome as { error: DeliveryError }).error;
      expect(isDeliveryError(error), String(error)).toBe(true);
      expect(error.retryable, error.message).toBe(true);
      return error;
    } finally {
      const closing = output.close?.() ?? Promise.resolve();
      const guard = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5_000).unref());
      expect(await Promise.race([closing.then(() => 'closed'), guard]), 'close() must end the reconnect loop').toBe('closed');
    }
  }

  it('fails a send retryably when nothing listens', async () => {
    const port = await closedPort();
    const error = await sendUntilAborted('127.0.0.1', port, () => new Promise((resolve) => setTimeout(resolve, 300)));
    expect(['network', 'timeout']).toContain(error.reason);
  });

  it('gives up with a retryable timeout when the peer accepts and never answers', async () => {
    const silent = await startSilentTcp();
    try {
      const error = await sendUntilAborted(silent.host, silent.port, async () => void (await waitFor(() => silent.connections() > 0, { what: 'a connection to the silent peer' })));
      expect(['network', 'timeout']).toContain(error.reason);
    } finally {
      await silent.stop();
    }
  });

  // A protocol without credentials (syslog) declares no secret keys: nothing to leak.
  it.runIf((def.secretKeys ?? []).length > 0)('never puts a secret into an error or a log line', () => {
    expectNoSecretLeak(secretStrings(def.example!(exampleTarget('http://127.0.0.1:9')), def.secretKeys ?? []), errors, logLines);
  });
});
