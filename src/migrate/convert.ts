import { z } from 'zod';
import { outputDefinition } from '../../outputs/index.js';
import { parsePriority } from '../alert/priority.js';
import { buildConfig } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import { rootSchema } from '../config/schema.js';
import { goTemplateToMustache } from './go-template.js';
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

function convertGlobals(settings: Map<string, Setting>, config: Record<string, unknown>, line: Line, handled: Set<string>): void {
  const get = (k: string) => settings.get(k)?.value;
  const listen: Record<string, unknown> = {};
  if (isSet(get('listenaddress'))) {
    listen.host = get('listenaddress');
    line('listenaddress', 'mapped', 'listen.host');
  }
  if (get('listenport') !== undefined) {
    listen.port = get('listenport');
    line('listenport', 'mapped', 'listen.port');
  }
  if (get('debug') !== undefined) {
    if (get('debug') === true) config.log = { level: 'debug' };
    line('debug', 'mapped', get('debug') === true ? 'log.level: debug (Falconet never logs secrets or whole payloads at any level)' : 'false: nothing to carry');
  }
  const custom = settings.get('customfields');
  if (custom) {
    const fields = { ...(custom.value as Record<string, string>) };
    // CUSTOMFIELDS=k:%VAR read VAR at start-up; Falconet's ${VAR} does the same when the config loads.
    for (const [k, ref] of Object.entries(custom.envRefs ?? {})) fields[k] = `\${${ref}}`;
    config.customFields = fields;
    line('customfields', 'mapped', `customFields${custom.envRefs ? ` (%VAR values as \${VAR}: ${Object.values(custom.envRefs).join(', ')})` : ''}`);
  }
  if (isSet(get('customtags'))) {
    config.customTags = get('customtags');
    line('customtags', 'mapped', 'customTags');
  }
  const templated = get('templatedfields') as Record<string, string> | undefined;
  if (templated) {
    const out: Record<string, string> = {};
    const failed: string[] = [];
    for (const [k, v] of Object.entries(templated)) {
      const mustache = goTemplateToMustache(v, 'fields');
      if (mustache === undefined) failed.push(`${k}: ${v}`);
      else out[k] = mustache;
    }
    if (Object.keys(out).length > 0) config.templatedFields = out;
    if (failed.length === 0) line('templatedfields', 'mapped', 'templatedFields (Go templates translated to mustache; a missing field renders empty, not "<no value>")');
    else line('templatedfields', failed.length === Object.keys(templated).length ? 'dropped' : 'note', `templatedFields: these use Go template logic with no mustache equivalent, rewrite them by hand: ${failed.join('; ')}`);
  }
  if (isSet(get('bracketreplacer'))) line('bracketreplacer', 'dropped', 'Falconet keeps Falco\'s field names as sent (proc.aname[2]); matchers and templates read them unchanged');
  if (isSet(get('outputfieldformat'))) line('outputfieldformat', 'dropped', 'Falconet keeps Falco\'s output text; shape what each destination shows with messageFormat (chat) or bodyTemplate (webhook)');
  if (isSet(get('prometheus.extralabels'))) line('prometheus.extralabels', 'dropped', 'Falconet has no per-alert Prometheus counter (unbounded labels, Falcosidekick #1132)');

  convertTlsServer(settings, listen, line);
  if (Object.keys(listen).length > 0) config.listen = listen;
  for (const k of ['tlsserver.deploy', 'tlsserver.certfile', 'tlsserver.keyfile', 'tlsserver.mutualtls', 'tlsserver.cacertfile', 'tlsserver.notlsport', 'tlsserver.notlspaths']) {
    if (settings.has(k) && !handled.has(k)) line(k, 'ignored', 'tlsserver.deploy is off, so Falcosidekick ignores this too');
  }
}

/** Whether this Falconet build has a config key (listen.tls comes with inbound TLS support). */
function schemaHas(path: string[]): boolean {
  let node: unknown = rootSchema;
  for (const key of path) {
    while (node instanceof z.ZodDefault || node instanceof z.ZodOptional) node = (node as z.ZodDefault<z.ZodType>).unwrap();
    if (!(node instanceof z.ZodObject)) return false;
    node = (node.shape as Record<string, unknown>)[key];
    if (node === undefined) return false;
  }
  return true;
}

