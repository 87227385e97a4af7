// The webhook sink Falconet delivers to. A child process, not a server in the orchestrator or the
// load generator: parsing up to ~10k deliveries/s must not steal the generator's event loop (which
// would inflate ack latencies) nor be starved by it (which would inflate delivery latencies).
// Counts alerts by Falconet `id` (duplicates separately), per URL path (= per output), and records
// arrival time and POST→arrival latency from the `bench.t0` the generator put in output_fields.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { now, percentiles, serveRpc } from './common.js';

let seen = new Set<string>();
let duplicates = 0;
let requests = 0;
let byPath = new Map<string, number>();
let arrivals: number[] = [];
let latencies: number[] = [];

function record(alert: any, path: string, at: number): void {
  const id = alert?.id;
  if (typeof id !== 'string') return;
  const key = `${path} ${id}`;
  if (seen.has(key)) {
    duplicates++;
    return;
  }
  seen.add(key);
  byPath.set(path, (byPath.get(path) ?? 0) + 1);
  arrivals.push(at);
  const t0 = alert.output_fields?.['bench.t0'];
  latencies.push(typeof t0 === 'number' ? at - t0 : Number.NaN);
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const at = now();
    requests++;
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const path = (req.url ?? '/').split('?')[0]!;
      if (Array.isArray(body)) for (const a of body) record(a, path, at);
      else record(body, path, at);
      res.writeHead(200, { 'content-length': '0' });
    } catch {
      res.writeHead(400, { 'content-length': '0' });
    }
    res.end();
  });
});
server.keepAliveTimeout = 65_000;

serveRpc({
  reset: () => {
    seen = new Set();
    duplicates = 0;
    requests = 0;
    byPath = new Map();
    arrivals = [];
    latencies = [];
    return true;
  },
  count: () => seen.size,
  /** Totals, plus arrivals inside [from, to] (epoch ms) for a delivered/s over the load window. */
  stats: ({ from, to }: { from: number; to: number }) => {
    let inWindow = 0;
    for (const a of arrivals) if (a >= from && a <= to) inWindow++;
    const lat = latencies.filter((l) => !Number.isNaN(l));
    return {
      unique: seen.size,
      duplicates,
      requests,
      byPath: Object.fromEntries(byPath),
      inWindow,
      latency: percentiles(lat),
      firstArrival: arrivals.length ? Math.min(...arrivals.slice(0, 1000)) : 0,
      lastArrival: arrivals.length ? arrivals[arrivals.length - 1]! : 0,
    };
  },
});

server.listen(0, '127.0.0.1', () => process.send!({ ready: true, port: (server.address() as AddressInfo).port }));
