import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile, resolveConfigPath, type FalconetConfig } from '../config/load.js';
import { createLogger } from '../observability/logger.js';
import { createMetrics, setMetricsDefaults } from '../observability/metrics.js';
import { type WorkerEndpoints } from '../observability/metrics-server.js';
import { ConfigReloader, reloadAnswer } from '../runtime/reload.js';
import { ensureRedis, RedisUnavailableError, type EmbeddedRedis } from '../runtime/embedded-redis.js';
import { AbortedError } from '../queue/connection.js';

// Each role and command imports its own modules when it runs (import() below), not all at start:
// a collector never loads the worker's router, delivery and output clients, nor a worker the
// collector's HTTP app; what a process never runs it does not hold in memory (peak RSS).

const USAGE = `usage: falconet <command> [--config PATH]

commands:
  start       collector and worker in one process (starts a local redis-server if none answers)
  collector   the HTTP endpoint Falco posts to
  worker      router and delivery workers (scale these); --metrics-port N|0|off, or
              FALCONET_METRICS_PORT (default worker.metricsPort, 2802; 0 = a free port)
  check       validate the config and print outputs and routes, secrets redacted
  send-test   POST a test alert to a running collector (--url, default http://127.0.0.1:2801;
              --priority, default notice)
  route       which outputs an alert on stdin reaches, and why (--output-json for JSON)
  dlq         dead letters: list [--output X] [--json], replay --output X [--id ID],
              purge --output X [--older-than 7d]
  hash-password  read a password on stdin, print its hash for ui.users[].passwordHash
  import-sidekick  convert a Falcosidekick config: [--config sidekick.yaml] [--env] [--env-file F] [--helm-values F] [--out falconet.yaml]
              [--inline-secrets]; prints what became of every setting

The config is --config PATH, else $FALCONET_CONFIG, else config/falconet.yaml.
REDIS_URL overrides redis.url.`;

type Role = 'start' | 'collector' | 'worker';

