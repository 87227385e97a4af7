// Shared by the bench orchestrator (run.ts) and its child processes (load generator, sink, baseline).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

export const FIXTURES = fileURLToPath(new URL('../test/fixtures/falco-events.jsonl', import.meta.url));

/** A wall-clock timestamp in ms with sub-ms resolution, comparable across processes on one host. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export interface Percentiles {
  n: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function percentiles(values: ArrayLike<number>, count = values.length): Percentiles {
  if (count === 0) return { n: 0, mean: 0, p50: 0, p95: 0, p99: 0, max: 0 };
  const sorted = Float64Array.from({ length: count }, (_, i) => values[i]!).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const at = (q: number) => sorted[Math.min(count - 1, Math.floor(q * count))]!;
  return { n: count, mean: sum / count, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: sorted[count - 1]! };
}

/**
 * The fixture alerts as body templates. Each body gets `bench.seq` (unique per alert, so neither the
 * content-hash id nor dedup collapses repeats) and `bench.t0` (send time, for POST→arrival latency)
 * spliced into `output_fields` as text: the rest of the alert stays byte-for-byte as Falco sent it
 * (nanosecond integers included).
 */
export interface BodyTemplate {
  head: string;
  tail: string;
}

export function loadTemplates(): BodyTemplate[] {
  const marker = '"output_fields":{';
  return readFileSync(FIXTURES, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const at = line.indexOf(marker);
      if (at < 0) throw new Error(`fixture without output_fields: ${line.slice(0, 80)}`);
      const cut = at + marker.length;
      const rest = line.slice(cut);
      return { head: line.slice(0, cut), tail: (rest.startsWith('}') ? '' : ',') + rest };
    });
}

export function renderBody(t: BodyTemplate, seq: number, t0: number): string {
  return `${t.head}"bench.seq":${seq},"bench.t0":${t0.toFixed(3)}${t.tail}`;
}

/** Minimal request/response over a child's IPC channel. */
export interface RpcRequest {
  rpc: number;
  cmd: string;
  args?: unknown;
}
export interface RpcReply {
  rpc: number;
  result?: unknown;
  error?: string;
}

/** In a child: answers RpcRequests with `handlers[cmd](args)`. */
export function serveRpc(handlers: Record<string, (args: any) => unknown>): void {
  process.on('message', async (msg: RpcRequest) => {
    if (!msg || typeof msg.rpc !== 'number') return;
    try {
      const handler = handlers[msg.cmd];
      if (!handler) throw new Error(`unknown command ${msg.cmd}`);
      process.send!({ rpc: msg.rpc, result: await handler(msg.args) } satisfies RpcReply);
    } catch (err) {
      process.send!({ rpc: msg.rpc, error: (err as Error).stack ?? String(err) } satisfies RpcReply);
    }
  });
  // Parent gone: never linger.
  process.on('disconnect', () => process.exit(0));
}