function convertTlsServer(settings: Map<string, Setting>, listen: Record<string, unknown>, line: Line): void {
  const get = (k: string) => settings.get(k)?.value;
  if (get('tlsserver.deploy') !== true) return;
  if (!schemaHas(['listen', 'tls'])) {
    for (const k of ['tlsserver.deploy', 'tlsserver.certfile', 'tlsserver.keyfile', 'tlsserver.mutualtls', 'tlsserver.cacertfile', 'tlsserver.notlsport', 'tlsserver.notlspaths']) {
      if (settings.has(k)) line(k, 'dropped', 'this Falconet build has no inbound TLS (listen.tls); terminate TLS in front of the collector (ingress, service mesh)');
    }
    return;
  }
  const tls: Record<string, unknown> = {
    cert: (get('tlsserver.certfile') as string | undefined) ?? '/etc/certs/server/server.crt',
    key: (get('tlsserver.keyfile') as string | undefined) ?? '/etc/certs/server/server.key',
  };
  line('tlsserver.deploy', 'mapped', 'listen.tls');
  for (const k of ['tlsserver.certfile', 'tlsserver.keyfile']) if (settings.has(k)) line(k, 'mapped', `listen.tls.${k.endsWith('certfile') ? 'cert' : 'key'}`);
  if (get('tlsserver.mutualtls') === true) {
    tls.ca = (get('tlsserver.cacertfile') as string | undefined) ?? '/etc/certs/server/ca.crt';
    tls.requireClientCert = true;
    line('tlsserver.mutualtls', 'mapped', 'listen.tls.requireClientCert');
    if (settings.has('tlsserver.cacertfile')) line('tlsserver.cacertfile', 'mapped', 'listen.tls.ca');
  }
  listen.tls = tls;
  const paths = get('tlsserver.notlspaths') as string[] | undefined;
  if (paths && paths.length > 0) {
    const probe = paths.filter((p) => p !== '/' && p !== '/test');
    const refused = paths.filter((p) => p === '/' || p === '/test');
    if (probe.length > 0) {
      listen.plain = { port: (get('tlsserver.notlsport') as number | undefined) ?? 2810, paths: probe };
      line('tlsserver.notlspaths', refused.length ? 'note' : 'mapped', `listen.plain.paths${refused.length ? `; ${refused.join(', ')} not served in plain HTTP: Falconet takes alerts over TLS only once TLS is on` : ''}`);
      if (settings.has('tlsserver.notlsport')) line('tlsserver.notlsport', 'mapped', 'listen.plain.port');
    } else {
      line('tlsserver.notlspaths', 'dropped', 'Falconet serves only probe paths (/healthz, /ping, /metrics…) in plain HTTP beside TLS, never ingest');
    }
  }
}

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
  if (def.mapping.kind === 'unsupported') throw new Error('unreachable');
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
    else notes.push('maxconcurrentrequests 0 (unlimited): Falconet keeps its default concurrency (4 per worker)');
  }
  convertClientTls(def, type, settings, ctx, out, taken, dropped, deps);

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
  taken: Set<string>,
  dropped: Map<string, string>,
  deps: OutputDeps,
): void {
  const checkcert = ctx.take('checkcert', 'tls.insecureSkipVerify');
  const mutual = ctx.take('mutualtls', 'tls');
  const globalCa = settings.get('tlsclient.cacertfile')?.value as string | undefined;
  const wantsTls = checkcert === false || mutual === true || (globalCa !== undefined && /^https:/.test(String(out.url ?? '')));
  if (!wantsTls) return;
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
    if (mutual === true && checkcert === false) delete tls.insecureSkipVerify;
  } else if (globalCa !== undefined) {
    tls.ca = globalCa;
  }
  if (tls.ca === globalCa && globalCa !== undefined && !deps.handled.has('tlsclient.cacertfile')) {
    deps.line('tlsclient.cacertfile', 'note', `outputs.${def.section.replace(/\./g, '-')}.tls.ca (replaces the system CAs for this output; Falcosidekick adds it to them)`);
  }
  out.tls = tls;
  void taken;
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
