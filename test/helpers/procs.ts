import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { afterAll, afterEach } from 'vitest';
import type { CaptureServer } from './capture-server.js';
import { REDIS_URL, deletePrefix } from './harness.js';
import { waitFor } from './wait.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface Proc {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<number | null>;
  /** The port a "…listening" log line of this process names. */
  port(msg: string): Promise<number>;
}

/** `falconet <command> --config file` as a real child process (node + tsx loader: signals reach it directly). */
export function falconetProcess(command: string, configPath: string, procs: Proc[]): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/run.ts', command, '--config', configPath], {
    cwd: root,
    env: { ...process.env, REDIS_URL },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const proc: Proc = {
    child,
    stderr: () => err,
    exit,
    async port(msg) {
      const re = new RegExp(`"port":(\\d+)[^\\n]*"msg":"${msg}"`);
      await waitFor(() => re.test(err), { timeoutMs: 30_000, what: msg });
      return Number(re.exec(err)![1]);
    },
  };
  procs.push(proc);
  return proc;
}

export function writeYaml(dir: string, doc: Record<string, unknown>, path = join(dir, `${randomUUID().slice(0, 8)}.yaml`)): string {
  writeFileSync(path, stringify(doc));
  return path;
}

export async function stopProcs(procs: Proc[]): Promise<void> {
  for (const p of procs.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await p.exit;
  }
}

/**
 * What a test file of child processes starts, stopped after each test: the processes, the capture
 * servers and the Redis keys of the prefix it took; its temp dir goes after the file.
 */
export function useProcessRig(name: string) {
  const tmp = mkdtempSync(join(tmpdir(), `falconet-${name}-`));
  const procs: Proc[] = [];
  const captures: CaptureServer[] = [];
  let prefix: string | undefined;
  afterEach(async () => {
    await stopProcs(procs);
    for (const c of captures.splice(0)) await c.stop();
    if (prefix) await deletePrefix(prefix);
    prefix = undefined;
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  return {
    tmp,
    procs,
    captures,
    /** A unique Redis prefix for this test, deleted after it. */
    newPrefix: (): string => (prefix = `fnt-${randomUUID().slice(0, 8)}`),
  };
}
