import { Redis } from 'ioredis';
import { connect } from 'node:net';
import http from 'node:http';
import { Agent } from 'undici';
const [redisMode, httpMode, portS, stream, sinkPortS, totalS] = process.argv.slice(2);
const port = Number(portS), sinkPort = Number(sinkPortS), total = Number(totalS), WARM = 1000;
const group = 'g';
// ---- raw redis
function rawConn() {
  const socket = connect(port, '127.0.0.1'); socket.setNoDelay(true);
  const pending = []; let buf = Buffer.alloc(0);
  const parse = (b, pos) => { const eol = b.indexOf('\r\n', pos, 'latin1'); if (eol < 0) return; const line = b.toString('latin1', pos + 1, eol);
    switch (b[pos]) { case 0x2b: return [line, eol + 2]; case 0x2d: return [new Error(line), eol + 2]; case 0x3a: return [Number(line), eol + 2];
      case 0x24: { const n = Number(line); if (n < 0) return [null, eol + 2]; const end = eol + 2 + n; return b.length < end + 2 ? undefined : [b.toString('utf8', eol + 2, end), end + 2]; }
      case 0x2a: { const n = Number(line); if (n < 0) return [null, eol + 2]; const items = []; let at = eol + 2; for (let i = 0; i < n; i++) { const r = parse(b, at); if (!r) return; items.push(r[0]); at = r[1]; } return [items, at]; } } };
  socket.on('data', (c) => { buf = buf.length ? Buffer.concat([buf, c]) : c; let pos = 0; for (let r; (r = parse(buf, pos)); pos = r[1]) pending.shift()(r[0]); buf = pos === buf.length ? Buffer.alloc(0) : buf.subarray(pos); });
  return (args) => new Promise((res) => { let cmd = `*${args.length}\r\n`; for (const a of args) cmd += `$${Buffer.byteLength(a)}\r\n${a}\r\n`; socket.write(cmd); pending.push(res); });
}
let read, ackSend;
if (redisMode === 'ioredis') {
  const blocking = new Redis({ port, maxRetriesPerRequest: null });
  const commands = new Redis({ port, enableAutoPipelining: true, maxRetriesPerRequest: null });
  await commands.xgroup('CREATE', stream, group, '0', 'MKSTREAM').catch(() => {});
  read = () => blocking.xreadgroup('GROUP', group, 'c', 'COUNT', 256, 'BLOCK', 1000, 'STREAMS', stream, '>');
  ackSend = (ids) => void commands.xack(stream, group, ...ids);
} else {
  const blocking = rawConn(), commands = rawConn();
  await commands(['XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM']);
  read = () => blocking(['XREADGROUP', 'GROUP', group, 'c', 'COUNT', '256', 'BLOCK', '1000', 'STREAMS', stream, '>']);
  ackSend = (ids) => void commands(['XACK', stream, group, ...ids]);
}
let acks = [];
const ack = (id) => { acks.push(id); if (acks.length === 1) setImmediate(() => { const ids = acks; acks = []; ackSend(ids); }); };
// ---- http
let post;
if (httpMode === 'none') post = async () => {};
else if (httpMode === 'undici') { const agent = new Agent({ connections: 8 }); const origin = `http://127.0.0.1:${sinkPort}`;
  post = async (body) => { const res = await agent.request({ origin, path: '/', method: 'POST', body, headers: { 'content-type': 'application/json' } }); await res.body.text(); }; }
else if (httpMode === 'nodehttp') { const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  post = (body) => new Promise((resolve, reject) => { const req = http.request({ host: '127.0.0.1', port: sinkPort, method: 'POST', path: '/', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => { res.resume(); res.on('end', resolve); }); req.on('error', reject); req.end(body); }); }
else { // raw
  const idle = [], queue = []; const head = `POST / HTTP/1.1\r\nHost: 127.0.0.1:${sinkPort}\r\nContent-Type: application/json\r\nContent-Length: `;
  for (let i = 0; i < 8; i++) { const s = connect(sinkPort, '127.0.0.1'); s.setNoDelay(true); let cur; let buf = '';
    const send = (body, done) => { cur = done; s.write(`${head}${Buffer.byteLength(body)}\r\n\r\n${body}`); };
    s.on('data', (c) => { buf += c.toString('latin1'); let i2; while ((i2 = buf.indexOf('\r\n\r\n')) >= 0) { buf = buf.slice(i2 + 4); const d = cur; cur = undefined; const nx = queue.shift(); if (nx) send(nx[0], nx[1]); else idle.push(send); d(); } });
    idle.push(send); }
  post = (body) => new Promise((resolve) => { const s = idle.pop(); if (s) s(body, resolve); else queue.push([body, resolve]); });
}
let done = 0, cpu0, t0;
const deliver = async (id, text) => {
  const body = JSON.stringify({ id, ...JSON.parse(text) });
  await post(body); ack(id); done++;
  if (done === WARM) { cpu0 = process.cpuUsage(); t0 = performance.now(); }
  if (done === total) { const c = process.cpuUsage(cpu0); const n = total - WARM; console.log(JSON.stringify({ redisMode, httpMode, user: +(c.user / 1000 / n).toFixed(3), sys: +(c.system / 1000 / n).toFixed(3), ms_per_alert: +((c.user + c.system) / 1000 / n).toFixed(3), secs: +((performance.now() - t0) / 1000).toFixed(1) })); setTimeout(() => process.exit(0), 100); }
};
console.log('ready');
for (;;) { const reply = await read(); for (const [id, fields] of reply?.[0]?.[1] ?? []) void deliver(id, fields[3]); }
