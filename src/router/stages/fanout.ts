import { createHash } from 'node:crypto';
import type { JobsOptions, Queue } from 'bullmq';
import type { RedisClient as Redis } from '../../queue/connection.js';
import type { Alert } from '../../alert/alert.js';
import { alertJson } from '../../alert/json.js';
import type { OutputInstance } from '../../config/load.js';
import { BacklogGauge } from '../../noise/backlog.js';
import { noisePolicy, type NoisePolicy } from '../../noise/policy.js';
import { StormControl, type FoldInput } from '../../noise/storm.js';
import { deliveryJobOptions } from '../../queue/job-options.js';
import type { DeliveryJobData } from '../../queue/names.js';
import type { DirectItem, DirectSender } from '../../delivery/direct.js';
import { FanoutLedger } from './fanout-ledger.js';

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
  /** The parsed alerts of `jsons`, for a first attempt from here (no parse again). */
  alerts: Alert[];
  ids: string[];
  /** Ledger key → fields to record once this batch is queued. */
  ledger: Map<string, string[]>;
  bytes: number;
  /** Holds alerts of a replayed ingest entry: its job may exist from the earlier run (queued, not yet in the ledger). */
  replay: boolean;
  done: Deferred;
  timer?: NodeJS.Timeout;
}

/** The ingest job being dispatched. */
export interface DispatchContext {
  /** The ingest job id: the same on every retry of that job. */
  jobId: string;
  /** A retried or stalled job's later run: skip what an earlier run already queued or folded. */
  replay: boolean;
  /** A name of each alert unique inside the ingest job (its id and occurrence). */
  refOf(alert: Alert): string;
}

/** How many outputs of one dispatch have not finished queueing or sending. */
interface Unsettled {
  outputs: number;
}

export type SuppressionReason = 'storm' | 'overflow' | 'replay';

export interface FanoutDeps {
  redis: Redis;
  prefix: string;
  /** Alerts not queued, by output and reason (storm control, overflow, already queued by an earlier run). */
  onSuppressed?(output: string, reason: SuppressionReason, count: number): void;
  /** The alerts storm control or overflow folded into a digest (or an earlier run handled), per output: the UI's status. */
  onFolded?(output: string, alerts: Alert[]): void;
  /** The output's first-attempt sender (src/delivery/direct.ts), for outputs that may skip the queue. */
  direct?(output: string): DirectSender | undefined;
}

/**
 * Stage 6: puts each output's alerts on its own delivery queue, after that output's storm control
 * and overflow (src/noise). Single-alert outputs get one job per alert, id `<ingest job>-<alert
 * ref>`; batching outputs collect alerts across ingest jobs until `batch.size`, `batch.maxBytes`
 * or `batch.interval`, then are sent from here (first attempt, src/delivery/direct.ts) or queued as
 * one job. The ingest jobs stay unacknowledged until their alerts are settled or in a delivery
 * job, so a crash loses nothing; a retried job queues nothing twice (single-alert job ids name the
 * ingest job; batched outputs and digests use the fan-out ledger). When every router slot waits on a partial batch, batches are flushed early rather than
 * stalling ingestion.
 */
export class Fanout {
  private readonly pending = new Map<string, PendingBatch>();
  private readonly jobOptions = new Map<string, JobsOptions>();
  private readonly policies = new Map<string, NoisePolicy>();
  private readonly backlogs = new Map<string, BacklogGauge>();
  private readonly storm: StormControl;
  private readonly ledger: FanoutLedger;
  private waiting = 0;
  /** Ingest entries (router slots) waiting on batches being sent from here. */
  private sendingEntries = 0;
  /** Ingest jobs this process wrote a ledger for (batched outputs, folds): deleted on completion. */
  private readonly ledgers = new Set<string>();
  private readonly forgetting = new Set<string>();
  private forgetTimer?: NodeJS.Timeout;

