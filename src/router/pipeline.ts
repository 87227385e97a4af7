import { randomUUID } from 'node:crypto';
import type { RedisClient as Redis } from '../queue/connection.js';
import type { Alert } from '../alert/alert.js';
import type { Queue } from 'bullmq';
import type { FalconetConfig } from '../config/load.js';
import type { Metrics } from '../observability/metrics.js';
import type { DeliveryJobData } from '../queue/names.js';
import { createDedupStage } from './stages/dedup.js';
import { createEnrichStage } from './stages/enrich.js';
import { Fanout, type DispatchContext } from './stages/fanout.js';
import { DeadLetterStore } from '../dlq/store.js';
import type { DirectSender } from '../delivery/direct.js';
import { createNormaliseStage } from './stages/normalise.js';
import { createPriorityFloorStage } from './stages/priority-floor.js';
import { createRouteStage } from './stages/route.js';
import { AlertStore } from '../ui/store.js';
import { RoutedWriter, StatusWriter } from '../ui/record.js';

/**
 * The router: one ingest batch through explicit stages, in this order:
 * normalise → enrich → priority floor → dedup (exact duplicates) → route → fan out (per output:
 * storm control and overflow, then the delivery queue).
 * Each stage is its own module; this file only wires them and counts what each one drops.
 */
export function createRouterPipeline(
  config: FalconetConfig,
  deps: { redis: Redis; queueFor: (output: string) => Queue<DeliveryJobData>; metrics: Metrics; direct?: (output: string) => DirectSender | undefined },
) {
  // Per-alert isolation: a poison alert goes to the dead letters, the rest of the job goes on.
  const normalise = createNormaliseStage(new DeadLetterStore(deps.redis, { prefix: config.redis.prefix, ...config.dlq }), deps.metrics);
  const enrich = createEnrichStage(config);
  const priorityFloor = createPriorityFloorStage(config.minimumPriority);
  const dedup = createDedupStage(deps.redis, { prefix: config.redis.prefix, ...config.dedup });
  const route = createRouteStage(config.compiledRoutes, config.outputs);
  const { suppressed } = deps.metrics;
  // Plain numbers per entry, added to the counter when it is read (src/observability/metrics.ts).
  const countRouted = deps.metrics.countRouted;
  // The web UI's event store (src/ui): one script call per ingest batch, before fan-out.
  const ui = config.ui.enabled ? new AlertStore(deps.redis, config.redis.prefix, config.ui.retention) : undefined;
  const uiRouted = ui && new RoutedWriter(ui);
  const uiFolded = ui && new StatusWriter(ui, undefined, undefined, () => uiRouted!.flush());
  const fanout = new Fanout(config.outputs, deps.queueFor, Math.max(1, config.router.concurrency - 1), {
    redis: deps.redis,
    prefix: config.redis.prefix,
    onSuppressed: (output, reason, n) => suppressed.inc({ stage: reason, output }, n),
    onFolded: uiFolded && ((output, alerts) => uiFolded.suppressed(output, alerts.map((a) => a.id))),
    direct: deps.direct,
  });

  return {
    /**
     * `job`: the ingest entry (its stream id is the same on every run; `replay` when this is not
     * its first run). Without one (tools, tests) the batch counts as a fresh entry of its own.
     */
    async run(raw: ReadonlyArray<readonly [string, string]>, job: { id: string; replay: boolean } = freshJob()): Promise<void> {
      const alerts = enrich(await normalise(raw));
      const severe = priorityFloor(alerts);
      countRouted('dropped_priority', alerts.length - severe.length);
      const { passed: unique, duplicates } = await dedup(severe, job.id);
      countRouted('duplicate', duplicates);
      const { byOutput, unrouted } = route(unique);
      countRouted('unrouted', unrouted);
      countRouted('routed', unique.length - unrouted);
      // Delivery does not wait for the UI's record (the entry's acknowledgement waits for both),
      // except where it queues a job: another worker may deliver that at once, and its status
      // would be ignored if it reached the store before the alert.
      const stored = uiRouted?.add(alerts, byOutput);
      // A batched output's batch may be queued (no free slot) long after this entry: counted as queueing.
      if (stored && [...byOutput.keys()].some((name) => !deps.direct?.(name) || config.outputs[name]!.batchSize > 1)) await uiRouted!.flush();
      await fanout.dispatch(byOutput, dispatchContext(job, unique));
      await stored;
    },
    flush: () => Promise.all([fanout.flushAll(), uiRouted?.flush()]).then(() => undefined),
    /** Writes the UI records gathered so far (the delivery status writer runs it first). */
    flushUi: () => uiRouted?.flush() ?? Promise.resolve(),
    /** The ingest entry was acknowledged (it will not run again): drops its fan-out ledger. */
    completed: (jobId: string): void => fanout.completed(jobId),
  };
}

function freshJob(): { id: string; replay: boolean } {
  return { id: `local.${randomUUID()}`, replay: false };
}

/** Names each alert inside its ingest job by id and occurrence: the same on every run of the job. */
function dispatchContext(job: { id: string; replay: boolean }, alerts: Alert[]): DispatchContext {
  const refs = new Map<Alert, string>();
  const seen = new Map<string, number>();
  for (const alert of alerts) {
    const n = seen.get(alert.id) ?? 0;
    seen.set(alert.id, n + 1);
    refs.set(alert, `${alert.id}.${n}`);
  }
  return { jobId: job.id, replay: job.replay, refOf: (alert) => refs.get(alert)! };
}
