// The baseline: the least a Node HTTP endpoint can do per alert — read the body, JSON.parse it,
// answer 200. Falconet's throughput is reported as a ratio to this, measured in the same run.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveRpc } from './common.js';

let parsed = 0;
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    try {
      JSON.parse(Buffer.concat(chunks).toString('utf8'));
      parsed++;
      res.writeHead(200, { 'content-length': '0' });
    } catch {
      res.writeHead(400, { 'content-length': '0' });
    }
    res.end();
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  serveRpc({ stats: () => ({ parsed }) });
  process.send!({ ready: true, port: (server.address() as AddressInfo).port });
});