  constructor(
    private readonly outputs: Readonly<Record<string, OutputInstance>>,
    private readonly queueFor: (output: string) => Queue<DeliveryJobData>,
    /** When this many dispatches wait on partial batches (every router slot), flush them. */
    private readonly pressureLimit: number,
    private readonly deps: FanoutDeps,
  ) {
    this.storm = new StormControl(deps.redis, deps.prefix);
    this.ledger = new FanoutLedger(deps.redis, deps.prefix);
    for (const [name, inst] of Object.entries(outputs)) {
      this.jobOptions.set(name, deliveryJobOptions(inst));
      const policy = noisePolicy(inst);
      if (!policy) continue;
      this.policies.set(name, policy);
      if (policy.overflow) {
        const { rate, afterMs } = policy.overflow;
        const queue = () => this.queueFor(name);
        this.backlogs.set(name, new BacklogGauge(() => queue().getJobCountByTypes('waiting', 'prioritized', 'delayed'), rate.per / rate.max, afterMs));
      }
    }
  }

  async dispatch(byOutput: Map<string, Alert[]>, ctx: DispatchContext): Promise<void> {
    const waits: Array<Promise<unknown>> = [];
    const perOutput = new Map<string, FoldInput[]>();
    for (const [name, alerts] of byOutput) {
      perOutput.set(name, alerts.map((alert) => ({ alert, json: '', ledgerField: `${name}|${ctx.refOf(alert)}` })));
    }
    if (ctx.replay) await this.skipQueued(perOutput, ctx);
    this.waiting++;
    // Outputs of this dispatch still at work: the last one to finish needs no ledger record.
    const unsettled: Unsettled = { outputs: 0 };
    try {
      for (const [name, items] of perOutput) {
        // An alert routed to several outputs (and stored for the UI) is serialised once.
        for (const item of items) item.json = alertJson(item.alert);
        const policy = this.policies.get(name);
        const outputWaits: Array<Promise<unknown>> = [];
        if (policy) outputWaits.push(this.folded(name, policy, items, ctx, unsettled));
        else this.enqueue(name, items, ctx, outputWaits, unsettled);
        if (outputWaits.length === 0) continue;
        unsettled.outputs++;
        // Only a success counts an output as settled: when another output fails, the entry runs
        // again, and what a direct output sent must then be in the ledger.
        waits.push(Promise.all(outputWaits).then(() => unsettled.outputs--));
      }
      if (this.waiting >= this.pressureLimit) void this.flushAll();
      await Promise.all(waits);
    } finally {
      this.waiting--;
    }
  }

  /** Sends every partial batch now (shutdown, back-pressure). */
  flushAll(): Promise<void> {
    return Promise.all([...this.pending.keys()].map((name) => this.flush(name))).then(() => undefined);
  }

  /** The ingest job completed: its ledger, if it has one, is deleted (grouped, one call per 100 ms). */
  completed(jobId: string): void {
    if (!this.ledgers.delete(jobId)) return;
    this.forgetting.add(jobId);
    this.forgetTimer ??= setTimeout(() => {
      this.forgetTimer = undefined;
      const ids = [...this.forgetting];
      this.forgetting.clear();
      // A missed delete only leaves the ledger to its TTL.
      void this.ledger.forget(ids).catch(() => undefined);
    }, 100).unref();
  }

  /** Notes a ledger to delete on completion. Jobs that fail instead (retried, maybe elsewhere) are
   * never completed here: past a bound the notes are dropped and those ledgers left to their TTL. */
  private remember(jobId: string): void {
    if (this.ledgers.size >= 100_000) this.ledgers.clear();
    this.ledgers.add(jobId);
  }

  private singleJobId(ctx: DispatchContext, alert: Alert): string {
    return `${ctx.jobId}-${ctx.refOf(alert)}`;
  }

