// Child processes of the bench: Falconet roles from the production build, the bench's own helpers
// (forked through tsx), and a throwaway redis-server when none answers. Everything started here is
// tracked in `children` so run.ts can kill it all in a finally, even after a failure.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { RpcReply } from './common.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const children = new Set<ChildProcess>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Stops one child: SIGTERM (Falconet shuts down gracefully, --cpu-prof writes its profile), then SIGKILL. */
export async function stop(child: ChildProcess | undefined, graceMs = 15_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Kills whatever is still running (used in run.ts's finally). */
export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => stop(c, 5_000)));
}

/** Peak and current resident set of a live process, in MiB (from /proc/<pid>/status). */
export function memoryOf(pid: number | undefined): { peakMiB: number; rssMiB: number } | undefined {
  if (!pid) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { peakMiB: kb('VmHWM') / 1024, rssMiB: kb('VmRSS') / 1024 };
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a live process has used so far, from /proc/<pid>/stat. */
export function cpuSecondsOf(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime is the 14th field, stime the 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/** Redis CPU seconds: INFO cpu (the whole server: with a shared Redis, other users included). */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const n = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return n('used_cpu_user') + n('used_cpu_sys');
}

// ---------------------------------------------------------------------------------------------
// Bench helpers (forked with tsx, IPC for control)

export interface Helper {
  child: ChildProcess;
  port?: number;
  call<T>(cmd: string, args?: unknown): Promise<T>;
}

export async function startHelper(script: 'load-generator' | 'sink' | 'baseline'): Promise<Helper> {
  const child = track(
    fork(fileURLToPath(new URL(`./${script}.ts`, import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  let next = 1;
  const waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  const ready = new Promise<{ port?: number }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${script} exited early (${code})`)));
    child.on('message', (msg: any) => {
      if (msg?.ready) return resolve(msg);
      const reply = msg as RpcReply;
      const w = waiting.get(reply.rpc);
      if (!w) return;
      waiting.delete(reply.rpc);
      if (reply.error) w.reject(new Error(`${script}: ${reply.error}`));
      else w.resolve(reply.result);
    });
  });
  child.once('exit', () => {
    for (const w of waiting.values()) w.reject(new Error(`${script} exited`));
    waiting.clear();
  });
  const { port } = await ready;
  return {
    child,
    port,
    call: <T>(cmd: string, args?: unknown) =>
      new Promise<T>((resolve, reject) => {
        const rpc = next++;
        waiting.set(rpc, { resolve, reject });
        child.send({ rpc, cmd, args });
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Falconet processes

export interface FalconetProcess {
  role: 'collector' | 'worker';
  child: ChildProcess;
  log: string;
}

/**
 * `node bin/falconet.js <role> --config <file>` from the production build (dist/). With
 * BENCH_CPU_PROF=<dir> in the environment each process also writes a V8 CPU profile there on exit.
 */
/** `bare`: the floor (bench/floor.ts) in Falconet's place, same config, same readiness signals. */
export function startFalconet(role: 'collector' | 'worker', configPath: string, log: string, bare = false): FalconetProcess {
  const prof = process.env.BENCH_CPU_PROF;
  const nodeArgs = prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}/${bare ? `floor-${role}` : role}`] : [];
  const entry = bare ? ['--import', 'tsx', 'bench/floor.ts'] : ['bin/falconet.js'];
  const fd = openSync(log, 'a');
  try {
    const child = spawn(process.execPath, [...nodeArgs, ...entry, role, '--config', configPath], {
      cwd: ROOT,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, FALCONET_CONFIG: undefined },
    });
    return { role, child: track(child), log };
  } finally {
    closeSync(fd);
  }
}

async function until(what: string, child: ChildProcess, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what}: process exited with ${child.exitCode}`);
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`${what}: not ready within ${timeoutMs} ms`);
}

/** Collector readiness: GET /readyz answers 200 (Redis reachable, HTTP listening). */
export async function waitCollectorReady(p: FalconetProcess, url: string, timeoutMs = 20_000): Promise<void> {
  await until(`collector (${p.log})`, p.child, timeoutMs, async () => {
    try {
      return (await fetch(`${url}/readyz`)).status === 200;
    } catch {
      return false;
    }
  });
}

/** Worker readiness: it logs "worker started" once its router and delivery workers run. */
export async function waitWorkerReady(p: FalconetProcess, timeoutMs = 20_000): Promise<void> {
  await until(`worker (${p.log})`, p.child, timeoutMs, () => {
    try {
      return readFileSync(p.log, 'utf8').includes('"worker started"');
    } catch {
      return false;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Redis

export interface BenchRedis {
  url: string;
  version: string;
  /** Set when the bench started its own redis-server. */
  child?: ChildProcess;
}

async function ping(url: string): Promise<string | undefined> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    const info = await r.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  } catch {
    return undefined;
  } finally {
    r.disconnect();
  }
}

/** REDIS_URL (default 127.0.0.1:6379), or a private `redis-server --save ''` when nothing answers (or BENCH_OWN_REDIS=1). */
export async function ensureRedis(): Promise<BenchRedis> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  // BENCH_OWN_REDIS=1: always a private redis-server, to take a Redis shared with tests out of the noise.
  const version = process.env.BENCH_OWN_REDIS ? undefined : await ping(url);
  if (version) return { url, version };
  const port = await freePort();
  const child = track(spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }));
  const own = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const v = await ping(own);
    if (v) return { url: own, version: v, child };
    await sleep(100);
  }
  throw new Error(`no Redis at ${url} and redis-server did not start`);
}

/** Removes every key under `prefix:` (one scenario's queues and dedup keys). */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

/** Samples INFO memory while a scenario runs; `stop()` gives start, max and end used_memory. */
export function sampleRedisMemory(redis: Redis, everyMs = 250) {
  const read = async () => {
    const info = await redis.info('memory');
    const n = (k: string) => Number(new RegExp(`^${k}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
    return { used: n('used_memory'), peak: n('used_memory_peak') };
  };
  let max = 0;
  let start = 0;
  let stopped = false;
  const first = read().then((m) => {
    start = m.used;
    max = m.used;
  });
  const loop = (async () => {
    await first;
    while (!stopped) {
      await sleep(everyMs);
      try {
        max = Math.max(max, (await read()).used);
      } catch {
        // keep sampling
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      const end = await read();
      const MiB = 1024 * 1024;
      return { startMiB: start / MiB, maxMiB: Math.max(max, end.used) / MiB, endMiB: end.used / MiB, peakMiB: end.peak / MiB };
    },
  };
}
