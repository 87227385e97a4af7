import { z } from 'zod';
import { rootSchema } from '../config/schema.js';
import type { LineStatus } from './convert.js';
import { goTemplateToMustache } from './go-template.js';
import type { Setting, SettingValue } from './source.js';

type Line = (key: string, status: LineStatus, message: string) => void;

/** The global keys: listen, debug, enrichment, and those with no equivalent (reported). */
export function convertGlobals(settings: Map<string, Setting>, config: Record<string, unknown>, line: Line, handled: Set<string>): void {
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

function isSet(value: SettingValue | undefined): boolean {
  if (value === undefined || value === '' || value === false) return false;
  if (Array.isArray(value)) return value.length > 0;
  return true;
}
