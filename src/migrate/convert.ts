import { outputDefinition } from '../../outputs/index.js';
import { parsePriority } from '../alert/priority.js';
import { buildConfig } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import { convertGlobals } from './globals.js';
import { SIDEKICK_OUTPUTS, type OutputMapContext, type SidekickOutput } from './outputs.js';
import { envName } from './sidekick-keys.js';
import type { Setting, SettingValue, SidekickSource } from './source.js';

/**
 * Falcosidekick settings → a Falconet config document plus a report naming the fate of every
 * setting: carried over (and where), noted (carried with a change of behaviour), dropped (why),
 * or unknown. Nothing read is left unaccounted for: a setting no rule claims is reported as dropped.
 */

export type LineStatus = 'mapped' | 'note' | 'dropped' | 'unknown' | 'ignored';

export interface ReportLine {
  /** Falcosidekick key path (or env var name for env problems). */
  key: string;
  status: LineStatus;
  message: string;
  origin?: 'file' | 'env';
}

export interface SecretRef {
  env: string;
  key: string;
  value: string;
}

export interface ConvertedOutput {
  section: string;
  title: string;
  name?: string;
  kind: 'native' | 'webhook' | 'unsupported' | 'disabled';
  how?: string;
}

export interface Conversion {
  config: Record<string, unknown>;
  lines: ReportLine[];
  secrets: SecretRef[];
  outputs: ConvertedOutput[];
  /** Env var replaced a file value. */
  overrides: Array<{ key: string; env: string }>;
}

const GLOBAL_TLS_KEYS = ['mutualtlsfilespath', 'mutualtlsclient.certfile', 'mutualtlsclient.keyfile', 'mutualtlsclient.cacertfile', 'tlsclient.cacertfile'];

export function convertSidekick(source: SidekickSource, opts: { inlineSecrets?: boolean } = {}): Conversion {
  const { settings } = source;
  const lines: ReportLine[] = [];
  const secrets: SecretRef[] = [];
  const handled = new Set<string>();
  const line = (key: string, status: LineStatus, message: string) => {
    lines.push({ key, status, message, origin: settings.get(key)?.origin });
    handled.add(key);
  };
  for (const p of source.problems) {
    lines.push({ key: p.key, status: /unknown key|no such setting/.test(p.message) ? 'unknown' : 'dropped', message: p.message });
  }
  const secretRef = (key: string, value: string, env: string): string => {
    if (opts.inlineSecrets) return value;
    if (!secrets.some((s) => s.env === env)) secrets.push({ env, key, value });
    return `\${${env}}`;
  };

  const config: Record<string, unknown> = { minimumPriority: 'debug' };
  convertGlobals(settings, config, line, handled);

  const outputs: Record<string, unknown> = {};
  const converted: ConvertedOutput[] = [];
  for (const def of SIDEKICK_OUTPUTS) {
    const prefix = `${def.section}.`;
    const keys = [...settings.keys()].filter((k) => k.startsWith(prefix) && !handled.has(k));
    const enabled = def.enabledBy.length > 0 && def.enabledBy.every((k) => isSet(settings.get(prefix + k)?.value));
    if (!enabled) {
      if (keys.length > 0) {
        converted.push({ section: def.section, title: def.title, kind: 'disabled' });
        for (const k of keys) line(k, 'ignored', `${def.title} is not enabled (Falcosidekick needs ${def.enabledBy.map((e) => prefix + e).join(' and ')}), so Falcosidekick ignores this too`);
      }
      continue;
    }
    if (def.mapping.kind === 'unsupported') {
      converted.push({ section: def.section, title: def.title, kind: 'unsupported', how: def.mapping.how });
      for (const k of keys) line(k, 'dropped', `${def.title} is not converted: ${def.mapping.how}`);
      continue;
    }
    const name = def.section.replace(/\./g, '-');
    const instance = convertOutput(def, settings, { secretRef, line, handled });
    outputs[name] = instance;
    converted.push({ section: def.section, title: def.title, name, kind: def.mapping.kind });
  }

  for (const key of GLOBAL_TLS_KEYS) if (settings.has(key) && !handled.has(key)) line(key, 'dropped', 'client TLS setting used by no converted output with mutualtls/TLS');
  for (const key of settings.keys()) if (!handled.has(key)) line(key, 'dropped', 'no Falconet equivalent; not carried over');

  const names = Object.keys(outputs);
  if (names.length === 0) {
    outputs.stdout = { type: 'stdout' };
    lines.push({ key: '(outputs)', status: 'note', message: 'no Falcosidekick output converts to Falconet: writing a stdout output so the config is valid; add outputs before using it' });
  }
  config.outputs = outputs;
  config.routes = [{ name: 'every alert (as Falcosidekick: all outputs, each with its minimumPriority)', outputs: Object.keys(outputs) }];
  config.metrics = { sidekickCompat: true };

  const overrides = [...settings.values()].filter((s) => s.overridesFile).map((s) => ({ key: s.key, env: s.env! }));
  return { config, lines, secrets, outputs: converted, overrides };
}

