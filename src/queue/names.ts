// The collector writes and the router reads the ingest log (src/queue/ingest-log.ts), not a queue.

/** One delivery queue per output instance. BullMQ forbids ':' in queue names, hence the dot. */
export function deliveryQueueName(output: string): string {
  return `deliver.${output}`;
}

export interface DeliveryJobData {
  /** Normalised alerts (lossless JSON), one unless the output batches. */
  alerts: string[];
  /** Epoch ms of the job's first send, set when a send failed (retry.maxDuration counts from it). */
  firstAttemptAt?: number;
  /** Sends so far, set when a send failed (the dead letter's attempt count). */
  sends?: number;
  /** Only on jobs written before src/dlq existed (dead letters built to fail); moved to the DLQ. */
  rejected?: string[];
}
