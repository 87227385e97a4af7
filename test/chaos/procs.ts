import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { waitFor } from '../helpers/wait.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * `falconet <command>` as a real child process. FALCONET_TEST_DIST=1 (npm run test:chaos, which
 * builds first) runs the build in dist/ as a user would; otherwise src/ through tsx, so `npm test`
 * never runs a stale build.
 */
export interface Proc {
  child: ChildProcess;
  log(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running(): boolean;
}

const started: Proc[] = [];

/** `opts.args`: more flags (--metrics-port 0); `opts.env`: more environment (FALCONET_METRICS_PORT). */
export function falconet(command: string, configPath: string, opts: { args?: string[]; env?: Record<string, string> } = {}): Proc {
  const dist = process.env.FALCONET_TEST_DIST === '1';
  if (dist && !existsSync(join(root, 'dist/src/cli/main.js'))) throw new Error('no build in dist/: run npm run build first');
  const args = [...(dist ? ['bin/falconet.js'] : ['--import', 'tsx', 'src/cli/run.ts']), command, '--config', configPath, ...(opts.args ?? [])];
  const env = { ...process.env, ...opts.env };
  delete env.REDIS_URL; // the config names this test's own Redis
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c));
  child.stderr!.on('data', (c: Buffer) => (out += c));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const proc: Proc = { child, log: () => out, exit, running: () => child.exitCode === null && child.signalCode === null };
  started.push(proc);
  return proc;
}

/** SIGKILLs whatever is still running (afterEach). */
export async function killAll(): Promise<void> {
  for (const p of started.splice(0)) {
    if (p.running()) p.child.kill('SIGKILL');
    await p.exit;
  }
}

export async function untilLogged(proc: Proc, text: string | RegExp, timeoutMs = 30_000): Promise<void> {
  await waitFor(() => {
    if (!proc.running()) throw new Error(`process exited: ${proc.log().slice(-2000)}`);
    return typeof text === 'string' ? proc.log().includes(text) : text.test(proc.log());
  }, { timeoutMs, what: `log line ${String(text)}` });
}

export function writeConfig(dir: string, doc: Record<string, unknown>): string {
  const path = join(dir, `${randomUUID().slice(0, 8)}.yaml`);
  writeFileSync(path, stringify(doc));
  return path;
}
