import { Redis } from 'ioredis';
const [port, stream, rate, total] = process.argv.slice(2).map((x, i) => (i === 1 ? x : Number(x)));
const r = new Redis({ port, enableAutoPipelining: true });
const body = JSON.stringify({ output: '12:00:00.000000000: Warning Shell spawned in container (user=root container=abc shell=bash parent=runc cmdline=bash -c ls)'.repeat(3), priority: 'Warning', rule: 'Terminal shell in container', time: new Date().toISOString(), output_fields: { 'container.id': 'abc123', 'proc.cmdline': 'bash -c ls', 'k8s.ns.name': 'team-a', 'k8s.pod.name': 'web-1', 'evt.time': 1 }, source: 'syscall', tags: ['container', 'shell'], hostname: 'node-1' });
let sent = 0; const t0 = performance.now();
const tick = setInterval(() => {
  const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
  while (sent < due) { sent++; r.xadd(stream, '*', 't', String(Date.now()), 'a', body); }
  if (sent >= total) { clearInterval(tick); setTimeout(() => process.exit(0), 500); }
}, 1);
