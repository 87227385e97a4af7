import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile, resolveConfigPath, type FalconetConfig } from '../config/load.js';
import { startCollector } from '../collector/service.js';
import { createLogger } from '../observability/logger.js';
import { createMetrics, setMetricsDefaults } from '../observability/metrics.js';
import { startMetricsServer } from '../observability/metrics-server.js';
import { ensureRedis, RedisUnavailableError, type EmbeddedRedis } from '../runtime/embedded-redis.js';
import { startWorker } from '../worker/service.js';
import { printCheck } from './check.js';
import { runDlqCommand } from './dlq.js';
import { importSidekickCommand } from './import-sidekick.js';
import { sendTestAlert } from './send-test.js';

const USAGE = `usage: falconet <command> [--config PATH]

commands:
  start       collector and worker in one process (starts a local redis-server if none answers)
  collector   the HTTP endpoint Falco posts to
  worker      router and delivery workers (scale these)
  check       validate the config and print outputs and routes, secrets redacted
  send-test   POST a test alert to a running collector (--url, default http://127.0.0.1:2801;
              --priority, default notice)
  dlq         dead letters: list [--output X] [--json], replay --output X [--id ID],
              purge --output X [--older-than 7d]
  import-sidekick  convert a Falcosidekick config: [--config sidekick.yaml] [--env] [--env-file F] [--helm-values F] [--out falconet.yaml]
              [--inline-secrets]; prints what became of every setting

The config is --config PATH, else $FALCONET_CONFIG, else config/falconet.yaml.
REDIS_URL overrides redis.url.`;

type Role = 'start' | 'collector' | 'worker';

export async function main(argv: string[]): Promise<number> {
  // Its own flags (--env, --out…) and no Falconet config to load.
  if (argv[0] === 'import-sidekick') return importSidekickCommand(argv.slice(1));
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
    },
    allowPositionals: true,
  });
  const command = positionals[0];
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  if (command === 'send-test') return sendTestAlert(values.url ?? 'http://127.0.0.1:2801', values.priority ?? 'notice');
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
    printCheck(config, path);
    return 0;
  }
  if (command === 'dlq') return runDlqCommand(positionals.slice(1), values, config);
  if (command !== 'start' && command !== 'collector' && command !== 'worker') {
    console.error(`falconet: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  setMetricsDefaults({ sidekickCompat: config.metrics.sidekickCompat });
  return run(command, config);
}

async function run(role: Role, config: FalconetConfig): Promise<number> {
  const logger = createLogger(config.log.level);
  let embedded: EmbeddedRedis | undefined;
  try {
    // Only `start` (the one-command default) may start a Redis; split roles expect a real one.
    embedded = await ensureRedis(config.redis.url, { embedded: role === 'start' && config.redis.embedded, logger });
  } catch (err) {
    if (!(err instanceof RedisUnavailableError)) throw err;
    console.error(`falconet: ${err.message}`);
    return 1;
  }
  const metrics = createMetrics();
  const parts: Array<{ stop(): Promise<void> }> = [];
  try {
    if (role !== 'collector') parts.push(await startWorker(config, logger, metrics));
    if (role === 'worker') {
      const server = await startMetricsServer(metrics, config.listen.host, config.worker.metricsPort);
      logger.info({ port: server.port }, 'worker metrics listening');
      parts.push(server);
    }
    if (role !== 'worker') parts.push(await startCollector(config, logger, metrics));
  } catch (err) {
    logger.fatal({ err }, 'could not start');
    await stopAll(parts, embedded, logger);
    return 1;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      // The collector was started last: stop it first so nothing new arrives while workers drain.
      stopAll(parts.reverse(), embedded, logger).then(
        () => resolve(0),
        (err) => {
          logger.error({ err }, 'error during shutdown');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  });
}

async function stopAll(parts: Array<{ stop(): Promise<void> }>, embedded: EmbeddedRedis | undefined, logger: Logger) {
  for (const part of parts) await part.stop();
  await embedded?.stop();
  logger.flush?.();
}
