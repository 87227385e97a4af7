import { setMaxListeners } from 'node:events';
import { Queue, Worker } from 'bullmq';
import type { Logger } from 'pino';
import type { FalconetConfig, OutputInstance } from '../config/load.js';
import { createDeliveryAttempt, createDeliveryProcessor } from '../delivery/deliver.js';
import { DirectSender } from '../delivery/direct.js';
import { SendSlots } from '../delivery/slots.js';
import { createHttpClient, type HttpClient, type TlsOptions } from '../delivery/http-client.js';
import { DeadLetterStore } from '../dlq/store.js';
import type { Metrics } from '../observability/metrics.js';
import { redisErrorHandler, untilRedisAnswers, workerConnection } from '../queue/connection.js';
import { deliveryJobOptions, jitterBackoff } from '../queue/job-options.js';
import { startDigestFlusher } from '../noise/flusher.js';
import { INGEST_QUEUE, deliveryQueueName, type DeliveryJobData, type IngestJobData } from '../queue/names.js';
import { createRouterPipeline } from '../router/pipeline.js';
import { RouterThrottle } from './router-throttle.js';
import type { Output } from '../../outputs/types.js';

/** "No rate limit", expressed as a limiter so that pauses still apply (see startDelivery). */
const UNLIMITED = { max: 1_000_000_000, duration: 1000 };

export interface RunningWorker {
  stop(): Promise<void>;
}

/** With Redis unreachable at SIGTERM nothing in flight can be recorded as done: stop this soon. */
const STOP_WITHOUT_REDIS_MS = 2000;
/** Longest a graceful stop may take (in-flight sends finishing) before the worker is closed by force. */
const STOP_GRACE_MS = 20_000;

/**
 * A worker process: the router (ingest queue → stages → delivery queues) and one BullMQ Worker per
 * output. Any number of these can run against the same Redis (docker compose --scale worker=N).
 */
