// What the router's bare loop costs per alert at 500/s with each client library, chosen on its own
// (issue #10): XREADGROUP (COUNT 256, BLOCK), JSON.parse, add an id, JSON.stringify, one POST per
// alert, XACK in bulk; Redis through ioredis or bench/floor-raw.ts's hand-written RESP, the POST by
// nothing, floor-raw's hand-written HTTP/1.1, node:http (keep-alive agent) or undici (8 connections
// each). The bench's fixture bodies are XADDed at 500/s; the figure is the consumer process's
// process.cpuUsage over all but the first WARM_UP alerts.
//   BENCH_OWN_REDIS=1 node --import tsx bench/client-cost.ts ioredis|raw none|raw|nodehttp|undici [alerts, default 6000]
import { spawn } from 'node:child_process';
import http from 'node:http';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Agent } from 'undici';
import { loadTemplates, renderBody } from './common.js';
import { startCountingSink } from './counting-sink.js';
import { bulkAcks, httpClient, redisConnection } from './floor-raw.js';
import { ensureRedis, stopAll } from './processes.js';

const RATE = 500;
const WARM_UP = 1000;
const GROUP = 'client-cost';
const REDIS_SIDES = ['ioredis', 'raw'];
const HTTP_SIDES = ['none', 'raw', 'nodehttp', 'undici'];

type Post = (body: string) => Promise<void>;

function poster(side: string, url: string): Post {
  if (side === 'none') return async () => undefined;
  if (side === 'raw') {
    const post = httpClient(url);
    return (body) => new Promise((resolve) => post(body, () => resolve()));
  }
  if (side === 'nodehttp') {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    return (body) =>
      new Promise((resolve, reject) => {
        const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
        const req = http.request(url, { method: 'POST', agent, headers }, (res) => res.resume().on('end', resolve));
        req.on('error', reject).end(body);
      });
  }
  const agent = new Agent({ connections: 8 });
  const { origin } = new URL(url);
  return async (body) => {
    const res = await agent.request({ origin, path: '/', method: 'POST', body, headers: { 'content-type': 'application/json' } });
    await res.body.dump();
  };
}

type Entries = Array<[string, string[]]>;

/** XREADGROUP and bulk XACK through the chosen Redis side. */
async function ingestLog(side: string, url: string, stream: string): Promise<{ read(): Promise<Entries>; ack(id: string): void }> {
  const entries = (reply: unknown): Entries => (reply as Array<[string, Entries]> | null)?.[0]?.[1] ?? [];
  if (side === 'ioredis') {
    const commands = new Redis(url, { enableAutoPipelining: true, maxRetriesPerRequest: null });
    const blocking = new Redis(url, { maxRetriesPerRequest: null });
    await commands.xgroup('CREATE', stream, GROUP, '0', 'MKSTREAM');
    return { read: async () => entries(await blocking.xreadgroup('GROUP', GROUP, 'consumer', 'COUNT', 256, 'BLOCK', 1000, 'STREAMS', stream, '>')), ack: bulkAcks((ids) => void commands.xack(stream, GROUP, ...ids)) };
  }
  const commands = redisConnection(url);
  const blocking = redisConnection(url);
  const call = (conn: typeof commands, args: string[]) => new Promise<unknown>((resolve) => conn(args, resolve));
  await call(commands, ['XGROUP', 'CREATE', stream, GROUP, '0', 'MKSTREAM']);
  return { read: async () => entries(await call(blocking, ['XREADGROUP', 'GROUP', GROUP, 'consumer', 'COUNT', '256', 'BLOCK', '1000', 'STREAMS', stream, '>'])), ack: bulkAcks((ids) => commands(['XACK', stream, GROUP, ...ids], () => undefined)) };
}

async function consume(redisSide: string, httpSide: string, redisUrl: string, stream: string, sinkUrl: string, total: number): Promise<void> {
  const log = await ingestLog(redisSide, redisUrl, stream);
  const post = poster(httpSide, sinkUrl);
  let delivered = 0;
  let cpuAtWarmUp = process.cpuUsage();
  const deliver = async (id: string, text: string) => {
    await post(JSON.stringify({ id, ...(JSON.parse(text) as object) }));
    log.ack(id);
    if (++delivered === WARM_UP) cpuAtWarmUp = process.cpuUsage();
    if (delivered < total) return;
    const cpu = process.cpuUsage(cpuAtWarmUp);
    const perAlert = (us: number) => Number((us / 1000 / (total - WARM_UP)).toFixed(3));
    console.log(JSON.stringify({ redis: redisSide, http: httpSide, cpuMsPerAlert: perAlert(cpu.user + cpu.system), user: perAlert(cpu.user), system: perAlert(cpu.system) }));
    process.exit(0);
  };
  console.log('ready');
  for (;;) for (const [id, fields] of await log.read()) void deliver(id, fields[1]!);
}

async function orchestrate(redisSide: string, httpSide: string, total: number): Promise<void> {
  if (!REDIS_SIDES.includes(redisSide) || !HTTP_SIDES.includes(httpSide) || !(total > WARM_UP)) {
    throw new Error(`usage: client-cost.ts ${REDIS_SIDES.join('|')} ${HTTP_SIDES.join('|')} [alerts > ${WARM_UP}]`);
  }
  const redisInfo = await ensureRedis();
  const sink = await startCountingSink();
  const stream = `bench-client-cost:${process.pid}`;
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [...process.execArgv, self, 'consume', redisSide, httpSide, redisInfo.url, stream, sink.url, String(total)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  while (!output.includes('ready')) await once(child.stdout, 'data');
  const producer = new Redis(redisInfo.url, { enableAutoPipelining: true });
  const bodies = loadTemplates();
  const started = performance.now();
  for (let sent = 0; sent < total; ) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * RATE));
    for (; sent < due; sent++) void producer.xadd(stream, '*', 'a', renderBody(bodies[sent % bodies.length]!, sent, 0));
    await new Promise((r) => setTimeout(r, 1));
  }
  await once(child, 'exit');
  console.log(output.split('\n').find((line) => line.startsWith('{')) ?? `consumer ended without a result (sink received ${sink.received()})`);
  await producer.del(stream);
  producer.disconnect();
  sink.close();
  await stopAll();
}

const [role, ...args] = process.argv.slice(2);
if (role === 'consume') await consume(args[0]!, args[1]!, args[2]!, args[3]!, args[4]!, Number(args[5]));
else await orchestrate(role ?? '', args[0] ?? '', Number(args[1] ?? 6000));
