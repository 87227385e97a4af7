import { createHash } from 'node:crypto';
import type { JobsOptions, Queue } from 'bullmq';
import type { Alert } from '../../alert/alert.js';
import { stringifyJson } from '../../alert/json.js';
import type { OutputInstance } from '../../config/load.js';
import { deliveryJobOptions } from '../../queue/job-options.js';
import type { DeliveryJobData } from '../../queue/names.js';

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  // A batch may fail while nobody awaits it yet; the awaiting dispatch still sees the rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

const MAX_JOBS_PER_ADD = 200;

interface PendingBatch {
  jsons: string[];
  ids: string[];
  bytes: number;
  done: Deferred;
  timer?: NodeJS.Timeout;
}

/**
 * Stage 6: puts each output's alerts on its own delivery queue. Single-alert outputs get one job
 * per alert (job id = alert id, so a replayed ingest cannot deliver twice). Batching outputs
 * collect alerts across ingest jobs until `batch.size`, `batch.maxBytes` or `batch.interval`;
 * the ingest jobs stay unacknowledged until their alerts are in a delivery job, so a crash loses
 * nothing. When every router slot waits on a partial batch, batches are flushed early rather
 * than stalling ingestion.
 */
export class Fanout {
  private readonly pending = new Map<string, PendingBatch>();
  private readonly jobOptions = new Map<string, JobsOptions>();
  private waiting = 0;

  constructor(
    private readonly outputs: Readonly<Record<string, OutputInstance>>,
    private readonly queueFor: (output: string) => Queue<DeliveryJobData>,
    /** When this many dispatches wait on partial batches (every router slot), flush them. */
    private readonly pressureLimit: number,
  ) {
    for (const [name, inst] of Object.entries(outputs)) this.jobOptions.set(name, deliveryJobOptions(inst));
  }

  async dispatch(byOutput: Map<string, Alert[]>): Promise<void> {
    const waits: Array<Promise<unknown>> = [];
    // An alert routed to several outputs is serialised once, not once per output.
    const serialised = new Map<Alert, string>();
    const jsonOf = (alert: Alert): string => {
      let json = serialised.get(alert);
      if (json === undefined) serialised.set(alert, (json = stringifyJson(alert)));
      return json;
    };
    for (const [name, alerts] of byOutput) {
      const output = this.outputs[name]!;
      if (output.batchSize === 1) waits.push(this.addSingles(name, alerts, jsonOf));
      else this.buffer(output, alerts, waits, jsonOf);
    }
    this.waiting++;
    if (this.waiting >= this.pressureLimit) void this.flushAll();
    try {
      await Promise.all(waits);
    } finally {
      this.waiting--;
    }
  }

  /** Sends every partial batch now (shutdown, back-pressure). */
  flushAll(): Promise<void> {
    return Promise.all([...this.pending.keys()].map((name) => this.flush(name))).then(() => undefined);
  }

  private addSingles(name: string, alerts: Alert[], jsonOf: (alert: Alert) => string): Promise<unknown> {
    const opts = this.jobOptions.get(name)!;
    const jobs = alerts.map((alert) => ({ name, data: { alerts: [jsonOf(alert)] }, opts: { ...opts, jobId: alert.id } }));
    // addBulk is one MULTI; Redis runs nothing else meanwhile, so keep each one short.
    const adds: Array<Promise<unknown>> = [];
    for (let i = 0; i < jobs.length; i += MAX_JOBS_PER_ADD) adds.push(this.queueFor(name).addBulk(jobs.slice(i, i + MAX_JOBS_PER_ADD)));
    return Promise.all(adds);
  }

  private buffer(output: OutputInstance, alerts: Alert[], waits: Array<Promise<unknown>>, jsonOf: (alert: Alert) => string): void {
    const name = output.name;
    let registered: PendingBatch | undefined;
    for (const alert of alerts) {
      const json = jsonOf(alert);
      let batch = this.pendingFor(name);
      if (batch.jsons.length > 0 && batch.bytes + json.length > output.batchMaxBytes) {
        void this.flush(name);
        batch = this.pendingFor(name);
      }
      batch.jsons.push(json);
      batch.ids.push(alert.id);
      batch.bytes += json.length + 1;
      if (batch !== registered) {
        waits.push(batch.done.promise);
        registered = batch;
      }
      if (batch.jsons.length >= output.batchSize) void this.flush(name);
    }
    const batch = this.pending.get(name);
    if (!batch) return;
    if (output.batchInterval === 0) void this.flush(name);
    else if (!batch.timer) batch.timer = setTimeout(() => void this.flush(name), output.batchInterval);
  }

  private pendingFor(name: string): PendingBatch {
    let batch = this.pending.get(name);
    if (!batch) this.pending.set(name, (batch = { jsons: [], ids: [], bytes: 0, done: deferred() }));
    return batch;
  }

  private async flush(name: string): Promise<void> {
    const batch = this.pending.get(name);
    if (!batch) return;
    this.pending.delete(name);
    if (batch.timer) clearTimeout(batch.timer);
    const jobId = `b${createHash('sha1').update(batch.ids.join(',')).digest('hex')}`;
    try {
      await this.queueFor(name).add(name, { alerts: batch.jsons }, { ...this.jobOptions.get(name)!, jobId });
      batch.done.resolve();
    } catch (err) {
      batch.done.reject(err);
    }
  }
}
