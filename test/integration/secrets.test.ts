import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { CaptureServer } from '../helpers/capture-server.js';
import { falcoHeaders } from '../helpers/fixtures.js';
import { freePort } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

const exec = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'falconet-secrets-'));
const children: ChildProcess[] = [];
afterAll(async () => {
  // Newest first: the falconet processes before the Redis they need to shut down cleanly.
  for (const c of children.reverse()) {
    if (c.exitCode === null && c.signalCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      const killer = setTimeout(() => c.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
  }
  rmSync(tmp, { recursive: true, force: true });
});

// Every secret is distinctive, so a hit anywhere is a leak and not a coincidence.
const SECRETS = {
  redisPassword: `redispw-${randomUUID()}`,
  envToken: `envtoken-${randomUUID()}`,
  fileToken: `filetoken-${randomUUID()}`,
  hookBearer: `bearer-${randomUUID()}`,
  signingSecret: `signing-${randomUUID()}`,
  urlSecret: `urlkey${randomUUID().replace(/-/g, '')}`,
};

function start(command: string, args: string[], env: NodeJS.ProcessEnv): { out: () => string; err: () => string; child: ChildProcess } {
  const child = spawn(command, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c));
  child.stderr!.on('data', (c: Buffer) => (err += c));
  return { out: () => out, err: () => err, child };
}

/** Every value under the prefix, whatever its Redis type (job hashes, lists, streams, sets). */
async function dumpRedis(redis: Redis, prefix: string): Promise<string> {
  const parts: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      const value =
        type === 'string' ? await redis.get(key)
        : type === 'hash' ? await redis.hgetall(key)
        : type === 'list' ? await redis.lrange(key, 0, -1)
        : type === 'set' ? await redis.smembers(key)
        : type === 'zset' ? await redis.zrange(key, '0', '-1', 'WITHSCORES')
        : type === 'stream' ? await redis.xrange(key, '-', '+')
        : type;
      parts.push(`${key} ${JSON.stringify(value)}`);
    }
  } while (cursor !== '0');
  return parts.join('\n');
}

