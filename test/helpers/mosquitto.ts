import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { connectAsync, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { freePort } from './redis-server.js';
import { TestDaemon } from './daemon.js';
import { waitFor } from './wait.js';

const MOSQUITTO = '/usr/sbin/mosquitto';

/**
 * A mosquitto of a test's own (never the machine's on 1883): a free loopback port, a temp dir with
 * its config, password file and persistence database. Stop and start it again on the same port
 * and database to simulate a broker restart: persistent sessions and their queued QoS 1/2
 * messages survive it (mosquitto writes its database on SIGTERM).
 */
export class TestMosquitto extends TestDaemon {
  port = 0;
  private stderr = '';

  /** `users`: name → password; none means anonymous access. `config`: more mosquitto.conf lines. */
  constructor(private readonly opts: { users?: Record<string, string>; config?: string[] } = {}) {
    super('mosquitto');
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<this> {
    if (this.port === 0) this.port = await freePort();
    const conf = join(this.dir, 'mosquitto.conf');
    const lines = [
      `listener ${this.port} 127.0.0.1`,
      'persistence true',
      `persistence_location ${this.dir}/`,
      'log_dest stderr',
      'log_type error',
      'log_type warning',
    ];
    // Run as root (a CI container), mosquitto drops to user "mosquitto", which cannot read the
    // 0700 temp dir: keep the current user.
    if (process.getuid?.() === 0) lines.push('user root');
    const users = this.opts.users;
    if (users && Object.keys(users).length > 0) {
      const file = join(this.dir, 'passwd');
      writeFileSync(file, '');
      for (const [user, password] of Object.entries(users)) {
        const r = spawnSync('mosquitto_passwd', ['-b', file, user, password], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`mosquitto_passwd failed: ${r.stderr}`);
      }
      lines.push('allow_anonymous false', `password_file ${file}`);
    } else {
      lines.push('allow_anonymous true');
    }
    writeFileSync(conf, [...lines, ...(this.opts.config ?? [])].join('\n') + '\n');
    const child = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    try {
      await waitFor(
        () => {
          if (child.exitCode !== null) throw new Error(`mosquitto exited ${child.exitCode}: ${this.stderr}`);
          return canConnect(this.port);
        },
        { timeoutMs: 10_000, what: `mosquitto on ${this.port}` },
      );
    } catch (err) {
      await this.stop();
      throw err;
    }
    return this;
  }

}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

export interface Received {
  topic: string;
  payload: string;
  packet: IPublishPacket;
}

/**
 * A subscriber at QoS 1 with a persistent session (clean: false, a fixed client id, MQTT 5 session
 * expiry): what it misses while the broker restarts is queued for it and arrives after.
 */
export async function subscriber(broker: TestMosquitto, filter = 'falco/#', opts: IClientOptions = {}): Promise<{ client: MqttClient; messages: Received[]; stop(): Promise<void> }> {
  const messages: Received[] = [];
  const client = await connectAsync(broker.url, {
    clientId: `falconet-test-sub-${broker.port}`,
    clean: false,
    protocolVersion: 5,
    properties: { sessionExpiryInterval: 600 },
    reconnectPeriod: 100,
    ...opts,
  });
  client.on('message', (topic, payload, packet) => messages.push({ topic, payload: payload.toString('utf8'), packet }));
  client.on('error', () => undefined);
  await client.subscribeAsync(filter, { qos: 1 });
  return { client, messages, stop: () => client.endAsync(true) };
}
