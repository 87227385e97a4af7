import { setMaxListeners } from 'node:events';
import { Queue, Worker } from 'bullmq';
import type { Logger } from 'pino';
import type { FalconetConfig, OutputInstance } from '../config/load.js';
import { createDeliveryAttempt, createDeliveryProcessor } from '../delivery/deliver.js';
import { DirectSender } from '../delivery/direct.js';
import { SendSlots } from '../delivery/slots.js';
import type { Outcome } from '../delivery/stages/classify.js';
import { DeadLetterStore, ROUTER_OUTPUT } from '../dlq/store.js';
import type { Metrics } from '../observability/metrics.js';
import { describeRedis, redisErrorHandler, reportLoginFailures, untilRedisAnswers, workerConnection } from '../queue/connection.js';
import { checkDurability } from '../queue/durability.js';
import { deliveryJobOptions, jitterBackoff } from '../queue/job-options.js';
import { startDigestFlusher } from '../noise/flusher.js';
import { deliveryQueueName, type DeliveryJobData } from '../queue/names.js';
import { INGEST_QUEUE_LABEL, ingestCounts } from '../queue/ingest-log.js';
import { IngestConsumer } from './ingest-consumer.js';
import { migrateLegacyIngest } from '../queue/legacy-ingest.js';
import { createRouterPipeline } from '../router/pipeline.js';
import { RouterThrottle } from './router-throttle.js';
import { planReload, type ReloadPlan } from './reload-plan.js';
import { AlertStore } from '../ui/store.js';
import { StatusWriter } from '../ui/record.js';
import type { Output } from '../../outputs/kit/types.js';

/** "No rate limit", expressed as a limiter so that pauses still apply (see startDelivery). */
const UNLIMITED = { max: 1_000_000_000, duration: 1000 };

export interface RunningWorker {
  stop(): Promise<void>;
  /**
   * Swaps in a validated new config (SIGHUP, POST /-/reload): new ingest entries take the new routes;
   * alerts already routed stay queued for their outputs. Added outputs start, changed ones get a new
   * delivery worker once the old one finished its sends, removed ones drain their queue first.
   */
  reload(next: FalconetConfig): Promise<ReloadPlan>;
  /** Readiness for /readyz: Redis answers and the router consumes. */
  ready(): { ready: boolean; body: Record<string, unknown> };
}

/** With Redis unreachable at SIGTERM nothing in flight can be recorded as done: stop this soon. */
const STOP_WITHOUT_REDIS_MS = 2000;
/** Longest a graceful stop may take (in-flight sends finishing) before the worker is closed by force. */
const STOP_GRACE_MS = 20_000;

/**
 * A worker process: the router (ingest log → stages → delivery queues) and one BullMQ Worker per
 * output. Any number of these can run against the same Redis (docker compose --scale worker=N).
 */
