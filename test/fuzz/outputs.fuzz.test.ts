import fc from 'fast-check';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTPUT_DEFINITIONS } from '../../outputs/index.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { isDeliveryError } from '../../outputs/kit/errors.js';
import { CaptureServer, type CapturedRequest } from '../helpers/capture-server.js';
import { jsonDocuments } from '../helpers/json-sequence.js';
import { hostileAlert } from './arbitraries.js';

/**
 * Property: every registered output builds a well-formed request from any alert the router can
 * produce (hostile strings, big integers, nulls, nested arrays, prototype-named keys): `send`
 * resolves or fails with a classified DeliveryError, never a TypeError or RangeError, and a JSON
 * body is valid JSON. Falcosidekick has shipped panics on malformed output_fields.
 */
const SEED = 4242;
const ALERTS = 1_000;

function checkBody(req: CapturedRequest): void {
  const type = String(req.headers['content-type'] ?? '');
  const text = req.body;
  if (/ndjson/.test(type)) {
    for (const line of text.split('\n')) if (line.trim() !== '') JSON.parse(line);
  } else if (/json/.test(type)) {
    for (const doc of jsonDocuments(text)) JSON.parse(doc);
  }
}


describe('fuzz: every output payload builder under 1,000 hostile alerts', () => {
  const samples = fc.sample(hostileAlert, { numRuns: ALERTS, seed: SEED });
  let capture: CaptureServer;
  beforeAll(async () => {
    // A destination that accepts everything, recording each request.
    capture = await new CaptureServer().start();
    capture.fallback = { status: 200, headers: { 'content-type': 'application/json' }, body: '{}' };
  });
  afterAll(() => capture.stop());
  // Broker outputs fuzz their encoders in their own tests: they need their daemon to send.
  for (const definition of OUTPUT_DEFINITIONS.filter((d) => d.transport !== 'socket')) {
    it(`${definition.type}: resolves or fails classified, bodies well-formed`, async () => {
      const config = parseOutputInstance(`fuzz-${definition.type}`, definition.example?.(capture.target()) ?? { type: definition.type });
      const first = capture.requests.length;
      const output = definition.create(config.config, { name: config.name, logger: pino({ level: 'silent' }) });
      const batch = config.batchSize > 1 ? 10 : 1;
      const crashes: string[] = [];
      // stdout writes to the terminal: swallowed here, but still checked line by line.
      const original = process.stdout.write.bind(process.stdout);
      const lines: string[] = [];
      if (definition.type === 'stdout') {
        process.stdout.write = ((chunk: string, ...rest: unknown[]) => {
          lines.push(chunk.toString());
          (rest.find((r) => typeof r === 'function') as (() => void) | undefined)?.();
          return true;
        }) as typeof process.stdout.write;
      }
      try {
        for (let i = 0; i < samples.length; i += batch) {
          const alerts = samples.slice(i, i + batch).map((a) => structuredClone(a));
          try {
            await output.send(alerts, { signal: AbortSignal.timeout(5_000) });
          } catch (err) {
            if (!isDeliveryError(err)) crashes.push(`${(err as Error).stack?.slice(0, 400)}`);
          }
        }
      } finally {
        process.stdout.write = original;
        await output.close?.();
      }
      expect(crashes.slice(0, 3)).toEqual([]);
      const requests = capture.requests.slice(first);
      for (const req of requests) checkBody(req);
      if (definition.type === 'stdout') {
        const all = lines.join('').split('\n').filter((l) => l !== '');
        expect(all).toHaveLength(ALERTS);
        for (const l of all) JSON.parse(l);
      } else {
        expect(requests.length).toBeGreaterThan(0);
      }
    });
  }
});