type Line = (key: string, status: LineStatus, message: string) => void;

interface OutputDeps {
  secretRef(key: string, value: string, env: string): string;
  line: Line;
  handled: Set<string>;
}

function convertOutput(def: SidekickOutput, settings: Map<string, Setting>, deps: OutputDeps): Record<string, unknown> {
  const prefix = `${def.section}.`;
  const type = def.mapping.kind === 'native' ? def.mapping.type : 'webhook';
  const taken = new Set<string>();
  const targets = new Map<string, string>();
  const dropped = new Map<string, string>();
  const notes: string[] = [];
  const full = (k: string) => prefix + k;
  const ctx: OutputMapContext = {
    take(k, to) {
      const s = settings.get(full(k));
      if (s) taken.add(k);
      if (s && to) targets.set(k, to);
      return s?.value;
    },
    str(k) {
      const v = settings.get(full(k))?.value;
      return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
    },
    secret(k, to) {
      const s = settings.get(full(k));
      if (!s || !isSet(s.value)) return undefined;
      taken.add(k);
      if (to) targets.set(k, to);
      return deps.secretRef(full(k), String(s.value), s.env ?? envName(full(k)));
    },
    secretValue: (value, env, key) => deps.secretRef(key, value, env),
    drop(k, why) {
      if (settings.has(full(k))) dropped.set(k, why);
    },
    note: (m) => notes.push(m),
    enrichmentKeys: [
      ...Object.keys((settings.get('customfields')?.value as Record<string, string> | undefined) ?? {}),
      ...Object.keys((settings.get('templatedfields')?.value as Record<string, string> | undefined) ?? {}),
    ],
  };
  if (def.mapping.kind === 'unsupported') throw new Error(`${def.section} has no mapping`);
  const out: Record<string, unknown> = { type, ...def.mapping.map(ctx) };
  const name = def.section.replace(/\./g, '-');
  const at = `outputs.${name}`;

  // The keys Falcosidekick has on (nearly) every output.
  const minimum = ctx.str('minimumpriority');
  if (minimum !== undefined) {
    ctx.take('minimumpriority', 'minimumPriority');
    const p = parsePriority(minimum);
    if (p) out.minimumPriority = p.toLowerCase();
    else notes.push(`minimumpriority "${minimum}" is no priority; Falcosidekick then sends everything, and so does this output`);
  }
  const max = ctx.take('maxconcurrentrequests', 'concurrency') as number | undefined;
  if (max !== undefined) {
    if (max > 0) out.concurrency = Math.min(max, 1000);
    else notes.push('maxconcurrentrequests 0 (unlimited): Falconet keeps its default concurrency (16 per worker)');
  }
  convertClientTls(def, type, settings, ctx, out, dropped, deps);
  if (outputDefinition(type)?.defaultOverflow === 'digest') {
    notes.push('a backlog longer than 60 s at this output\'s rate limit is folded into digests (overflow); Falcosidekick posted every alert and lost the ones refused with 429; overflow: { mode: queue } sends each one');
  }

  for (const k of taken) if (!dropped.has(k)) deps.line(full(k), 'mapped', targets.has(k) ? `${at}.${targets.get(k)}` : at);
  for (const [k, why] of dropped) deps.line(full(k), 'dropped', why);
  for (const n of notes) deps.line(`${def.section}`, 'note', `${at}: ${n}`);
  for (const k of [...settings.keys()].filter((k) => k.startsWith(prefix))) {
    if (!deps.handled.has(k)) deps.line(k, 'dropped', `no ${type} equivalent in Falconet; not carried over`);
  }
  return out;
}

