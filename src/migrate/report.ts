import type { Conversion, ReportLine } from './convert.js';

const HEADINGS: Record<ReportLine['status'], string> = {
  mapped: 'carried over',
  note: 'carried over, behaviour differs',
  dropped: 'NOT carried over (no equivalent)',
  unknown: 'UNKNOWN keys (not Falcosidekick settings)',
  ignored: 'ignored by Falcosidekick too (output not enabled)',
};

/** The human report of `falconet import-sidekick`: every setting read, with what became of it. */
export function formatReport(conversion: Conversion, validation: string[]): string {
  const out: string[] = [];
  const counts = { native: 0, webhook: 0, unsupported: 0 };
  for (const o of conversion.outputs) if (o.kind in counts) counts[o.kind as keyof typeof counts]++;
  out.push(`Falcosidekick -> Falconet: ${counts.native} native output(s), ${counts.webhook} via webhook, ${counts.unsupported} not converted`);
  out.push('', 'outputs:');
  for (const o of conversion.outputs) {
    if (o.kind === 'native' || o.kind === 'webhook') out.push(`  ${o.title} (${o.section}) -> outputs.${o.name}${o.kind === 'webhook' ? ' (webhook with a body template)' : ''}`);
    else if (o.kind === 'unsupported') out.push(`  ${o.title} (${o.section}) -> not converted: ${o.how}`);
    else out.push(`  ${o.title} (${o.section}) -> not enabled in Falcosidekick`);
  }
  for (const status of ['mapped', 'note', 'dropped', 'unknown', 'ignored'] as const) {
    const lines = conversion.lines.filter((l) => l.status === status);
    if (lines.length === 0) continue;
    out.push('', `${HEADINGS[status]}:`);
    for (const l of lines) out.push(`  ${l.key}${l.origin === 'env' ? ' (env)' : ''}: ${l.message}`);
  }
  if (conversion.overrides.length > 0) {
    out.push('', 'env overrides file (as in Falcosidekick):');
    for (const o of conversion.overrides) out.push(`  ${o.env} over ${o.key}`);
  }
  if (conversion.secrets.length > 0) {
    out.push('', 'secrets are written as ${ENV} references; set these environment variables for Falconet:');
    for (const s of conversion.secrets) out.push(`  ${s.env}  (${s.key})`);
  }
  out.push('', validation.length === 0 ? 'the converted config is valid (falconet check)' : `the converted config does NOT validate:\n${validation.map((v) => `  ${v}`).join('\n')}`);
  return out.join('\n');
}