  /**
   * A replayed ingest job: leaves out what an earlier run already queued (single-alert jobs that
   * exist, ledger entries of batches and folds), counted, before storm control sees anything twice.
   */
  private async skipQueued(perOutput: Map<string, FoldInput[]>, ctx: DispatchContext): Promise<void> {
    const recorded = await this.ledger.recorded(ctx.jobId, [...perOutput.values()].flat().map((i) => i.ledgerField));
    const check = this.deps.redis.pipeline();
    const singles: Array<[string, FoldInput]> = [];
    for (const [name, items] of perOutput) {
      if (this.outputs[name]!.batchSize !== 1) continue;
      const queue = this.queueFor(name);
      for (const item of items) {
        check.exists(queue.toKey(this.singleJobId(ctx, item.alert)));
        singles.push([name, item]);
      }
    }
    const found = singles.length > 0 ? ((await check.exec()) ?? []) : [];
    const queued = new Set(singles.filter((_, i) => found[i]?.[1] === 1).map(([, item]) => item));
    for (const [name, items] of perOutput) {
      const rest = items.filter((i) => !recorded.has(i.ledgerField) && !queued.has(i));
      if (rest.length < items.length) this.deps.onSuppressed?.(name, 'replay', items.length - rest.length);
      perOutput.set(name, rest);
    }
  }

  private async folded(name: string, policy: NoisePolicy, items: FoldInput[], ctx: DispatchContext, unsettled: Unsettled): Promise<void> {
    const backlog = this.backlogs.get(name);
    const perJob = this.outputs[name]!.batchSize;
    const overflowing = (await backlog?.admit(items.length / perJob)) ?? false;
    const result = await this.storm.fold(policy, items, { overflowing, ledgerKey: this.ledger.key(ctx.jobId) });
    if (!overflowing) backlog?.added(-(items.length - result.passed.length) / perJob);
    if (result.storm + result.overflow > 0) this.remember(ctx.jobId);
    if (this.deps.onFolded && result.storm + result.overflow > 0) {
      const passed = new Set(result.passed);
      this.deps.onFolded(name, items.filter((i) => !passed.has(i)).map((i) => i.alert));
    }
    const count = this.deps.onSuppressed;
    if (count) {
      if (result.storm > 0) count(name, 'storm', result.storm);
      if (result.overflow > 0) count(name, 'overflow', result.overflow);
      if (result.replayed > 0) count(name, 'replay', result.replayed);
    }
    const waits: Array<Promise<unknown>> = [];
    this.enqueue(name, result.passed, ctx, waits, unsettled);
    if (this.waiting >= this.pressureLimit) void this.flush(name);
    await Promise.all(waits);
  }

  private enqueue(name: string, items: FoldInput[], ctx: DispatchContext, waits: Array<Promise<unknown>>, unsettled: Unsettled): void {
    if (items.length === 0) return;
    const output = this.outputs[name]!;
    const direct = output.batchSize === 1 ? this.deps.direct?.(name) : undefined;
    if (direct) waits.push(this.sendDirect(direct, items, ctx, unsettled));
    else if (output.batchSize === 1) waits.push(this.addSingles(name, items, ctx));
    else this.buffer(output, items, ctx, waits);
  }

  private async addSingles(name: string, items: FoldInput[], ctx: DispatchContext): Promise<void> {
    const opts = this.jobOptions.get(name)!;
    // The id repeats only for a replay of the same ingest job, so it is what makes single-alert
    // outputs idempotent (no ledger write on the hot path); skipQueued counted those first.
    const jobs = items.map((item) => ({ name, data: { alerts: [item.json] }, opts: { ...opts, jobId: this.singleJobId(ctx, item.alert) } }));
    // addBulk is one MULTI; Redis runs nothing else meanwhile, so keep each one short.
    const adds: Array<Promise<unknown>> = [];
    for (let i = 0; i < jobs.length; i += MAX_JOBS_PER_ADD) adds.push(this.queueFor(name).addBulk(jobs.slice(i, i + MAX_JOBS_PER_ADD)));
    await Promise.all(adds);
  }

