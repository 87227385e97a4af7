import type { Logger } from 'pino';
import type { Metrics } from './metrics.js';
import { startMetricsServer, type WorkerEndpoints } from './metrics-server.js';

/**
 * Where `falconet worker` serves /metrics and /healthz. Several workers on one host (systemd
 * units, a VM) each need their own: `--metrics-port` beats `FALCONET_METRICS_PORT` beats
 * `worker.metricsPort` (2802). `0` takes a free port (logged); `off` serves nothing.
 */
export function workerMetricsPort(configPort: number, flag: string | undefined, env: NodeJS.ProcessEnv = process.env): { port: number | 'off'; from: string } {
  const [value, from] =
    flag !== undefined ? [flag, '--metrics-port'] : env.FALCONET_METRICS_PORT ? [env.FALCONET_METRICS_PORT, 'FALCONET_METRICS_PORT'] : [String(configPort), 'worker.metricsPort'];
  if (value === 'off') return { port: 'off', from };
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new Error(`${from} "${value}" is not a port (0-65535, 0 = a free one, or off)`);
  return { port, from };
}

export class MetricsPortInUseError extends Error {
  constructor(host: string, port: number, from: string) {
    super(
      `the worker's metrics port ${host}:${port} (${from}) is taken, by another falconet worker on this host?\n` +
        'Give each worker its own: --metrics-port N or FALCONET_METRICS_PORT=N (0 = a free port, off = none), or worker.metricsPort in the config.',
    );
    this.name = 'MetricsPortInUseError';
  }
}

export async function startWorkerMetrics(
  metrics: Metrics,
  host: string,
  configPort: number,
  flag: string | undefined,
  logger: Logger,
  endpoints?: WorkerEndpoints,
): Promise<{ stop(): Promise<void> }> {
  const { port, from } = workerMetricsPort(configPort, flag);
  if (port === 'off') {
    logger.info({ from }, 'worker metrics off');
    return { stop: async () => undefined };
  }
  try {
    const server = await startMetricsServer(metrics, host, port, endpoints);
    logger.info({ port: server.port, from }, 'worker metrics listening');
    return server;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new MetricsPortInUseError(host, port, from);
    throw err;
  }
}