function convertClientTls(
  def: SidekickOutput,
  type: string,
  settings: Map<string, Setting>,
  ctx: OutputMapContext,
  out: Record<string, unknown>,
  dropped: Map<string, string>,
  deps: OutputDeps,
): void {
  const checkcert = ctx.take('checkcert', 'tls.insecureSkipVerify');
  const mutual = ctx.take('mutualtls', 'tls');
  const globalCa = settings.get('tlsclient.cacertfile')?.value as string | undefined;
  const wantsTls = checkcert === false || mutual === true || (globalCa !== undefined && /^https:/.test(String(out.url ?? '')));
  if (!wantsTls) return;
  if (checkcert === false && mutual !== true && /^(mqtt|amqp|tcp|udp):/.test(String(out.url ?? ''))) {
    // The output refuses tls on a plaintext url, and there is no certificate to check.
    dropped.set('checkcert', `the url (${String(out.url).split(':')[0]}://) is not TLS: there is no certificate to check`);
    return;
  }
  const acceptsTls = outputDefinition(type)?.options.tls !== undefined;
  if (!acceptsTls) {
    if (checkcert === false) dropped.set('checkcert', `Falconet's ${type} output always verifies certificates; add the server's CA to the system trust store`);
    if (mutual === true) dropped.set('mutualtls', `Falconet's ${type} output has no client certificate; use a webhook or a sidecar proxy for mTLS`);
    return;
  }
  const tls: Record<string, unknown> = {};
  if (checkcert === false) tls.insecureSkipVerify = true;
  if (mutual === true) {
    const dir = ((settings.get('mutualtlsfilespath')?.value as string | undefined) ?? '/etc/certs').replace(/\/+$/, '');
    const cert = settings.get('mutualtlsclient.certfile')?.value as string | undefined;
    const key = settings.get('mutualtlsclient.keyfile')?.value as string | undefined;
    const ca = settings.get('mutualtlsclient.cacertfile')?.value as string | undefined;
    tls.cert = cert ?? `${dir}/client.crt`;
    tls.key = key ?? `${dir}/client.key`;
    tls.ca = ca ?? globalCa ?? `${dir}/ca.crt`;
    for (const k of ['mutualtlsfilespath', 'mutualtlsclient.certfile', 'mutualtlsclient.keyfile', 'mutualtlsclient.cacertfile']) {
      if (settings.has(k) && !deps.handled.has(k)) deps.line(k, 'mapped', `outputs.${def.section.replace(/\./g, '-')}.tls`);
    }
    // With mutualtls Falcosidekick ignores checkcert.
    delete tls.insecureSkipVerify;
  } else if (globalCa !== undefined) {
    tls.ca = globalCa;
  }
  if (tls.ca === globalCa && globalCa !== undefined && !deps.handled.has('tlsclient.cacertfile')) {
    deps.line('tlsclient.cacertfile', 'note', `outputs.${def.section.replace(/\./g, '-')}.tls.ca (replaces the system CAs for this output; Falcosidekick adds it to them)`);
  }
  out.tls = tls;
}

function isSet(value: SettingValue | undefined): boolean {
  if (value === undefined || value === '' || value === false) return false;
  if (Array.isArray(value)) return value.length > 0;
  return true;
}

/** Validates the converted document with Falconet's own loader, resolving the secret references. */
export function validateConversion(conversion: Conversion, env: NodeJS.ProcessEnv = process.env): string[] {
  const secretEnv = Object.fromEntries(conversion.secrets.map((s) => [s.env, s.value]));
  // The %VAR custom fields name variables of the running environment.
  try {
    buildConfig(structuredClone(conversion.config), { ...secretEnv, ...env, REDIS_URL: undefined });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw err;
  }
}