describe('secrets never leak', () => {
  it('collector + worker processes at debug level with secrets in config, env, a file and REDIS_URL: none in stdout, stderr, /metrics, falconet check or Redis', async () => {
    // A Redis of the test's own with a password.
    const redisPort = await freePort();
    start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--requirepass', SECRETS.redisPassword, '--save', '', '--appendonly', 'no', '--dir', tmp], process.env);
    const redis = new Redis({ port: redisPort, host: '127.0.0.1', password: SECRETS.redisPassword, lazyConnect: true, retryStrategy: () => 50 });
    redis.on('error', () => undefined);
    await waitFor(async () => (await redis.ping()) === 'PONG', { timeoutMs: 20_000, what: 'redis-server with requirepass' });

    // The webhook fails once (a retry gets logged with its URL) and then accepts.
    const hook = await new CaptureServer().respondWith({ status: 500 }).start();
    const prefix = `fnt-${randomUUID().slice(0, 8)}`;
    const [port, metricsPort] = [await freePort(), await freePort()];
    writeFileSync(join(tmp, 'token'), `${SECRETS.fileToken}\n`);
    const configPath = join(tmp, 'falconet.yaml');
    writeFileSync(
      configPath,
      stringify({
        listen: { host: '127.0.0.1', port },
        redis: { url: 'redis://127.0.0.1:1', prefix, embedded: false },
        log: { level: 'debug' },
        dedup: { window: 0 },
        worker: { metricsPort },
        spool: { dir: join(tmp, 'spool') },
        auth: {
          tokens: [
            { name: 'team1-nodes', token: '${FALCONET_TEAM1_TOKEN}', tenant: 'team1', namespaces: ['team1'] },
            { name: 'file-token', token: `\${file:${join(tmp, 'token')}}`, tenant: 'team2' },
          ],
        },
        outputs: {
          hook: {
            type: 'webhook',
            url: `${hook.url}/ingest?apikey=${SECRETS.urlSecret}`,
            auth: { bearer: '${HOOK_BEARER}' },
            signing: { secret: SECRETS.signingSecret },
            retry: { attempts: 5, backoff: '50ms', maxBackoff: '100ms' },
          },
        },
        routes: [{ outputs: ['hook'] }],
      }),
    );
    const env = {
      ...process.env,
      REDIS_URL: `redis://:${SECRETS.redisPassword}@127.0.0.1:${redisPort}`,
      FALCONET_TEAM1_TOKEN: SECRETS.envToken,
      HOOK_BEARER: SECRETS.hookBearer,
    };
    const cli = ['--import', 'tsx', 'src/cli/run.ts'];
    const worker = start(process.execPath, [...cli, 'worker', '--config', configPath], env);
    const collector = start(process.execPath, [...cli, 'collector', '--config', configPath], env);
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, { timeoutMs: 30_000, what: 'collector ready' });

    const alert = (output: string, ns = 'team1') =>
      JSON.stringify({ rule: 'Terminal shell in container', priority: 'Warning', time: '2025-06-12T08:00:00Z', output, output_fields: { 'k8s.ns.name': ns } });
    const bearer = { ...falcoHeaders(), authorization: `Bearer ${SECRETS.envToken}` };
    expect((await fetch(`${url}/`, { method: 'POST', body: alert('bearer'), headers: bearer })).status).toBe(200);
    expect((await fetch(`${url}/?token=${SECRETS.fileToken}`, { method: 'POST', body: alert('query'), headers: falcoHeaders() })).status).toBe(200);
    const basic = { ...falcoHeaders(), authorization: `Basic ${Buffer.from(`falco:${SECRETS.envToken}`).toString('base64')}` };
    expect((await fetch(`${url}/`, { method: 'POST', body: alert('basic'), headers: basic })).status).toBe(200);
    // Refusals log and count too: a namespace outside the token's, and a wrong token.
    expect((await fetch(`${url}/`, { method: 'POST', body: alert('other ns', 'team2'), headers: bearer })).status).toBe(403);
    expect((await fetch(`${url}/`, { method: 'POST', body: alert('wrong'), headers: { ...falcoHeaders(), authorization: `Bearer ${SECRETS.envToken}x` } })).status).toBe(401);
    await waitFor(() => hook.requests.filter((r) => r.method === 'POST').length >= 4, { timeoutMs: 30_000, what: 'three alerts delivered after one retry' });
    // The destination does get its credential (that is its job): proof the secrets were live.
    expect(hook.requests.at(-1)!.headers.authorization).toBe(`Bearer ${SECRETS.hookBearer}`);
    expect(hook.requests.at(-1)!.path).toContain(SECRETS.urlSecret);

    const metrics = [await (await fetch(`${url}/metrics`)).text(), await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()].join('\n');
    const check = await exec(process.execPath, [...cli, 'check', '--config', configPath], { cwd: root, env });
    const jobs = await dumpRedis(redis, prefix);
    redis.disconnect();
    // The job data is there to be searched: the delivered alerts, by output name.
    expect(jobs).toContain('deliver.hook');
    expect(jobs).toContain('falconet.tenant');

    const places: Record<string, string> = {
      'collector stdout': collector.out(),
      'collector stderr': collector.err(),
      'worker stdout': worker.out(),
      'worker stderr': worker.err(),
      metrics,
      'falconet check': check.stdout + check.stderr,
      'Redis job data': jobs,
    };
    // The logs did print the Redis URL and the refusals: redacted, not absent.
    const logs = collector.err() + collector.out();
    expect(logs).toContain(`redis://:***@127.0.0.1:${redisPort}`);
    expect(logs).toMatch(/refused alerts outside/);
    expect(metrics).toMatch(/falconet_auth_refused_total\{identity="team1-nodes",reason="namespace"\} 1/);
    expect(check.stdout).toContain('is valid');
    const leaks: string[] = [];
    for (const [place, text] of Object.entries(places)) {
      for (const [name, secret] of Object.entries(SECRETS)) if (text.includes(secret)) leaks.push(`${name} in ${place}`);
      // Basic-auth credentials travel base64-encoded: that form must not show either.
      if (text.includes(Buffer.from(`falco:${SECRETS.envToken}`).toString('base64'))) leaks.push(`basic credentials in ${place}`);
    }
    expect(leaks).toEqual([]);
    await hook.stop();
  }, 90_000);
});