export async function main(argv: string[]): Promise<number> {
  // Its own flags (--env, --out…) and no Falconet config to load.
  if (argv[0] === 'import-sidekick') return (await import('./import-sidekick.js')).importSidekickCommand(argv.slice(1));
  if (argv[0] === 'hash-password') return (await import('./hash-password.js')).hashPasswordCommand();
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
      url: { type: 'string' },
      priority: { type: 'string' },
      // falconet dlq
      output: { type: 'string' },
      id: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      'older-than': { type: 'string' },
      // falconet route
      'output-json': { type: 'boolean' },
      // falconet worker: its own metrics port (several workers per host)
      'metrics-port': { type: 'string' },
    },
    allowPositionals: true,
  });
  const command = positionals[0];
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  if (command === 'send-test') return (await import('./send-test.js')).sendTestAlert(values.url ?? 'http://127.0.0.1:2801', values.priority ?? 'notice');
  const path = resolveConfigPath(values.config);
  let config: FalconetConfig;
  try {
    config = loadConfigFile(path);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`falconet: ${err.message}`);
      return 1;
    }
    throw err;
  }
  if (command === 'check') {
    (await import('./check.js')).printCheck(config, path);
    return 0;
  }
  if (command === 'route') return (await import('./route.js')).runRouteCommand(config, { json: values['output-json'] ?? false });
  if (command === 'dlq') return (await import('./dlq.js')).runDlqCommand(positionals.slice(1), values, config);
  if (command !== 'start' && command !== 'collector' && command !== 'worker') {
    console.error(`falconet: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  setMetricsDefaults({ sidekickCompat: config.metrics.sidekickCompat });
  return run(command, config, path, values['metrics-port']);
}

/** Every role exits this long after SIGTERM at the latest (Kubernetes' default grace is 30 s). */
const SHUTDOWN_GRACE_MS = 25_000;

async function run(role: Role, config: FalconetConfig, configPath: string, metricsPortFlag?: string): Promise<number> {
  const logger = createLogger(config.log.level);
  // Signals are handled from the first moment: a role waiting for Redis still stops on SIGTERM.
  const starting = new AbortController();
  let onSignal: (signal: string) => void = (signal) => {
    logger.info({ signal }, 'shutting down while starting');
    starting.abort();
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  // SIGHUP (operators, log rotation) re-reads the config; it never ends the process (Node's default).
  let onReloadSignal = () => logger.warn({ signal: 'SIGHUP' }, 'reload asked while starting; ignored (the config just read is used)');
  process.on('SIGHUP', () => onReloadSignal());

  let embedded: EmbeddedRedis | undefined;
  try {
    // Only `start` (the one-command default) may start a Redis; every other role waits for its own.
    embedded = await ensureRedis(config.redis, { embedded: role === 'start' && config.redis.embedded, logger, role });
  } catch (err) {
    if (!(err instanceof RedisUnavailableError)) throw err;
    logger.error({ role }, `${err.message}\nStarting anyway: alerts are spooled and work resumes when Redis answers.`);
  }
  const metrics = createMetrics({ alertLabels: { fields: config.metrics.alertLabels, maxValues: config.metrics.alertLabelValues } });
  const parts: Array<{ stop(): Promise<void>; collector?: boolean }> = [];
  const reloader = new ConfigReloader(configPath, config, logger, metrics);
  reloader.subscribe((next) => {
    logger.level = next.log.level;
  });
  const workerEndpoints: WorkerEndpoints = { reload: () => reloadAnswer(reloader) };
  try {
    if (role === 'worker') {
      // Up (and answering /healthz) while it waits for Redis.
      const { startWorkerMetrics } = await import('../observability/worker-metrics-port.js');
      parts.push(await startWorkerMetrics(metrics, config.listen.host, config.worker.metricsPort, metricsPortFlag, logger, workerEndpoints));
    }
    // The collector first: it accepts (into the spool) even while Redis is unreachable.
    if (role !== 'worker') {
      const { startCollector } = await import('../collector/service.js');
      const collector = await startCollector(config, logger, metrics, { reloader });
      // POST /-/reload re-reads the TLS certificates too (SIGHUP already does, in the collector's server).
      reloader.subscribe(() => void collector.reloadTls());
      parts.push(Object.assign(collector, { collector: true }));
    }
    if (role !== 'collector') {
      const { startWorker } = await import('../worker/service.js');
      const worker = await startWorker(config, logger, metrics, { signal: starting.signal });
      workerEndpoints.ready = () => worker.ready();
      reloader.subscribe(async (next) => void (await worker.reload(next)));
      parts.push(worker);
    }
  } catch (err) {
    if (!(err instanceof AbortedError)) logger.fatal({ err }, `could not start: ${(err as Error).message}`);
    await stopAll(stopOrder(parts), embedded, logger);
    return err instanceof AbortedError ? 0 : 1;
  }
  if (starting.signal.aborted) {
    await stopAll(stopOrder(parts), embedded, logger);
    return 0;
  }
  onReloadSignal = () => void reloader.reload('SIGHUP');
  return new Promise<number>((resolve) => {
    let stopping = false;
    onSignal = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      const cap = setTimeout(() => {
        logger.error({ graceMs: SHUTDOWN_GRACE_MS }, 'shutdown did not finish in time; exiting (unfinished jobs return to other workers)');
        resolve(1);
      }, SHUTDOWN_GRACE_MS);
      cap.unref();
      stopAll(stopOrder(parts), embedded, logger).then(
        () => (clearTimeout(cap), resolve(0)),
        (err) => {
          clearTimeout(cap);
          logger.error({ err }, 'error during shutdown');
          resolve(1);
        },
      );
    };
  });
}

/** The collector first (nothing new arrives while workers drain), then the rest newest first. */
function stopOrder(parts: Array<{ stop(): Promise<void>; collector?: boolean }>) {
  return [...parts.filter((p) => p.collector), ...parts.filter((p) => !p.collector).reverse()];
}

async function stopAll(parts: Array<{ stop(): Promise<void> }>, embedded: EmbeddedRedis | undefined, logger: Logger) {
  for (const part of parts) await part.stop();
  await embedded?.stop();
  logger.flush?.();
}
