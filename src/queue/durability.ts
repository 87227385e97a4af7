import { Cluster } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisClient } from './connection.js';

/** What one Redis node says about keeping what it was given. */
export interface DurabilityReport {
  node: string;
  /** undefined: the server would not say (managed Redis forbidding CONFIG and INFO). */
  maxmemoryPolicy?: string;
  appendonly?: boolean;
  /** CONFIG GET save: '' means no RDB snapshots. undefined when only INFO answered. */
  save?: string;
}

export class NotDurableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotDurableError';
  }
}

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/** CONFIG GET first; managed Redis often forbids it (NOPERM, unknown command) but answers INFO. */
async function inspect(node: RedisClient & { options?: { host?: string; port?: number } }, name: string): Promise<DurabilityReport> {
  try {
    const [policy, aof, save] = await Promise.all([
      node.config('GET', 'maxmemory-policy') as Promise<string[]>,
      node.config('GET', 'appendonly') as Promise<string[]>,
      node.config('GET', 'save') as Promise<string[]>,
    ]);
    return { node: name, maxmemoryPolicy: policy[1], appendonly: aof[1] === 'yes', save: save[1] ?? '' };
  } catch {
    try {
      const info = `${await node.info('memory')}\n${await node.info('persistence')}`;
      const aof = infoField(info, 'aof_enabled');
      return { node: name, maxmemoryPolicy: infoField(info, 'maxmemory_policy'), appendonly: aof === undefined ? undefined : aof === '1' };
    } catch {
      return { node: name };
    }
  }
}

/** Problems in one report, each saying what to set. Empty: keys stay and writes persist. */
export function durabilityProblems(r: DurabilityReport): string[] {
  const problems: string[] = [];
  if (r.maxmemoryPolicy !== undefined && r.maxmemoryPolicy !== 'noeviction') {
    problems.push(`maxmemory-policy is ${r.maxmemoryPolicy}: Redis may evict queued alerts and locks when full; set maxmemory-policy noeviction`);
  }
  if (r.appendonly === false) {
    problems.push(
      r.save === ''
        ? 'nothing persists (appendonly no, save ""): a Redis restart loses every queued alert; set appendonly yes (appendfsync everysec)'
        : `only RDB snapshots persist (appendonly no${r.save ? `, save "${r.save}"` : ''}): a crash loses what came since the last one; set appendonly yes (appendfsync everysec)`,
    );
  }
  return problems;
}

/**
 * The start-up check (issue 16): Falconet's 200 is only as durable as the Redis behind it. Reads
 * each master's eviction policy and persistence; logs every problem with what to set, or throws
 * NotDurableError when `requireDurable`. A server that answers neither CONFIG GET nor INFO is
 * warned about once, and Falconet carries on.
 */
export async function checkDurability(
  redis: RedisClient,
  opts: { requireDurable: boolean; logger: Logger; role: string; where: string },
): Promise<DurabilityReport[]> {
  const nodes: Array<[RedisClient, string]> =
    redis instanceof Cluster ? redis.nodes('master').map((n) => [n, `${n.options.host}:${n.options.port}`]) : [[redis, opts.where]];
  const reports = await Promise.all(nodes.map(([n, name]) => inspect(n, name)));
  const problems = reports.flatMap((r) => durabilityProblems(r).map((p) => `${r.node}: ${p}`));
  const unknown = reports.filter((r) => r.maxmemoryPolicy === undefined && r.appendonly === undefined);
  if (unknown.length > 0) {
    opts.logger.warn(
      { role: opts.role, redis: opts.where },
      `cannot read the eviction policy or persistence of Redis at ${unknown.map((r) => r.node).join(', ')} (CONFIG GET and INFO refused: managed Redis?); ` +
        'make sure it runs with maxmemory-policy noeviction and appendonly yes — carrying on',
    );
  }
  if (problems.length === 0) return reports;
  const message = `Redis at ${opts.where} may lose accepted alerts:\n  - ${problems.join('\n  - ')}`;
  if (opts.requireDurable) throw new NotDurableError(`${message}\nrefusing to start (redis.requireDurable: true)`);
  opts.logger.warn({ role: opts.role, redis: opts.where, problems }, `${message}\n(set redis.requireDurable: true to refuse to start instead)`);
  return reports;
}
