import { createRequire } from 'node:module';
import type * as Jetstream from '@nats-io/jetstream';
import type * as Transport from '@nats-io/transport-node';

/**
 * The client libraries, loaded when first used (a connection, its options): the collector
 * validates nats configs but never connects, and the NATS client is about 10 MB of a process's
 * memory (as mqtt.js is, outputs/mqtt/connection.ts).
 */
const load = createRequire(import.meta.url);
let transport: typeof Transport | undefined;
let js: typeof Jetstream | undefined;
export const natsTransport = (): typeof Transport => (transport ??= load('@nats-io/transport-node') as typeof Transport);
export const natsJetstream = (): typeof Jetstream => (js ??= load('@nats-io/jetstream') as typeof Jetstream);
