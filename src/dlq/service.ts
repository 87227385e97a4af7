import { createHash } from 'node:crypto';
import { Queue, type Job } from 'bullmq';
import { ruleOfText } from '../alert/alert.js';
import type { RedisClient as Redis } from '../queue/connection.js';
import type { FalconetConfig } from '../config/load.js';
import { deliveryJobOptions } from '../queue/job-options.js';
import { appendIngest } from '../queue/ingest-log.js';
import { deliveryQueueName, type DeliveryJobData } from '../queue/names.js';
import { DeadLetterStore, ROUTER_OUTPUT, type DeadLetter } from './store.js';

/**
 * Ids of jobs in a delivery queue's failed set as `falconet dlq` shows them: delivery jobs a crash
 * loop gave up on (`worker.maxStalledCount`) or left by a version before src/dlq.
 */
const DELIVERY_JOB_ID = 'failed-job-';

/** A problem with the request (unknown output, bad id): the CLI exits 2, the HTTP API answers 4xx. */
export class DlqRequestError extends Error {
  constructor(
    readonly code: 'unknown_output' | 'bad_request',
    message: string,
  ) {
    super(message);
    this.name = 'DlqRequestError';
  }
}

/** What `list` shows: a stored record, or a failed delivery job (maybe many alerts, no single alert text). */
export type DeadLetterEntry = Omit<DeadLetter, 'alert'> & { alert?: string; alerts?: number };

export interface ReplayResult {
  replayed: number;
  /** Requested ids that are not (or no longer) in the dead letters. */
  missing: string[];
}

/**
 * The dead-letter operations shared by `falconet dlq` and `/api/dlq`: list, replay, purge. Stored
 * records live in the DeadLetterStore, the router's too (ROUTER_OUTPUT: poison alerts, and the
 * alerts of an ingest entry that failed or was taken over more than worker.maxStalledCount times);
 * delivery jobs in an output's failed set (a crash loop) are shown and replayed under that output.
 * A router dead letter is replayed as a new ingest entry, through the whole router again.
 *
 * A replay puts the alerts on the output's live delivery queue under a new job id (the original one
 * may still be retained as completed, which would swallow the job) and then deletes the records: a
 * replayed alert is delivered once and leaves the DLQ; if it fails again it comes back with its
 * attempts added up.
 */
