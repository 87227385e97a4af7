import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTPUT_DEFINITIONS } from '../../outputs/index.js';
import type { OutputDefinition } from '../../outputs/kit/types.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { CaptureServer } from '../helpers/capture-server.js';
import { goldenAlerts } from '../helpers/golden.js';

/**
 * The HTTP transport keys every HTTP output shares (docs/outputs/http.md): `proxy` sends the
 * requests through an HTTP proxy (CONNECT tunnel), `gzip` compresses bodies. Checked for every
 * HTTP output against a real proxy and a capture server, so no output can drop them.
 */
const HTTP_OUTPUTS = OUTPUT_DEFINITIONS.filter((d) => d.transport === 'http');
const alert = goldenAlerts().syscall;

/** A CONNECT proxy that records the targets it tunnels to. */
async function startConnectProxy(): Promise<{ url: string; tunnels: string[]; stop(): Promise<void> }> {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req, client: Socket, head: Buffer) => {
    tunnels.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tunnels,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('HTTP transport keys on every HTTP output', () => {
  let capture: CaptureServer;
  let proxy: Awaited<ReturnType<typeof startConnectProxy>>;

  beforeAll(async () => {
    capture = await new CaptureServer().start();
    // Elasticsearch reads its bulk answer; every other output is content with 200 {}.
    capture.fallback = (req) =>
      req.path.includes('/_bulk') ? { status: 200, body: JSON.stringify({ errors: false, items: [{ create: { status: 201 } }] }) } : { status: 200, body: '{}' };
    proxy = await startConnectProxy();
  });

  afterAll(async () => {
    await proxy.stop();
    await capture.stop();
  });

  async function sendWith(def: OutputDefinition, keys: Record<string, unknown>) {
    const instance = parseOutputInstance(`transport-${def.type}`, { ...def.example!(capture.target()), ...keys });
    const output = def.create(instance.config, { name: instance.name, logger: pino({ level: 'silent' }) });
    const before = capture.requests.length;
    try {
      await output.send([alert], { signal: AbortSignal.timeout(10_000) });
    } finally {
      await output.close?.();
    }
    return capture.requests.slice(before);
  }

  it.each(HTTP_OUTPUTS.map((d) => [d.type, d] as const))('%s goes through `proxy`', async (_type, def) => {
    const tunnelsBefore = proxy.tunnels.length;
    const requests = await sendWith(def, { proxy: proxy.url });
    expect(requests.length).toBeGreaterThan(0);
    expect(proxy.tunnels.slice(tunnelsBefore)).toContain(new URL(capture.url).host);
  });

  it.each(HTTP_OUTPUTS.map((d) => [d.type, d] as const))('%s gzips its body with `gzip: true`', async (_type, def) => {
    const [plain] = await sendWith(def, {});
    const gzipped = await sendWith(def, { gzip: true });
    expect(gzipped.length).toBeGreaterThan(0);
    expect(gzipped[0]!.headers['content-encoding']).toBe('gzip');
    expect(plain!.headers['content-encoding']).toBeUndefined();
    // Bodies of one alert differ only where an output stamps the send (a signature timestamp): compare the parsed text.
    const text = gunzipSync(gzipped[0]!.raw).toString('utf8');
    expect(text.length).toBe(plain!.body.length);
    expect(text.slice(0, 40)).toBe(plain!.body.slice(0, 40));
  });
});
