// Falco emulator, run as a child process so the orchestrator (polling Redis, RPCs) cannot starve it.
// Each emulated node is one keep-alive connection with at most one request in flight, like Falco's
// libcurl http_output; headers are Falco's. Closed loop (rate undefined): every node sends its next
// alert as soon as the previous one is acknowledged. Open loop (rate = alerts/s in total): node i
// sends its k-th alert at start + (k·nodes + i)/rate, or as soon as its previous request returns
// if it is late (the lag is reported: a node cannot send faster than the server answers).
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { loadTemplates, now, percentiles, renderBody, serveRpc } from './common.js';

export interface LoadOptions {
  url: string;
  nodes: number;
  durationMs: number;
  /** Total alerts/s across all nodes; undefined = closed loop (as fast as acknowledged). */
  rate?: number;
  /** First `bench.seq`; keeps alerts unique across scenarios. */
  seqStart: number;
}

export interface LoadResult {
  sent: number;
  acked: number;
  /** Acknowledged (2xx) before the window closed. */
  ackedInWindow: number;
  failed: Record<string, number>;
  startedAt: number;
  /** When the window closed (epoch ms); requests still in flight then are awaited, not counted in-window. */
  endedAt: number;
  durationMs: number;
  ackedPerSec: number;
  sentPerSec: number;
  ackLatencyMs: ReturnType<typeof percentiles>;
  /** Open loop: how late the worst send was against its schedule. */
  maxLagMs: number;
  nextSeq: number;
}

const templates = loadTemplates();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function run(opts: LoadOptions): Promise<LoadResult> {
  const target = new URL(opts.url);
  const agent = new Agent({ keepAlive: true, maxSockets: opts.nodes, maxFreeSockets: opts.nodes, keepAliveMsecs: 30_000 });
  let seq = opts.seqStart;
  let sent = 0;
  let acked = 0;
  let ackedInWindow = 0;
  let maxLagMs = 0;
  const failed: Record<string, number> = {};
  const latencies: number[] = [];
  const startedAt = now();
  const endAt = startedAt + opts.durationMs;

  function post(body: string): Promise<number> {
    return new Promise((resolve) => {
      const req = request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: 'POST',
          headers: {
            'User-Agent': 'falcosecurity/falco',
            'Content-Type': 'application/json',
            Accept: '*/*',
            'Content-Length': Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', () => resolve(-1));
        },
      );
      req.on('error', () => resolve(-1));
      req.end(body);
    });
  }

  async function node(i: number): Promise<void> {
    for (let k = 0; ; k++) {
      if (opts.rate) {
        const due = startedAt + ((k * opts.nodes + i) * 1000) / opts.rate;
        if (due >= endAt) return;
        const wait = due - now();
        if (wait > 1) await sleep(wait);
        else maxLagMs = Math.max(maxLagMs, -wait);
      } else if (now() >= endAt) {
        return;
      }
      const s = seq++;
      const t0 = now();
      const body = renderBody(templates[s % templates.length]!, s, t0);
      sent++;
      const p0 = performance.now();
      const status = await post(body);
      const done = now();
      if (status >= 200 && status < 300) {
        acked++;
        if (done <= endAt) ackedInWindow++;
        latencies.push(performance.now() - p0);
      } else {
        failed[String(status)] = (failed[String(status)] ?? 0) + 1;
      }
    }
  }

  await Promise.all(Array.from({ length: opts.nodes }, (_, i) => node(i)));
  agent.destroy();
  const durationMs = opts.durationMs;
  return {
    sent,
    acked,
    ackedInWindow,
    failed,
    startedAt,
    endedAt: endAt,
    durationMs,
    ackedPerSec: (ackedInWindow * 1000) / durationMs,
    sentPerSec: (sent * 1000) / durationMs,
    ackLatencyMs: percentiles(latencies),
    maxLagMs,
    nextSeq: seq,
  };
}

serveRpc({ run: (opts: LoadOptions) => run(opts) });
process.send!({ ready: true });