export function createDlqService(config: FalconetConfig, redis: Redis) {
  const prefix = config.redis.prefix;
  const store = new DeadLetterStore(redis, { prefix, maxAge: config.dlq.maxAge, maxPerOutput: config.dlq.maxPerOutput });
  const queues = new Map<string, Queue>();
  const queue = (name: string): Queue => {
    let q = queues.get(name);
    if (!q) queues.set(name, (q = new Queue(name, { connection: redis, prefix })));
    return q;
  };

  function checkOutput(output: string): void {
    if (output !== ROUTER_OUTPUT && !(output in config.outputs)) {
      const known = [...Object.keys(config.outputs), ROUTER_OUTPUT].join(', ');
      throw new DlqRequestError('unknown_output', `output "${output}" is not defined (one of ${known})`);
    }
  }

  /** Where an output's failed jobs are, the id prefix they are shown with, and their alert texts (the router has none). */
  function failedSet(output: string) {
    if (output === ROUTER_OUTPUT) return undefined;
    return { queue: queue(deliveryQueueName(output)), prefix: DELIVERY_JOB_ID, texts: (job: Job) => (job.data as DeliveryJobData).alerts };
  }

  async function failedJobs(output: string): Promise<Job[]> {
    const set = failedSet(output);
    if (!set) return [];
    const q = set.queue;
    // BullMQ's own retention is a backstop; dlq.maxAge applies here too.
    await q.clean(config.dlq.maxAge, 0, 'failed');
    return q.getFailed(0, config.dlq.maxPerOutput - 1);
  }

  function jobEntry(output: string, job: Job): DeadLetterEntry {
    const { prefix: idPrefix, texts } = failedSet(output)!;
    const alerts = texts(job);
    const rules = new Set(alerts.map(ruleOfText));
    return {
      id: `${idPrefix}${job.id}`,
      output,
      rule: [...rules].slice(0, 3).join(', ') + (rules.size > 3 ? ', …' : ''),
      alerts: alerts.length,
      reason: job.failedReason ?? 'failed',
      attempts: job.attemptsMade,
      firstAttemptAt: job.processedOn ?? job.timestamp,
      lastAttemptAt: job.finishedOn ?? job.timestamp,
    };
  }

  return {
    store,

    async outputs(): Promise<string[]> {
      const names = new Set([...(await store.outputs()), ...Object.keys(config.outputs)]);
      if ((await store.count(ROUTER_OUTPUT)) > 0) names.add(ROUTER_OUTPUT);
      return [...names].sort();
    },

    /** Dead letters of one output, or of every output; oldest first per output, at most `limit`. */
    async list(output?: string, limit = Number.POSITIVE_INFINITY): Promise<DeadLetterEntry[]> {
      if (output !== undefined) checkOutput(output);
      const outputs = output !== undefined ? [output] : await this.outputs();
      const out: DeadLetterEntry[] = [];
      for (const name of outputs) {
        if (out.length >= limit) break;
        out.push(...(await store.list(name, limit - out.length)));
        out.push(...(await failedJobs(name)).map((job) => jobEntry(name, job)));
      }
      return out.slice(0, limit);
    },

    /** Puts an output's dead letters (all, or these ids) back on its queue and removes them. */
    async replay(output: string, ids?: readonly string[]): Promise<ReplayResult> {
      checkOutput(output);
      const failed = failedSet(output);
      const isJobId = (id: string) => id.startsWith(DELIVERY_JOB_ID);
      const jobIds = ids?.filter(isJobId);
      const recordIds = ids?.filter((id) => !isJobId(id));
      const letters = recordIds ? await store.get(output, recordIds) : await store.list(output);
      const missing = recordIds ? recordIds.filter((id) => !letters.some((l) => l.id === id)) : [];
      let replayed = 0;
      const instance = config.outputs[output];
      const size = instance?.batchSize ?? 1;
      for (let i = 0; i < letters.length; i += size) {
        const chunk = letters.slice(i, i + size);
        // Deterministic per record version: a replay retried after a crash adds the job once.
        const jobId = `dlq.${createHash('sha1').update(chunk.map((l) => `${l.id}@${l.lastAttemptAt}`).join(',')).digest('hex')}`;
        if (instance) {
          // The sends so far carry over (the record's attempts add up); the retry budget starts afresh.
          const data: DeliveryJobData = { alerts: chunk.map((l) => l.alert), sends: Math.max(...chunk.map((l) => l.attempts)) };
          await queue(deliveryQueueName(output)).add(output, data, { ...deliveryJobOptions(instance), jobId });
        } else {
          // Unlike a job id, an entry cannot be named in advance: a replay retried after a crash
          // here appends the alerts again, and the router's dedup drops the second copy.
          await appendIngest(redis, prefix, chunk.map((l) => [l.id, l.alert]), Date.now());
        }
        replayed += await store.remove(output, chunk.map((l) => l.id));
      }
      const jobs = !failed
        ? (jobIds ?? []).map((id) => [id, undefined] as const)
        : jobIds
          ? await Promise.all(jobIds.map(async (id) => [id, await failed.queue.getJob(id.slice(failed.prefix.length))] as const))
          : (await failedJobs(output)).map((job) => [`${failed.prefix}${job.id}`, job] as const);
      for (const [id, job] of jobs) {
        if (!failed || !job || !(await job.isFailed())) {
          missing.push(id);
          continue;
        }
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        replayed += failed.texts(job).length;
      }
      return { replayed, missing };
    },

    /** Deletes an output's dead letters, all or those last tried more than `olderThanMs` ago. */
    async purge(output: string, olderThanMs?: number): Promise<number> {
      checkOutput(output);
      let removed = await store.purge(output, olderThanMs);
      const failed = failedSet(output);
      if (failed) removed += (await failed.queue.clean(olderThanMs ?? 0, 0, 'failed')).length;
      return removed;
    },

    async close(): Promise<void> {
      await Promise.all([...queues.values()].map((q) => q.close()));
    },
  };
}

export type DlqService = ReturnType<typeof createDlqService>;


/**
 * One entry as one line of JSON: the alert is embedded as the JSON object it is (its text is
 * inserted verbatim, so nanosecond integers stay exact), not as an escaped string.
 */
export function entryJsonLine(entry: DeadLetterEntry): string {
  const { alert, ...meta } = entry;
  const head = JSON.stringify(meta);
  return alert === undefined ? head : `${head.slice(0, -1)},"alert":${alert}}`;
}