export async function startWorker(
  config: FalconetConfig,
  logger: Logger,
  metrics: Metrics,
  opts: { signal?: AbortSignal } = {},
): Promise<RunningWorker> {
  const log = logger.child({ component: 'worker' });
  const redis = workerConnection(config.redis.url);
  const onRedisError = redisErrorHandler(redis, { url: config.redis.url, role: 'worker', logger: log });
  redis.on('error', (err) => log.debug({ err: err.message }, 'redis connection error'));
  // Started without Redis, the worker waits (logging what for) and starts consuming once it
  // answers; BullMQ is given the connection only then. Later outages BullMQ rides out itself.
  try {
    await untilRedisAnswers(redis, { url: config.redis.url, role: 'worker', logger: log, signal: opts.signal });
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  const prefix = config.redis.prefix;
  // How jobs of a crashed (kill -9) worker come back: their lock lapses, a stalled check requeues them.
  const recovery = {
    lockDuration: config.worker.lockDuration,
    stalledInterval: config.worker.stalledInterval,
    maxStalledCount: config.worker.maxStalledCount,
  };
  const shutdown = new AbortController();
  // Every in-flight send listens to it: hundreds of listeners are expected, not a leak.
  setMaxListeners(0, shutdown.signal);

  const queues = new Map<string, Queue<DeliveryJobData>>();
  for (const name of Object.keys(config.outputs)) {
    const queue = new Queue<DeliveryJobData>(deliveryQueueName(name), { connection: redis, prefix });
    queue.on('error', onRedisError);
    queues.set(name, queue);
  }
  const queueFor = (name: string) => queues.get(name)!;

  const throttle = new RouterThrottle(async () => {
    const counts = await Promise.all([...queues.values()].map((q) => q.getWaitingCount()));
    return counts.reduce((a, b) => a + b, 0);
  });
  // First attempts from the router (src/delivery/direct.ts): filled by startDelivery below, which
  // runs before the router's first job can arrive (that takes a Redis round trip).
  const directSenders = new Map<string, DirectSender>();
  const pipeline = createRouterPipeline(config, { redis, queueFor, metrics, direct: (name) => directSenders.get(name) });
  const routerWorker = new Worker<IngestJobData>(
    INGEST_QUEUE,
    async (job) => {
      await throttle.admit();
      // The job id names the dedup claims and the fan-out ledger: a retried or stalled job passes its own alerts again.
      await pipeline.run(job.data.alerts, { id: job.id!, replay: job.attemptsStarted > 1 });
    },
    {
    connection: redis,
    prefix,
    concurrency: config.router.concurrency,
    // Locks are renewed while a job is held (also while a batch fills), so the default fits.
    ...recovery,
  });
  throttle.start();
  // Noise control (src/noise): drop a completed job's fan-out ledger; every worker sends due digests.
  routerWorker.on('completed', (job) => pipeline.completed(job.id!));
  const digests = startDigestFlusher(config, { redis, queueFor, metrics, log });
  routerWorker.on('failed', (job, err) => log.error({ job: job?.id, err: err.message }, 'ingest job failed'));
  routerWorker.on('error', onRedisError);

  const deadLetters = new DeadLetterStore(redis, { prefix, maxAge: config.dlq.maxAge, maxPerOutput: config.dlq.maxPerOutput });
  const deliveryWorkers: Worker<DeliveryJobData>[] = [];
  const outputs: Array<{ output: Output; http: HttpClient }> = [];
  for (const instance of Object.values(config.outputs)) {
    const { worker, output, http } = startDelivery(instance);
    deliveryWorkers.push(worker);
    outputs.push({ output, http });
  }
  log.info({ outputs: Object.keys(config.outputs), concurrency: config.router.concurrency }, 'worker started');

  function startDelivery(instance: OutputInstance) {
    const olog = logger.child({ component: 'delivery', output: instance.name });
    const cfg = instance.config as typeof instance.config & { tls?: TlsOptions };
    const http = createHttpClient({ tls: cfg.tls, connections: instance.config.concurrency * 2 });
    const output = instance.definition.create(instance.config, { name: instance.name, logger: olog, http });
    const queue = queueFor(instance.name);
    const slots = new SendSlots(instance.config.concurrency);
    const chain = {
      output,
      instance,
      metrics,
      logger: olog,
      // Dead letters live in src/dlq, apart from the live queue (its limiter, pauses, retention).
      deadLetters,
      shutdown: shutdown.signal,
    };
    const pause = (ms: number) => queue.rateLimit(ms);
    const processor = createDeliveryProcessor({ ...chain, pause, rateLimitError: () => Worker.RateLimitError(), slots });
    if (config.router.directDelivery && DirectSender.eligible(instance)) {
      const attempt = createDeliveryAttempt(chain);
      directSenders.set(instance.name, new DirectSender(instance, { redis, queue, jobOptions: deliveryJobOptions(instance), slots, attempt, pause }));
    }
    const { retry, rateLimit } = instance.config;
    const worker = new Worker<DeliveryJobData>(deliveryQueueName(instance.name), processor, {
      connection: redis,
      prefix,
      concurrency: instance.config.concurrency,
      ...recovery,
      // Always a limiter: BullMQ enforces a Retry-After pause (queue.rateLimit) in Redis, for every
      // worker process, only on queues whose workers have one. Without it only this process's
      // idle slot waited, and another slot could retry at once (a flaky test showed it).
      limiter: rateLimit ? { max: rateLimit.max, duration: rateLimit.per } : UNLIMITED,
      settings: {
        backoffStrategy: (attemptsMade: number) => jitterBackoff(attemptsMade, retry.backoff, retry.maxBackoff),
      },
    });
    worker.on('error', onRedisError);
    return { worker, output, http };
  }

  let forcing = false;
  async function gracefulStop(): Promise<void> {
    // Order matters: stop taking ingest jobs (in-flight ones finish and flush their batches),
    // then let deliveries finish, then close connections.
    throttle.stop();
    const closing = routerWorker.close();
    let closed = false;
    void closing.finally(() => (closed = true));
    while (!closed && !forcing) {
      await pipeline.flush();
      await Promise.race([closing, new Promise((r) => setTimeout(r, 50))]);
    }
    await digests.stop();
    await Promise.all(deliveryWorkers.map((w) => w.close()));
    shutdown.abort();
    await Promise.all(outputs.map(async ({ output, http }) => {
      await output.close?.();
      await http.close();
    }));
    await Promise.all([...queues.values()].map((q) => q.close()));
  }

  return {
    async stop() {
      // A graceful stop needs Redis (every finished job is recorded there). Without it, or past
      // the grace period, close by force: jobs still held come back to another worker when their
      // lock lapses (worker.lockDuration), so nothing is lost, at worst sent twice.
      const grace = redis.status === 'ready' ? STOP_GRACE_MS : STOP_WITHOUT_REDIS_MS;
      let timer: NodeJS.Timeout | undefined;
      const graceful = gracefulStop().then(() => true, (err) => (log.warn({ err: (err as Error).message }, 'error during graceful stop'), false));
      const inTime = await Promise.race([graceful, new Promise<false>((r) => (timer = setTimeout(r, grace, false)))]);
      clearTimeout(timer);
      if (!inTime) {
        log.warn({ role: 'worker', graceMs: grace, redis: redis.status }, 'graceful stop did not finish (Redis unreachable?); closing by force');
        forcing = true;
        throttle.stop();
        void digests.stop();
        shutdown.abort();
        const forced = Promise.allSettled([routerWorker.close(true), ...deliveryWorkers.map((w) => w.close(true))]);
        await Promise.race([forced, new Promise((r) => setTimeout(r, 1000))]);
      }
      redis.disconnect();
      log.info('worker stopped');
    },
  };
}

