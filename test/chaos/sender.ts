import { falcoAlert } from './receiver.js';

export interface SendReport {
  /** seq of every alert answered 200. */
  accepted: Set<number>;
  /** Answers other than 200 (Falco drops these for good): seq → status. */
  refused: Map<number, number>;
  /** Requests that got no answer (connection refused/reset while a collector restarted); resent. */
  unanswered: number;
}

/**
 * Falco-like senders: `nodes` serial keep-alive senders sharing a steady schedule of `rate`
 * alerts/s over seqs [from, from + count). A request that gets no answer is sent again, as
 * libcurl does on a timeout; an answer is final, whatever its status.
 */
export async function sendSteady(opts: {
  url: () => string;
  from?: number;
  count: number;
  rate: number;
  nodes?: number;
  onProgress?: (sent: number) => void;
  /** Filled in as answers come (to act on progress while sending). */
  report?: SendReport;
}): Promise<SendReport> {
  const report: SendReport = opts.report ?? { accepted: new Set(), refused: new Map(), unanswered: 0 };
  const from = opts.from ?? 0;
  const start = Date.now();
  let next = 0;
  let done = 0;
  const node = async () => {
    for (;;) {
      const i = next++;
      if (i >= opts.count) return;
      const due = start + (i * 1000) / opts.rate;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      const seq = from + i;
      const body = falcoAlert(seq);
      for (let attempt = 0; ; attempt++) {
        try {
          const res = await fetch(opts.url(), {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'user-agent': 'falcosecurity/falco', accept: '*/*' },
            body,
            signal: AbortSignal.timeout(10_000),
          });
          await res.arrayBuffer();
          if (res.status === 200) report.accepted.add(seq);
          else report.refused.set(seq, res.status);
          break;
        } catch {
          report.unanswered++;
          if (attempt > 400) throw new Error(`alert ${seq}: no answer after ${attempt} attempts`);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      opts.onProgress?.(++done);
    }
  };
  await Promise.all(Array.from({ length: opts.nodes ?? 4 }, node));
  return report;
}