export async function startWorker(
  config: FalconetConfig,
  logger: Logger,
  metrics: Metrics,
  opts: { signal?: AbortSignal } = {},
): Promise<RunningWorker> {
  const log = logger.child({ component: 'worker' });
  const redis = workerConnection(config.redis);
  const onRedisError = redisErrorHandler(redis, { url: config.redis, role: 'worker', logger: log });
  redis.on('error', (err) => log.debug({ err: err.message }, 'redis connection error'));
  reportLoginFailures(redis, { target: config.redis, role: 'worker', logger: log });
  // Started without Redis, the worker waits (logging what for) and starts consuming once it
  // answers; BullMQ is given the connection only then. Later outages BullMQ rides out itself.
  try {
    await untilRedisAnswers(redis, { url: config.redis, role: 'worker', logger: log, signal: opts.signal });
    await checkDurability(redis, { requireDurable: config.redis.requireDurable, logger: log, role: 'worker', where: describeRedis(config.redis) });
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  // The router's own commands (ingest log, dedup, ledger, UI store, dead letters) on a connection
  // BullMQ never defines its ~50 scripts on: ioredis copies every defined script onto each
  // auto-pipeline batch it builds, which was a tenth of the worker's CPU at 500 alerts/s (issue #10).
  const commands = workerConnection(config.redis);
  commands.on('error', onRedisError);
  reportLoginFailures(commands, { target: config.redis, role: 'worker', logger: log });
  const prefix = config.redis.prefix;
  // How jobs of a crashed (kill -9) worker come back: their lock lapses, a stalled check requeues them.
  const recovery = {
    lockDuration: config.worker.lockDuration,
    stalledInterval: config.worker.stalledInterval,
    maxStalledCount: config.worker.maxStalledCount,
  };
  const shutdown = new AbortController();
  /** A graceful stop began: a job of many alerts starts no more sends (the rest go back to the queue). */
  const stopBegun = new AbortController();
  // Every in-flight send listens to it: hundreds of listeners are expected, not a leak.
  setMaxListeners(0, shutdown.signal);

  const queues = new Map<string, Queue<DeliveryJobData>>();
  const queueFor = (name: string) => queues.get(name)!;
  const addQueue = (name: string) => {
    if (queues.has(name)) return;
    const queue = new Queue<DeliveryJobData>(deliveryQueueName(name), { connection: redis, prefix });
    queue.on('error', onRedisError);
    queues.set(name, queue);
  };
  for (const name of Object.keys(config.outputs)) addQueue(name);

  const throttle = new RouterThrottle(async () => {
    const counts = await Promise.all([...queues.values()].map((q) => q.getWaitingCount()));
    return counts.reduce((a, b) => a + b, 0);
  });
  // First attempts from the router (src/delivery/direct.ts): filled by startDelivery below, which
  // runs before the router's first job can arrive (that takes a Redis round trip).
  const directSenders = new Map<string, DirectSender>();
  const direct = (name: string) => directSenders.get(name);
  let pipeline = createRouterPipeline(config, { redis: commands, queueFor, metrics, direct });
  const running = new Map<string, Promise<void>>();
  // Ingest entries running per pipeline: a pipeline replaced by a reload is flushed until its last one finished.
  const generations = new Map<typeof pipeline, number>();
  const deadLetters = new DeadLetterStore(commands, { prefix, maxAge: config.dlq.maxAge, maxPerOutput: config.dlq.maxPerOutput });
  // Its own connection: a blocked XREADGROUP would hold up every command pipelined behind it.
  const blocking = workerConnection(config.redis, { enableAutoPipelining: false });
  blocking.on('error', onRedisError);
  const ingest = new IngestConsumer({
    redis: commands,
    blocking,
    prefix,
    concurrency: config.router.concurrency,
    ...recovery,
    deadLetters,
    logger: log,
    async process(entry, replay) {
      await throttle.admit();
      const id = entry.id;
      // An entry taken over while this process still ran it (an event loop starved for longer
      // than lockDuration) comes back to this same process: let the first run finish; if it
      // succeeded the entry is done (only its acknowledgement is left), else the second run
      // queues only what the first one's fan-out ledger does not name.
      const earlier = running.get(id);
      if (earlier && (await earlier.then(() => true, () => false))) return;
      // The entry id names the dedup claims and the fan-out ledger: a reclaimed entry passes its own alerts again.
      const p = pipeline;
      generations.set(p, (generations.get(p) ?? 0) + 1);
      const run = p.run(entry.alerts, { id, replay: replay || earlier !== undefined });
      running.set(id, run);
      try {
        await run;
      } finally {
        if (running.get(id) === run) running.delete(id);
        generations.set(p, generations.get(p)! - 1);
      }
    },
    // Noise control (src/noise): an acknowledged entry never runs again, so its fan-out ledger goes.
    onAcked: (ids) => {
      for (const id of ids) pipeline.completed(id);
    },
  });
  await migrateLegacyIngest(commands, { prefix, deadLetters, logger: log }).catch((err: Error) => log.error({ err: err.message }, 'moving the old ingest queue into the ingest log failed; the next worker start retries'));
  await ingest.start();
  throttle.start();
  let digests = startDigestFlusher(config, { redis: commands, queueFor, metrics, log });

  // Delivery status for the web UI (src/ui): batched, one script call per flush.
  const uiStatus = config.ui.enabled ? new StatusWriter(new AlertStore(commands, prefix, config.ui.retention), undefined, undefined, () => pipeline.flushUi()) : undefined;
  type Delivery = { worker: Worker<DeliveryJobData>; output: Output };
  const deliveries = new Map<string, Delivery>();
  /** Outputs removed by a reload whose queue is still draining. */
  const draining = new Map<string, Delivery>();
  for (const instance of Object.values(config.outputs)) deliveries.set(instance.name, startDelivery(instance));
  const deliveryWorkers = () => [...deliveries.values(), ...draining.values()].map((d) => d.worker);
  const outputs = () => [...deliveries.values(), ...draining.values()];
  log.info({ outputs: Object.keys(config.outputs), concurrency: config.router.concurrency }, 'worker started');
  // falconet_queue_jobs, read at scrape time: the ingest queue and each output's, with its dead letters.
  const jobCounts = async (queue: Queue, dlqOutput: string) => ({
    queue: queue.name,
    counts: { ...(await queue.getJobCounts('waiting', 'active', 'delayed', 'failed')), dlq: await deadLetters.count(dlqOutput) },
  });
  const ingestJobCounts = async () => ({ queue: INGEST_QUEUE_LABEL, counts: { ...(await ingestCounts(commands, prefix)), dlq: await deadLetters.count(ROUTER_OUTPUT) } });
  metrics.queueSource.counts = () => Promise.all([ingestJobCounts(), ...[...queues].map(([name, queue]) => jobCounts(queue, name))]);

  /** The output's sender; a failure (a certificate file missing) names the output and its key. */
  function createOutput(instance: OutputInstance): Output {
    const olog = logger.child({ component: 'delivery', output: instance.name });
    try {
      return instance.definition.create(instance.config, { name: instance.name, logger: olog });
    } catch (err) {
      const message = (err as Error).message;
      // The kit's file errors start with their key (`tls.ca: cannot read …`): joined into one path.
      const path = /^[\w.]+: /.test(message) ? `outputs.${instance.name}.${message}` : `outputs.${instance.name}: ${message}`;
      throw new Error(path, { cause: err });
    }
  }

  function startDelivery(instance: OutputInstance, output: Output = createOutput(instance)) {
    const olog = logger.child({ component: 'delivery', output: instance.name });
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
      onOutcome: uiStatus && ((texts: readonly string[], outcome: Outcome) => uiStatus.record(instance.name, texts, outcome)),
    };
    // A Retry-After answered to a delivery job holds this process's first attempts at once too.
    const pause = (ms: number) => {
      directSenders.get(instance.name)?.pausedFor(ms);
      return queue.rateLimit(ms);
    };
    const processor = createDeliveryProcessor({ ...chain, pause, rateLimitError: () => Worker.RateLimitError(), slots, stopping: stopBegun.signal });
    // A reload may make an output ineligible (a rateLimit added): then it has no first-attempt sender.
    if (config.router.directDelivery && DirectSender.eligible(instance)) {
      const attempt = createDeliveryAttempt(chain);
      directSenders.set(instance.name, new DirectSender(instance, { redis: commands, queue, jobOptions: deliveryJobOptions(instance), slots, attempt, pause }));
    } else {
      directSenders.delete(instance.name);
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
    worker.on('stalled', (jobId) => olog.warn({ job: jobId }, 'delivery job stalled (its lock lapsed); it runs again, its alerts may be sent twice'));
    return { worker, output };
  }

  let forcing = false;
  async function gracefulStop(): Promise<void> {
    // Order matters: stop reading the ingest log (in-flight entries finish, flush their batches and are acknowledged),
    // then let deliveries finish, then close connections.
    throttle.stop();
    const closing = ingest.close();
    let closed = false;
    void closing.finally(() => (closed = true));
    while (!closed && !forcing) {
      await pipeline.flush();
      await Promise.race([closing, new Promise((r) => setTimeout(r, 50))]);
    }
    await digests.stop();
    stopBegun.abort();
    await Promise.all(deliveryWorkers().map((w) => w.close()));
    await uiStatus?.flush();
    shutdown.abort();
    await Promise.all(outputs().map(({ output }) => output.close?.()));
    await Promise.all([...queues.values()].map((q) => q.close()));
  }

  let current = config;
  let stopping = false;
  let reloading: Promise<unknown> = Promise.resolve();

  async function closeDelivery(d: Delivery): Promise<void> {
    await d.worker.close();
    await d.output.close?.();
  }

  /** A removed output keeps its delivery worker until its queue is empty, then closes it. */
  async function drain(name: string): Promise<void> {
    const queue = queues.get(name)!;
    while (!stopping && draining.has(name)) {
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children').catch(() => undefined);
      if (counts && Object.values(counts).every((n) => n === 0)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const d = draining.get(name);
    if (!d || stopping) return;
    draining.delete(name);
    await closeDelivery(d);
    log.info({ output: name }, 'removed output drained; its delivery worker stopped');
  }

  async function applyReload(next: FalconetConfig): Promise<ReloadPlan> {
    const plan = planReload(current, next);
    // Every new sender first: one that cannot start (an unreadable key file) refuses the whole
    // reload while the running config goes on, instead of leaving that output without a worker.
    const created = new Map<string, Output>();
    try {
      for (const name of [...plan.changed, ...plan.added]) created.set(name, createOutput(next.outputs[name]!));
    } catch (err) {
      await Promise.all([...created.values()].map((o) => o.close?.()));
      throw err;
    }
    for (const name of [...plan.added, ...plan.changed]) addQueue(name);
    // A changed output's alerts go through its queue until its delivery restarts below: a first
    // attempt from the router would use the old sender (old URL and headers, no new rateLimit),
    // which is closed once the old delivery worker stops, maybe under a send.
    for (const name of plan.changed) directSenders.delete(name);
    // Routing first: new ingest entries reach added outputs at once (their jobs wait until the worker below starts).
    const old = pipeline;
    pipeline = createRouterPipeline(next, { redis: commands, queueFor, metrics, direct });
    const oldDigests = digests;
    digests = startDigestFlusher(next, { redis: commands, queueFor, metrics, log });
    current = next;
    // The old pipeline's in-flight jobs finish on it; their partial batches are flushed into the queues.
    while ((generations.get(old) ?? 0) > 0) {
      await old.flush();
      await new Promise((r) => setTimeout(r, 20));
    }
    await old.flush();
    // (A job of the old pipeline completing from here on leaves its fan-out ledger to the ledger's TTL.)
    generations.delete(old);
    await oldDigests.stop();
    for (const name of plan.changed) {
      const before = deliveries.get(name) ?? draining.get(name);
      draining.delete(name);
      // Active sends finish first (close waits for them); queued jobs stay for the new worker.
      if (before) await closeDelivery(before);
      deliveries.set(name, startDelivery(next.outputs[name]!, created.get(name)));
    }
    for (const name of plan.added) {
      const back = draining.get(name);
      draining.delete(name);
      if (back) await closeDelivery(back);
      deliveries.set(name, startDelivery(next.outputs[name]!, created.get(name)));
    }
    for (const name of plan.removed) {
      draining.set(name, deliveries.get(name)!);
      deliveries.delete(name);
      directSenders.delete(name);
      void drain(name);
    }
    return plan;
  }

  return {
    reload(next) {
      const result = reloading.then(() => applyReload(next));
      reloading = result.catch(() => undefined);
      return result;
    },
    ready() {
      const redisUp = redis.status === 'ready' && commands.status === 'ready';
      const consuming = ingest.consuming;
      return {
        ready: redisUp && consuming,
        body: { status: redisUp && consuming ? 'ready' : 'not ready', redis: redisUp ? 'up' : redis.status, router: consuming ? 'consuming' : 'not consuming', config: 'loaded', outputs: [...deliveries.keys()], draining: [...draining.keys()] },
      };
    },
    async stop() {
      stopping = true;
      await reloading;
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
        ingest.forceClose();
        const forced = Promise.allSettled(deliveryWorkers().map((w) => w.close(true)));
        await Promise.race([forced, new Promise((r) => setTimeout(r, 1000))]);
      }
      redis.disconnect();
      commands.disconnect();
      log.info('worker stopped');
    },
  };
}

