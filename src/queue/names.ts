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
  /** Set on the jobs that carry alerts a destination rejected item by item: they fail at once. */
  rejected?: string[];
}
