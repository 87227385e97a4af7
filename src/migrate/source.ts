import { parse as parseYaml } from 'yaml';
import { SIDEKICK_KEYS, envName, type SidekickKeyKind } from './sidekick-keys.js';

/**
 * Reads a Falcosidekick configuration the way Falcosidekick does (config.go, getConfig): the YAML
 * file, then environment variables over it (viper AutomaticEnv, `.` → `_`, case-insensitive keys),
 * then the env vars it parses by hand (CUSTOMFIELDS with `%VAR`, TEMPLATEDFIELDS, CUSTOMTAGS,
 * *_CUSTOMHEADERS, ALERTMANAGER_EXTRALABELS…). The result is flat: one Setting per key path.
 */

export type SettingValue = string | boolean | number | string[] | Record<string, string>;

export interface Setting {
  key: string;
  value: SettingValue;
  origin: 'file' | 'env';
  /** The env var it came from. */
  env?: string;
  /** The env var replaced a value from the file. */
  overridesFile?: boolean;
  /** Per map entry (customfields): the env var a `%VAR` value named, for a `${VAR}` reference. */
  envRefs?: Record<string, string>;
}

export interface SourceProblem {
  /** Key path or env var name. */
  key: string;
  message: string;
}

export interface SidekickSource {
  settings: Map<string, Setting>;
  problems: SourceProblem[];
}

const SECTIONS = new Set([...SIDEKICK_KEYS.keys()].map((k) => k.split('.')[0]!));

/**
 * Map-valued env vars Falcosidekick splits itself: `k:v,k:v`. `pairs` keeps only entries with
 * exactly two parts (a value holding `:` is dropped, as Falcosidekick does); `cut` splits at the
 * first `:` and trims.
 */
const HAND_PARSED_MAPS: Readonly<Record<string, 'pairs' | 'cut'>> = {
  customfields: 'pairs',
  templatedfields: 'pairs',
  'loki.customheaders': 'pairs',
  'webhook.customheaders': 'pairs',
  'splunk.customheaders': 'pairs',
  'cloudevents.extensions': 'pairs',
  'alertmanager.customheaders': 'pairs',
  'gcp.pubsub.customattributes': 'pairs',
  'alertmanager.extralabels': 'cut',
  'alertmanager.extraannotations': 'cut',
  'alertmanager.customseveritymap': 'cut',
  'otlp.traces.extraenvvars': 'cut',
  'otlp.metrics.extraenvvars': 'cut',
};

export function readSidekickSource(opts: { yaml?: string; env?: NodeJS.ProcessEnv; problems?: SourceProblem[] }): SidekickSource {
  const settings = new Map<string, Setting>();
  const problems: SourceProblem[] = [...(opts.problems ?? [])];
  if (opts.yaml !== undefined) readFile(opts.yaml, settings, problems);
  if (opts.env) readEnv(opts.env, settings, problems);
  return { settings, problems };
}

function readFile(text: string, settings: Map<string, Setting>, problems: SourceProblem[]): void {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    problems.push({ key: '(file)', message: `not valid YAML: ${(err as Error).message}` });
    return;
  }
  const walk = (node: unknown, path: string[]): void => {
    if (node === null || node === undefined) return;
    const key = path.join('.');
    const kind = SIDEKICK_KEYS.get(key);
    if (kind) {
      // "" is how Falcosidekick's own example leaves any key unset, maps and numbers included.
      if (node === '') return;
      const value = coerceFileValue(node, kind);
      if (value === undefined) problems.push({ key, message: `a ${kind} was expected, got ${JSON.stringify(node)}` });
      else if (!isEmpty(value)) settings.set(key, { key, value, origin: 'file' });
      return;
    }
    if (typeof node === 'object' && !Array.isArray(node)) {
      for (const [k, v] of Object.entries(node as Record<string, unknown>)) walk(v, [...path, k.toLowerCase()]);
      return;
    }
    problems.push({ key: key || '(root)', message: 'unknown key: Falcosidekick has no such setting (typo, or a newer version?)' });
  };
  walk(doc, []);
}

