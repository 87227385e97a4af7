import axios from 'axios';

/**
 * `falconet send-test`: asks a running collector to inject a test alert (POST /test), to check an
 * installation end to end. axios serves here: one request, readable errors, speed irrelevant.
 */
export async function sendTestAlert(url: string, priority: string): Promise<number> {
  const target = new URL('/test', url);
  target.searchParams.set('priority', priority);
  try {
    const res = await axios.post(target.toString(), null, { timeout: 5000, validateStatus: () => true });
    if (res.status === 200) {
      console.log(`test alert (${priority}) accepted by ${url}; it should reach every output routed for it`);
      return 0;
    }
    console.error(`collector answered ${res.status}: ${JSON.stringify(res.data)}`);
    return 1;
  } catch (err) {
    console.error(`cannot reach the collector at ${url}: ${(err as Error).message}`);
    return 1;
  }
}
