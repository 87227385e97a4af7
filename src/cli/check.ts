import ms from 'ms';
import type { FalconetConfig } from '../config/load.js';
import { redactOutputConfig } from '../config/redact.js';
import { redactUrl } from '../../outputs/kit/redact.js';
import { describeNoise } from '../noise/policy.js';
import { describeRedis } from '../queue/connection.js';

/** `falconet check`: what the config means, with every secret redacted. */
export function printCheck(config: FalconetConfig, path: string): void {
  const lines = [`config ${path} is valid`, '', `redis: ${config.redis.sentinels || config.redis.cluster ? describeRedis(config.redis) : redactUrl(config.redis.url)} (prefix ${config.redis.prefix})`];
  lines.push(`listen: ${config.listen.host}:${config.listen.port}`, `minimumPriority: ${config.minimumPriority}`);
  lines.push(`dedup: ${config.dedup.window > 0 ? `exact duplicates of one Falco event dropped for ${ms(config.dedup.window)}` : 'off'}`, '', 'outputs:');
  for (const inst of Object.values(config.outputs)) {
    const shown = redactOutputConfig(inst.config, inst.definition.secretKeys);
    const batch = inst.batchSize > 1 ? `, batches of ${inst.batchSize}` : '';
    lines.push(`  ${inst.name} (${inst.definition.type}${batch}): ${JSON.stringify(shown)}`);
    lines.push(`    noise: ${describeNoise(inst)}`);
  }
  lines.push('', 'routes (in order; the first match wins unless continue):');
  for (const [i, route] of config.routes.entries()) {
    const cond = [
      route.match && `match ${JSON.stringify(route.match)}`,
      route.match_any && `match_any ${JSON.stringify(route.match_any)}`,
      route.not && `not ${JSON.stringify(route.not)}`,
    ].filter(Boolean);
    lines.push(`  ${i + 1}. ${route.name ?? `routes[${i}]`}: ${cond.length ? cond.join(' and ') : 'every alert'} -> ${route.outputs.join(', ')}${route.continue ? ' (continue)' : ''}`);
  }
  console.log(lines.join('\n'));
}
