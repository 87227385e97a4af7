import { createServer } from 'node:http';

/** A webhook receiver that only counts requests (the bench's cheapest destination). */
export async function startCountingSink(): Promise<{ url: string; received(): number; close(): void }> {
  let received = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.end();
    });
  });
  server.keepAliveTimeout = 65_000; // as webhook receivers do: idle keep-alive sockets stay open between bursts
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    received: () => received,
    close: () => server.close(),
  };
}