function readEnv(env: NodeJS.ProcessEnv, settings: Map<string, Setting>, problems: SourceProblem[]): void {
  const known = new Set<string>();
  for (const [key, kind] of SIDEKICK_KEYS) {
    const name = envName(key);
    known.add(name);
    const raw = env[name];
    // viper ignores empty env vars (AllowEmptyEnv is off); the hand-parsed ones behave the same here.
    if (raw === undefined || raw === '') continue;
    const parsed = parseEnvValue(key, kind, raw, env, problems);
    if (parsed === undefined) continue;
    const overridesFile = settings.has(key);
    settings.set(key, { key, value: parsed.value, origin: 'env', env: name, overridesFile, envRefs: parsed.envRefs });
  }
  // A variable that looks like a Falcosidekick setting but names none is reported, not ignored.
  for (const name of Object.keys(env)) {
    if (known.has(name) || !/^[A-Z0-9_]+$/.test(name)) continue;
    const section = name.split('_')[0]!.toLowerCase();
    if (SECTIONS.has(section) && !SIDEKICK_KEYS.has(section)) {
      problems.push({ key: name, message: 'env var with a Falcosidekick output prefix but no such setting: ignored (typo?)' });
    }
  }
}

function parseEnvValue(
  key: string,
  kind: SidekickKeyKind,
  raw: string,
  env: NodeJS.ProcessEnv,
  problems: SourceProblem[],
): { value: SettingValue; envRefs?: Record<string, string> } | undefined {
  const name = envName(key);
  switch (kind) {
    case 'string':
    case 'duration':
      return { value: raw };
    case 'bool': {
      const b = parseGoBool(raw);
      if (b === undefined) problems.push({ key: name, message: `"${raw}" is not a boolean: ignored` });
      return b === undefined ? undefined : { value: b };
    }
    case 'number': {
      const n = Number(raw);
      if (!Number.isFinite(n)) problems.push({ key: name, message: `"${raw}" is not a number: ignored` });
      return Number.isFinite(n) ? { value: n } : undefined;
    }
    case 'list':
      // CUSTOMTAGS: Falcosidekick removes every space before splitting.
      return { value: (key === 'customtags' ? raw.replace(/ /g, '') : raw).split(',').filter((s) => s !== '') };
    case 'map':
      return parseEnvMap(key, raw, env, problems);
  }
}

function parseEnvMap(
  key: string,
  raw: string,
  env: NodeJS.ProcessEnv,
  problems: SourceProblem[],
): { value: Record<string, string>; envRefs?: Record<string, string> } | undefined {
  const name = envName(key);
  const style = HAND_PARSED_MAPS[key];
  if (!style) {
    // Other maps go through viper's GetStringMapString, which only reads a JSON object from a string.
    try {
      const obj = JSON.parse(raw) as unknown;
      if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
        return { value: Object.fromEntries(Object.entries(obj).map(([k, v]) => [k.toLowerCase(), String(v)])) };
      }
    } catch {
      // fall through
    }
    problems.push({ key: name, message: 'Falcosidekick reads this map from env only as a JSON object: ignored' });
    return undefined;
  }
  const value: Record<string, string> = {};
  const envRefs: Record<string, string> = {};
  for (const item of raw.split(',')) {
    let k: string;
    let v: string;
    if (style === 'pairs') {
      const parts = item.split(':');
      if (parts.length !== 2) {
        // Header values are often credentials: name the entry by its key only.
        const shown = key.endsWith('customheaders') ? `${item.split(':')[0]}:…` : item;
        problems.push({ key: name, message: `entry "${shown}" does not split into exactly key:value; Falcosidekick drops it, so it is left out (set it in the file instead)` });
        continue;
      }
      [k, v] = parts as [string, string];
    } else {
      const at = item.indexOf(':');
      k = (at < 0 ? item : item.slice(0, at)).trim();
      v = at < 0 ? '' : item.slice(at + 1).trim();
    }
    if (key === 'customfields' && v.startsWith('%')) {
      const ref = v.slice(1);
      const resolved = env[ref];
      if (!resolved) {
        problems.push({ key: name, message: `custom field ${k} names env var ${ref}, which is not set; Falcosidekick drops the field, so it is left out` });
        continue;
      }
      envRefs[k] = ref;
      v = resolved;
    }
    value[k] = v;
  }
  return { value, envRefs: Object.keys(envRefs).length > 0 ? envRefs : undefined };
}

