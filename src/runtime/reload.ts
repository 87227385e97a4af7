import type { Logger } from 'pino';
import { ConfigError, formatPath } from '../config/errors.js';
import { loadConfigFile, type FalconetConfig } from '../config/load.js';
import type { Metrics } from '../observability/metrics.js';
import { planReload } from '../worker/reload-plan.js';

/** Told about each accepted config, in subscription order; a throw is logged and fails the reload. */
export type ReloadListener = (next: FalconetConfig, previous: FalconetConfig) => void | Promise<void>;

export type ReloadResult = { ok: true; needsRestart: string[] } | { ok: false; errors: string[] };

/**
 * Hot reload for every role (SIGHUP, POST /-/reload): reads the config file again through the same
 * validator as `falconet check` (loadConfigFile → buildConfig). A refused config is logged with its
 * key paths and the running one stays. Parts subscribe to apply what they can change while
 * running (the worker's routes and outputs, the log level, the collector's certificates and tokens).
 * Reloads run one at a time, in the order asked.
 */
export class ConfigReloader {
  private readonly listeners: ReloadListener[] = [];
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly path: string,
    private current: FalconetConfig,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {
    metrics.reloadSuccessful.set(1);
    metrics.reloadSuccessTime.set(Date.now() / 1000);
  }

  get config(): FalconetConfig {
    return this.current;
  }

  subscribe(listener: ReloadListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  reload(trigger: string): Promise<ReloadResult> {
    const result = this.chain.then(() => this.apply(trigger));
    this.chain = result.catch(() => undefined);
    return result;
  }

  private async apply(trigger: string): Promise<ReloadResult> {
    let next: FalconetConfig;
    try {
      next = loadConfigFile(this.path);
    } catch (err) {
      const errors = err instanceof ConfigError ? err.issues.map((i) => `${formatPath(i.path)}: ${i.message}`) : [(err as Error).message];
      return this.refused(trigger, errors);
    }
    const previous = this.current;
    const plan = planReload(previous, next);
    try {
      for (const listener of this.listeners) await listener(next, previous);
    } catch (err) {
      return this.refused(trigger, [`applying the new config failed: ${(err as Error).message}`]);
    }
    this.current = next;
    this.metrics.reloads.inc({ result: 'success' });
    this.metrics.reloadSuccessful.set(1);
    this.metrics.reloadSuccessTime.set(Date.now() / 1000);
    const outputs = { added: plan.added, removed: plan.removed, changed: plan.changed };
    this.logger.info({ trigger, config: this.path, outputs, routes: next.routes.length }, 'config reloaded');
    if (plan.needsRestart.length > 0) {
      this.logger.warn({ keys: plan.needsRestart }, 'config reloaded; these keys take effect at the next restart');
    }
    return { ok: true, needsRestart: plan.needsRestart };
  }

  private refused(trigger: string, errors: string[]): ReloadResult {
    this.metrics.reloads.inc({ result: 'failure' });
    this.metrics.reloadSuccessful.set(0);
    this.logger.error({ trigger, config: this.path, errors }, 'config reload refused; the running config stays');
    return { ok: false, errors };
  }
}

/** The answer to POST /-/reload: 200 when the new config runs, 400 naming each refused key. */
export async function reloadAnswer(reloader: Pick<ConfigReloader, 'reload'>): Promise<{ status: number; body: Record<string, unknown> }> {
  const result = await reloader.reload('POST /-/reload');
  return result.ok
    ? { status: 200, body: { status: 'reloaded', needsRestart: result.needsRestart } }
    : { status: 400, body: { error: 'invalid_config', detail: 'the new config was refused; the running config stays', errors: result.errors } };
}
