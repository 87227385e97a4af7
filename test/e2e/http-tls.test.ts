import { readFileSync } from 'node:fs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTPUT_DEFINITIONS } from '../../outputs/index.js';
import { isDeliveryError } from '../../outputs/kit/errors.js';
import type { OutputDefinition } from '../../outputs/kit/types.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { goldenAlerts } from '../helpers/golden.js';
import { startMtlsServer, tlsFixture as tls, type MtlsServer } from '../helpers/mtls-server.js';

/**
 * Every HTTP output reaches a destination behind a private CA with a client certificate (issue 14:
 * the `tls` key once reached only the webhook). The receiver is a real HTTPS server that demands a
 * certificate signed by the test CA (test/fixtures/tls), answering as each service does on success.
 */
const HTTP_OUTPUTS = OUTPUT_DEFINITIONS.filter((d) => d.transport === 'http');
const alert = goldenAlerts().syscall;

/** The success answer of the destination behind `path`: Elasticsearch's bulk items, 200 `{}` otherwise. */
function successFor(path: string, body: string): { status: number; body: string } {
  if (path.endsWith('/_bulk')) {
    const docs = body.split('\n').filter((l) => l.trim() !== '').filter((_l, i) => i % 2 === 0);
    return { status: 200, body: JSON.stringify({ errors: false, items: docs.map(() => ({ create: { status: 201 } })) }) };
  }
  return { status: 200, body: '{}' };
}

describe('HTTP outputs over TLS with a private CA and a client certificate', () => {
  let server: MtlsServer;
  let base: string;

  beforeAll(async () => {
    server = await startMtlsServer((req) => successFor(new URL(req.path, 'https://x').pathname, req.body));
    base = server.url;
  });

  afterAll(() => server.stop());
  function outputWith(def: OutputDefinition, tlsKeys: Record<string, unknown> | undefined) {
    const example = def.example!({ host: '127.0.0.1', port: Number(new URL(base).port), url: base });
    const instance = parseOutputInstance(`tls-${def.type}`, tlsKeys ? { ...example, tls: tlsKeys } : example);
    return def.create(instance.config, { name: instance.name, logger: pino({ level: 'silent' }) });
  }

  it('covers Elasticsearch, Loki, Splunk and Alertmanager among the HTTP outputs', () => {
    expect(HTTP_OUTPUTS.map((d) => d.type)).toEqual(expect.arrayContaining(['elasticsearch', 'loki', 'splunk', 'alertmanager', 'webhook']));
  });

  it.each(HTTP_OUTPUTS.map((d) => [d.type, d] as const))('%s trusts the configured CA and presents the client certificate', async (_type, def) => {
    // Paths for ca and cert, inline PEM text for the key: both forms are accepted.
    const output = outputWith(def, { ca: tls('ca.pem'), cert: tls('client.pem'), key: readFileSync(tls('client.key'), 'utf8') });
    try {
      const before = server.received.length;
      const result = await output.send([alert], { signal: AbortSignal.timeout(10_000) });
      expect(result?.retry ?? []).toEqual([]);
      expect(result?.rejected ?? []).toEqual([]);
      expect(server.received.length).toBeGreaterThan(before);
      expect(server.received.slice(before).every((s) => s.peer === 'falconet-client')).toBe(true);
    } finally {
      await output.close?.();
    }
  });

  it.each(HTTP_OUTPUTS.map((d) => [d.type, d] as const))('%s refuses the server without the CA (retryable, nothing received)', async (_type, def) => {
    const output = outputWith(def, undefined);
    try {
      const before = server.received.length;
      const error = await output.send([alert], { signal: AbortSignal.timeout(10_000) }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isDeliveryError(error), String(error)).toBe(true);
      expect((error as { retryable: boolean }).retryable).toBe(true);
      expect(server.received.length).toBe(before);
    } finally {
      await output.close?.();
    }
  });
});