/** Go's strconv.ParseBool. */
function parseGoBool(raw: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return false;
  return undefined;
}

function coerceFileValue(node: unknown, kind: SidekickKeyKind): SettingValue | undefined {
  switch (kind) {
    case 'string':
    case 'duration':
      return typeof node === 'object' ? undefined : String(node);
    case 'bool':
      if (typeof node === 'boolean') return node;
      return typeof node === 'string' ? parseGoBool(node) : undefined;
    case 'number': {
      const n = typeof node === 'number' ? node : typeof node === 'string' && node.trim() !== '' ? Number(node) : NaN;
      return Number.isFinite(n) ? n : undefined;
    }
    case 'list':
      if (Array.isArray(node)) return node.map(String).filter((s) => s !== '');
      return typeof node === 'string' ? node.split(',').map((s) => s.trim()).filter((s) => s !== '') : undefined;
    case 'map':
      if (!node || typeof node !== 'object' || Array.isArray(node)) return undefined;
      // viper lower-cases the keys of maps read from a file (not those parsed from env vars).
      return Object.fromEntries(Object.entries(node as Record<string, unknown>).map(([k, v]) => [k.toLowerCase(), v === null ? '' : String(v)]));
  }
}

function isEmpty(value: SettingValue): boolean {
  if (value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

/** `KEY=VALUE` lines (`kubectl exec deploy/falcosidekick -- env`): the value is everything after the first `=`. */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const at = line.indexOf('=');
    if (at > 0) env[line.slice(0, at)] = line.slice(at + 1);
  }
  return env;
}

/**
 * Helm values of the falcosidekick chart (`config:`) or of the falco chart (`falcosidekick.config:`),
 * as the env vars the chart renders them into (templates/secrets.yaml: config.slack.webhookurl →
 * SLACK_WEBHOOKURL; maps and lists are already `k:v,k:v` / comma strings there). Chart values that
 * are no Falcosidekick setting (existingSecret, extraEnv…) are reported.
 */
export function helmValuesToEnv(text: string): { env: Record<string, string>; problems: SourceProblem[] } {
  const problems: SourceProblem[] = [];
  const env: Record<string, string> = {};
  let doc: Record<string, any>;
  try {
    doc = (parseYaml(text) ?? {}) as Record<string, any>;
  } catch (err) {
    return { env, problems: [{ key: '(helm values)', message: `not valid YAML: ${(err as Error).message}` }] };
  }
  const config = doc.falcosidekick?.config ?? doc.config;
  if (!config || typeof config !== 'object') {
    return { env, problems: [{ key: '(helm values)', message: 'neither falcosidekick.config (falco chart) nor config (falcosidekick chart) found' }] };
  }
  const walk = (node: unknown, path: string[]): void => {
    const key = path.join('.');
    if (SIDEKICK_KEYS.has(key) || node === null || typeof node !== 'object' || Array.isArray(node)) {
      if (!SIDEKICK_KEYS.has(key)) {
        // An empty chart default (existingSecret: "") carries nothing to report.
        if (node === null || node === '' || (Array.isArray(node) && node.length === 0)) return;
        problems.push({ key: `config.${key}`, message: 'unknown key: a chart value, not a Falcosidekick setting (secrets in config.existingSecret or extraEnv must be read with --env-file)' });
        return;
      }
      if (node === null || node === undefined || node === '') return;
      env[envName(key)] = Array.isArray(node)
        ? node.join(',')
        : typeof node === 'object'
          ? Object.entries(node as Record<string, unknown>).map(([k, v]) => `${k}:${String(v)}`).join(',')
          : String(node);
      return;
    }
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) walk(v, [...path, k.toLowerCase()]);
  };
  walk(config, []);
  return { env, problems };
}
