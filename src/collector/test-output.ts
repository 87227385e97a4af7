import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { RedisClient as Redis } from '../queue/connection.js';
import type { Context } from 'koa';
import { stringifyJson } from '../alert/json.js';
import type { FalconetConfig } from '../config/load.js';
import { deliveryJobOptions } from '../queue/job-options.js';
import { deliveryQueueName, type DeliveryJobData } from '../queue/names.js';
import { normalise } from '../router/stages/normalise.js';
import { testAlert } from './app.js';
import { decodeAlerts } from './decode.js';

/**
 * POST /test?output=NAME[&priority=P]: a test alert queued for that one output, bypassing routes and
 * floors (so a new channel can be checked before any route names it). It is delivered like any
 * alert: retried, dead-lettered, counted. Without `output` the collector's /test goes through the
 * whole pipeline as before.
 */
export function createTestOutputRoute(deps: { config: () => FalconetConfig; redis: Redis; prefix: string }) {
  const queues = new Map<string, Queue<DeliveryJobData>>();
  const handle = async (ctx: Context): Promise<boolean> => {
    const name = ctx.query.output;
    if (ctx.path !== '/test' || ctx.method !== 'POST' || typeof name !== 'string') return false;
    const config = deps.config();
    const instance = config.outputs[name];
    if (!instance) {
      ctx.status = 404;
      ctx.body = { error: 'unknown_output', detail: `no output "${name}"; outputs: ${Object.keys(config.outputs).join(', ')}` };
      return true;
    }
    const [alert] = normalise(decodeAlerts(testAlert(ctx.query.priority), 'application/json', Date.now()));
    let queue = queues.get(name);
    if (!queue) queues.set(name, (queue = new Queue<DeliveryJobData>(deliveryQueueName(name), { connection: deps.redis, prefix: deps.prefix })));
    const jobId = `test.${randomUUID()}`;
    await queue.add(name, { alerts: [stringifyJson(alert!)] }, { ...deliveryJobOptions(instance), jobId });
    ctx.status = 202;
    ctx.body = { status: 'queued', output: name, job: jobId };
    return true;
  };
  return Object.assign(handle, { close: () => Promise.all([...queues.values()].map((q) => q.close())) });
}
