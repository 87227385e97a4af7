import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A daemon a test starts itself (Redis, NATS, Mosquitto) in a temp dir of its own. Subclasses spawn
 * `child` in `start()`; stopping and cleaning up are the same for all of them.
 */
export abstract class TestDaemon {
  protected child?: ChildProcess;
  readonly dir: string;

  constructor(name: string) {
    this.dir = mkdtempSync(join(tmpdir(), `falconet-${name}-`));
  }

  /** SIGTERM, as in a rolling restart: each of these daemons saves its state and exits on it. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
