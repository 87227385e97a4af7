// Spool write latency: append + fdatasync of one-alert records, as the collector does for each
// group commit while Redis is unreachable.  node --import tsx bench/spool-append.ts [dir] [n]
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool } from '../src/collector/spool.js';
import { falcoAlert } from '../test/chaos/receiver.js';

const dir = process.argv[2] ?? join(tmpdir(), 'falconet-spool-bench');
const n = Number(process.argv[3] ?? 2000);
rmSync(dir, { recursive: true, force: true });
const spool = await Spool.open(dir, { maxBytes: 1 << 30 });
const times: number[] = [];
for (let i = 0; i < n; i++) {
  const start = process.hrtime.bigint();
  await spool.append({ receivedAt: Date.now(), alerts: [[`id${i}`, falcoAlert(i)]] });
  times.push(Number(process.hrtime.bigint() - start) / 1e6);
}
times.sort((a, b) => a - b);
const q = (p: number) => times[Math.floor(p * (times.length - 1))]!.toFixed(3);
console.log(`spool append + fdatasync, one alert per record, ${dir}: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${q(1)} ms (n=${n})`);
rmSync(dir, { recursive: true, force: true });
