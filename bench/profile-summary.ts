// Top self-time functions of V8 .cpuprofile files (node --cpu-prof), one table per file.
// Usage: node --import tsx bench/profile-summary.ts <dir or file>... [--top=N]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function files(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).flatMap((f) => files(join(path, f))).filter((f) => f.endsWith('.cpuprofile'));
}

function shortUrl(url: string): string {
  const file = url.replace(/^file:\/\//, '');
  const nm = file.lastIndexOf('node_modules/');
  if (nm >= 0) return file.slice(nm + 'node_modules/'.length);
  if (file.startsWith('/')) return relative(process.cwd(), file);
  return file;
}

export function summarise(file: string, top = 15): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  let idle = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    total += dt;
    if (functionName === '(idle)') idle += dt;
    const key = `${functionName || '(anonymous)'} ${url ? `${shortUrl(url)}:${lineNumber + 1}` : ''}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  const busy = total - idle;
  const rows = [...self.entries()].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top);
  const out = [`\n${basename(dirname(file))}/${basename(file)}: ${(total / 1e6).toFixed(1)} s sampled, ${((busy / total) * 100).toFixed(0)}% busy`];
  out.push('  self ms  %busy  function');
  for (const [k, v] of rows) out.push(`  ${(v / 1000).toFixed(0).padStart(7)}  ${((v / busy) * 100).toFixed(1).padStart(5)}  ${k}`);
  return out.join('\n') + '\n';
}

export function summariseProfiles(path: string, top = 15): string {
  try {
    return files(path).map((f) => summarise(f, top)).join('');
  } catch (err) {
    return `no profiles read from ${path}: ${(err as Error).message}\n`;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const topArg = process.argv.find((a) => a.startsWith('--top='));
  const top = topArg ? Number(topArg.slice(6)) : 15;
  for (const path of process.argv.slice(2).filter((a) => !a.startsWith('--'))) process.stdout.write(summariseProfiles(path, top));
}
