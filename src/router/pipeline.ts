import type { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import type { FalconetConfig } from '../config/load.js';
import type { Metrics } from '../observability/metrics.js';
import type { DeliveryJobData } from '../queue/names.js';
import { createDedupStage } from './stages/dedup.js';
import { createEnrichStage } from './stages/enrich.js';
import { Fanout } from './stages/fanout.js';
import { DeadLetterStore } from '../dlq/store.js';
import { createNormaliseStage } from './stages/normalise.js';
import { createPriorityFloorStage } from './stages/priority-floor.js';
import { createRouteStage } from './stages/route.js';

/**
 * The router: one ingest batch through explicit stages, in this order:
 * normalise → enrich → priority floor → dedup → route → fan out.
 * Each stage is its own module; this file only wires them and counts what each one drops.
 */
export function createRouterPipeline(
  config: FalconetConfig,
  deps: { redis: Redis; queueFor: (output: string) => Queue<DeliveryJobData>; metrics: Metrics },
) {
  // Per-alert isolation: a poison alert goes to the dead letters, the rest of the job goes on.
  const normalise = createNormaliseStage(new DeadLetterStore(deps.redis, { prefix: config.redis.prefix, ...config.dlq }), deps.metrics);
  const enrich = createEnrichStage(config);
  const priorityFloor = createPriorityFloorStage(config.minimumPriority);
  const dedup = createDedupStage(deps.redis, { prefix: config.redis.prefix, ...config.dedup });
  const route = createRouteStage(config.compiledRoutes, config.outputs);
  const fanout = new Fanout(config.outputs, deps.queueFor, Math.max(1, config.router.concurrency - 1));
  const { routed } = deps.metrics;

  return {
    async run(raw: ReadonlyArray<readonly [string, string]>): Promise<void> {
      const alerts = enrich(await normalise(raw));
      const severe = priorityFloor(alerts);
      routed.inc({ outcome: 'dropped_priority' }, alerts.length - severe.length);
      const unique = await dedup(severe);
      routed.inc({ outcome: 'deduplicated' }, severe.length - unique.length);
      const { byOutput, unrouted } = route(unique);
      routed.inc({ outcome: 'unrouted' }, unrouted);
      routed.inc({ outcome: 'routed' }, unique.length - unrouted);
      await fanout.dispatch(byOutput);
    },
    flush: () => fanout.flushAll(),
  };
}
