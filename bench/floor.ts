// The floor: the least a collector and a router can do per alert on this machine, started by the
// bench in place of `falconet collector` / `falconet worker` (same config file, same load, same
// sink), so Falconet's CPU per alert is read against it in the same run (issue #10).
//   collector: node:http, read the body, JSON.parse, one XADD per request, 200 once it is written.
//   worker:    XREADGROUP (COUNT 256, BLOCK), JSON.parse, add an id, JSON.stringify, one undici
//              POST per alert (8 keep-alive connections), XACK in bulk once per event-loop turn.
// Nothing else: no auth, limits, routing, dedup, UI store, metrics, retries or crash recovery.
// BENCH_FLOOR=raw | raw-http: the same loop without ioredis/undici (bench/floor-raw.ts).
//   node --import tsx bench/floor.ts collector|worker --config <bench scenario config>
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';

interface BenchConfig {
  listen: { host: string; port: number };
  redis: { url: string; prefix: string };
  outputs: Record<string, { url: string }>;
}

const [role, flag, path] = process.argv.slice(2);
if ((role !== 'collector' && role !== 'worker') || flag !== '--config' || !path) throw new Error('usage: floor.ts collector|worker --config <file>');
const config = JSON.parse(readFileSync(path, 'utf8')) as BenchConfig;
const stream = `${config.redis.prefix}:floor-log`;
const group = 'floor';
const variant = process.env.BENCH_FLOOR ?? '';
if (variant !== '' && variant !== 'raw' && variant !== 'raw-http') throw new Error(`BENCH_FLOOR=${variant}: raw or raw-http`);

if (variant) {
  // Hand-written RESP and HTTP on net.Sockets: what Node costs per alert below the libraries.
  const raw = await import('./floor-raw.js');
  if (role === 'collector') raw.runRawCollector(config, stream, variant === 'raw-http');
  else await raw.runRawWorker(config, stream, group);
} else if (role === 'collector') {
  const redis = new Redis(config.redis.url, { enableAutoPipelining: true, maxRetriesPerRequest: null });
  const { serveNodeHttp } = await import('./floor-raw.js');
  serveNodeHttp(config.listen, (text, answer) => {
    try {
      JSON.parse(text);
    } catch {
      answer(400);
      return;
    }
    redis.xadd(stream, '*', 't', String(Date.now()), 'a', text).then(() => answer(200), () => answer(503));
  });
} else {
  const commands = new Redis(config.redis.url, { enableAutoPipelining: true, maxRetriesPerRequest: null });
  const blocking = new Redis(config.redis.url, { maxRetriesPerRequest: null });
  await commands.xgroup('CREATE', stream, group, '0', 'MKSTREAM').catch(() => undefined);
  const urls = Object.values(config.outputs).map((o) => o.url);
  const agent = new Agent({ connections: 8 });
  const { bulkAcks, workerStarted } = await import('./floor-raw.js');
  const ack = bulkAcks((ids) => void commands.xack(stream, group, ...ids));
  const deliver = async (id: string, text: string) => {
    const alert = { id, ...(JSON.parse(text) as object) };
    const body = JSON.stringify(alert);
    await Promise.all(
      urls.map(async (url) => {
        const res = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/json' }, dispatcher: agent });
        await res.body.dump();
      }),
    );
    ack(id);
  };
  const stop = workerStarted();
  while (!stop.stopping) {
    const reply = (await blocking.xreadgroup('GROUP', group, 'floor', 'COUNT', 256, 'BLOCK', 1000, 'STREAMS', stream, '>')) as Array<[string, Array<[string, string[]]>]> | null;
    for (const [id, fields] of reply?.[0]?.[1] ?? []) void deliver(id, fields[3]!);
  }
}
