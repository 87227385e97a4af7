import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Alert } from '../../src/alert/alert.js';
import type { CommonOutputConfig } from './common.js';

/**
 * The output contract. An output is one folder under outputs/ exporting one `defineOutput({…})`;
 * the registry (outputs/index.ts) lists them. The core never names a specific output, and an
 * output imports only outputs/kit and the alert model (src/alert): test/unit/output-deps.test.ts.
 */
export interface OutputDefinition<Options extends z.ZodRawShape = z.ZodRawShape> {
  /** The `type:` value in config. */
  type: string;
  /** One line for `falconet check` and the docs. */
  summary: string;
  /**
   * How it reaches its destination, for the conformance suite: `http` (status classification,
   * Retry-After, timeouts), `socket` (a broker or daemon: refused and silent peers), `local`.
   */
  transport: 'http' | 'socket' | 'local';
  /**
   * The API path an `http` output appends to its configured URL (`/_bulk`), by the one rule of
   * `apiUrl` (outputs/kit/url.ts); unset when the URL is used as given (webhooks).
   */
  apiPath?: string;
  /** Other paths the destination documents for the same API, kept when the URL ends with one. */
  apiPathAliases?: string[];
  /** The output's own config keys; the common keys (retry, timeout, …) are added by the registry. */
  options: Options;
  /**
   * How many alerts one send may carry. `single`: always one. `optional`: one, or `batch.size` when
   * the instance sets `batch`. `always`: batched, with `defaultBatch` unless the instance sets `batch`.
   */
  batching: 'single' | 'optional' | 'always';
  /** Batch used by `always` outputs whose instance sets no `batch` (interval in ms). */
  defaultBatch?: { size: number; interval: number };
  /**
   * Applied as `rateLimit` when the instance sets none: the destination's documented rate (Slack
   * 1 message/s per webhook). `per` in ms.
   */
  defaultRateLimit?: { max: number; per: number };
  /**
   * `overflow.mode` when the instance sets none: `digest` for chat and paging destinations, where
   * a message hours late is worthless and a summary is what people read; `queue` (the default)
   * for stores and SIEMs that must get every event.
   */
  defaultOverflow?: 'digest' | 'queue';
  /**
   * Statuses the destination documents as success although the shared classifier would not
   * (e.g. Alertmanager's 400 for a partially valid batch); the conformance suite expects them to resolve.
   */
  conformance?: { okStatuses?: number[] };
  /** Keys (dot paths inside the instance config) holding secrets: redacted by `falconet check`. */
  secretKeys?: string[];
  /**
   * An instance config sending to `target` (a loopback receiver in tests), with a secret in every
   * secret key. Shown in the docs; the conformance suite (test/conformance) runs every output
   * with its `transport`. Only `local` outputs may leave it out.
   */
  example?(target: ExampleTarget): Record<string, unknown>;
  /**
   * Checks across keys that the option schema cannot express (`index` or `dataStream`, not both).
   * Each problem names its key; the config then refuses to load, like any schema error.
   */
  check?(config: OutputInstanceConfig<Options>): Array<{ key: string; message: string }>;
  create(config: OutputInstanceConfig<Options>, deps: OutputDeps): Output;
}

export type OutputInstanceConfig<Options extends z.ZodRawShape = z.ZodRawShape> = CommonOutputConfig &
  z.infer<z.ZodObject<Options>>;

export interface ExampleTarget {
  host: string;
  port: number;
  /** `http://host:port` */
  url: string;
}

export interface OutputDeps {
  /** The instance name (`slack-team1`), for logs and error messages. */
  name: string;
  logger: Logger;
}

export interface SendContext {
  /** Aborted on timeout or shutdown; every request must honour it. */
  signal: AbortSignal;
}

/**
 * Result of one send. Returning nothing means every alert was delivered. Outputs that learn
 * per-alert outcomes (Elasticsearch bulk items, Splunk's invalid-event-number) return them so the
 * delivery worker retries only the alerts that can succeed and dead-letters the rest.
 */
export interface SendResult {
  /** Alerts to send again later (e.g. per-item 429). */
  retry?: Alert[];
  /** Alerts that can never be delivered, with the destination's reason. */
  rejected?: Array<{ alert: Alert; reason: string }>;
}

export interface Output {
  /**
   * Delivers alerts. Throws a DeliveryError (outputs/kit/errors.ts) for a failure of the whole
   * request: `classifyHttpStatus` decides between retryable and permanent.
   */
  send(alerts: Alert[], ctx: SendContext): Promise<SendResult | void>;
  close?(): Promise<void>;
}