  /**
   * First attempts straight from the router. What was sent or queued unsent (a job of its own, or
   * one job per group) is recorded in the ledger (one write per ingest job and output), so a
   * replay of the ingest job skips it; a lone queued alert's job is also found by its id.
   *
   * Queued alerts are recorded as soon as their jobs exist (the sends may take up to the output's
   * timeout, and a replay meanwhile must not send them too). Sends alone are not recorded when
   * this output is the entry's last at work and every other succeeded: the entry is acknowledged
   * next, and a crash before that repeats the sends either way (a record written now would land
   * no sooner than the acknowledgement). That saves a script call per alert at low rates (issue #10).
   */
  private async sendDirect(direct: DirectSender, items: FoldInput[], ctx: DispatchContext, unsettled: Unsettled): Promise<void> {
    const byItem = new Map<DirectItem, FoldInput>();
    for (const item of items) byItem.set({ jobId: this.singleJobId(ctx, item.alert), json: item.json, alert: item.alert }, item);
    const key = this.ledger.key(ctx.jobId);
    const record = (done: DirectItem[]) => {
      this.remember(ctx.jobId);
      return this.ledger.record(new Map([[key, done.map((d) => byItem.get(d)!.ledgerField)]]));
    };
    const { attempted, queued } = await direct.deliver([...byItem.keys()], record);
    if (attempted.length === 0 || (queued.length === 0 && unsettled.outputs <= 1)) return;
    await record(attempted);
  }

  private buffer(output: OutputInstance, items: FoldInput[], ctx: DispatchContext, waits: Array<Promise<unknown>>): void {
    const name = output.name;
    const ledgerKey = this.ledger.key(ctx.jobId);
    this.remember(ctx.jobId);
    let registered: PendingBatch | undefined;
    for (const item of items) {
      const json = item.json;
      let batch = this.pendingFor(name);
      if (batch.jsons.length > 0 && batch.bytes + json.length > output.batchMaxBytes) {
        void this.flush(name);
        batch = this.pendingFor(name);
      }
      batch.jsons.push(json);
      batch.alerts.push(item.alert);
      batch.ids.push(this.singleJobId(ctx, item.alert));
      let fields = batch.ledger.get(ledgerKey);
      if (!fields) batch.ledger.set(ledgerKey, (fields = []));
      fields.push(item.ledgerField);
      batch.bytes += json.length + 1;
      if (ctx.replay) batch.replay = true;
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

  /**
   * Sent from here when the output allows (src/delivery/direct.ts), else its delivery job; either
   * way the caller records it in the ledger once this resolves, so a replay sends or queues none
   * of it again.
   */
  private async sendOrQueue(name: string, batch: PendingBatch, jobId: string): Promise<void> {
    const queue = this.queueFor(name);
    const direct = this.deps.direct?.(name);
    // A batch's send holds every entry with an alert in it (a router slot each) for up to the
    // output's timeout: at most half the router's slots wait on such sends, the rest queue.
    const entries = batch.ledger.size;
    if (!direct || this.sendingEntries + entries > Math.floor(this.pressureLimit / 2)) {
      await queue.add(name, { alerts: batch.jsons }, { ...this.jobOptions.get(name)!, jobId });
      return;
    }
    // A replay may rebuild the batch an earlier run queued before its ledger record: the job is
    // the backstop (as for a queued batch, whose add BullMQ ignores), so it is not sent here too.
    if (batch.replay && (await this.deps.redis.exists(queue.toKey(jobId))) === 1) return;
    this.sendingEntries += entries;
    try {
      await direct.deliverBatch(jobId, batch.jsons, batch.alerts);
    } finally {
      this.sendingEntries -= entries;
    }
  }

  private pendingFor(name: string): PendingBatch {
    let batch = this.pending.get(name);
    if (!batch) this.pending.set(name, (batch = { jsons: [], alerts: [], ids: [], ledger: new Map(), bytes: 0, replay: false, done: deferred() }));
    return batch;
  }

  private async flush(name: string): Promise<void> {
    const batch = this.pending.get(name);
    if (!batch) return;
    this.pending.delete(name);
    if (batch.timer) clearTimeout(batch.timer);
    const jobId = `b${createHash('sha1').update(batch.ids.join(',')).digest('hex')}`;
    try {
      await this.sendOrQueue(name, batch, jobId);
      await this.ledger.record(batch.ledger);
      batch.done.resolve();
    } catch (err) {
      batch.done.reject(err);
    }
  }
}
