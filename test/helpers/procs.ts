import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { REDIS_URL } from './harness.js';
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
