import { Queue, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { ruleOfText } from '../alert/alert.js';
import { ROUTER_OUTPUT, type DeadLetterStore } from '../dlq/store.js';
import type { RedisClient } from './connection.js';
import { appendIngest, ingestLogKey, type IngestAlerts } from './ingest-log.js';

/** The BullMQ queue versions before the ingest log wrote to (src/queue/ingest-log.ts). */
const LEGACY_QUEUE = 'ingest';

interface LegacyJobData {
  alerts: IngestAlerts;
  receivedAt: number;
}

/**
 * An upgrade must not strand what an older collector acknowledged: the jobs still in its BullMQ
 * ingest queue move into the ingest log (waiting, delayed, stalled ones), its failed jobs into
 * the router dead letters, and the old queue's keys go. One worker does it (a lock), once: with
 * no old queue it costs one EXISTS. A crash between a job's append and its removal appends it
 * twice at worst, and the router's dedup drops the second copy.
 */
export async function migrateLegacyIngest(redis: RedisClient, opts: { prefix: string; deadLetters: DeadLetterStore; logger: Logger }): Promise<number> {
  const { prefix } = opts;
  if ((await redis.exists(`${prefix}:${LEGACY_QUEUE}:meta`, `${prefix}:${LEGACY_QUEUE}:id`)) === 0) return 0;
  const lock = `${ingestLogKey(prefix)}:migrating`;
  if ((await redis.set(lock, String(process.pid), 'PX', 60_000, 'NX')) !== 'OK') return 0;
  const queue = new Queue<LegacyJobData>(LEGACY_QUEUE, { connection: redis, prefix });
  let moved = 0;
  try {
    // Active jobs too: at upgrade the old workers are gone, so an active job is a stalled one.
    for (const state of ['active', 'wait', 'prioritized', 'delayed', 'waiting-children'] as const) {
      for (const job of await queue.getJobs([state], 0, -1, true)) {
        if (!job?.data?.alerts) continue;
        await appendIngest(redis, prefix, job.data.alerts, job.data.receivedAt ?? job.timestamp);
        await job.remove().catch(() => undefined);
        moved += job.data.alerts.length;
      }
    }
    for (const job of await queue.getJobs(['failed'], 0, -1, true)) {
      if (job?.data?.alerts) await opts.deadLetters.add(ROUTER_OUTPUT, lettersOf(job));
    }
    await queue.obliterate({ force: true });
    opts.logger.warn({ alerts: moved }, 'moved the alerts of the old BullMQ ingest queue into the ingest log (upgrade); its failed jobs are @router dead letters');
    return moved;
  } finally {
    await queue.close();
    await redis.del(lock);
  }
}

function lettersOf(job: Job<LegacyJobData>) {
  const at = job.finishedOn ?? job.timestamp;
  return job.data.alerts.map(([id, text]) => ({
    id,
    rule: ruleOfText(text),
    alert: text,
    reason: job.failedReason ?? 'failed',
    attempts: job.attemptsMade,
    firstAttemptAt: job.processedOn ?? job.timestamp,
    lastAttemptAt: at,
  }));
}
