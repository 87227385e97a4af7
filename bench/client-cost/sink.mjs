import { createServer } from 'node:http';
let n = 0;
const s = createServer((req, res) => { req.resume(); req.on('end', () => { n++; res.writeHead(200, { 'content-length': '0' }).end(); }); });
s.keepAliveTimeout = 65000;
s.listen(Number(process.argv[2]), '127.0.0.1');
process.on('SIGTERM', () => { console.log('sink got', n); process.exit(0); });
