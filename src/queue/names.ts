/** The queue the collector writes and the router reads: one job per group-committed batch. */
export const INGEST_QUEUE = 'ingest';

/** One delivery queue per output instance. BullMQ forbids ':' in queue names, hence the dot. */
export function deliveryQueueName(output: string): string {
  return `deliver.${output}`;
}

export interface IngestJobData {
  /** [alert id, alert JSON as received]. */
  alerts: Array<[string, string]>;
  /** Epoch ms when the collector accepted the request. */
  receivedAt: number;
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
