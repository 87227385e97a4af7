/**
 * Translates the Go text/template forms Falcosidekick users write into Falconet's mustache
 * (outputs/template.ts). Only forms with an exact meaning are translated; anything else (if,
 * range, pipes, functions other than `or`) returns undefined and the caller reports it.
 *
 * Two data shapes: `fields` (templatedfields: `.` is the output_fields map) and `event`
 * (Slack/Mattermost/… messageformat: `.` is the whole payload, `.OutputFields` the map).
 */
export type TemplateData = 'fields' | 'event';

const EVENT_NAMES: Readonly<Record<string, string>> = {
  Output: 'output',
  Priority: 'priority',
  Rule: 'rule',
  Time: 'time',
  Source: 'source',
  Hostname: 'hostname',
  Tags: 'tags',
  UUID: 'id',
};

const QUOTED = String.raw`"((?:[^"\\]|\\.)*)"`;
const INDEX = new RegExp(String.raw`^\(?\s*index\s+(\.|\.OutputFields)\s+${QUOTED}\s*\)?$`);

export function goTemplateToMustache(template: string, data: TemplateData): string | undefined {
  let out = '';
  let rest = template;
  while (rest.length > 0) {
    const open = rest.indexOf('{{');
    if (open < 0) {
      if (rest.includes('}}')) return undefined;
      out += rest;
      break;
    }
    out += rest.slice(0, open);
    const close = rest.indexOf('}}', open);
    if (close < 0) return undefined;
    let action = rest.slice(open + 2, close);
    // {{- and -}} trim whitespace in Go; the difference is cosmetic, so they are accepted.
    action = action.replace(/^-\s/, '').replace(/\s-$/, '').trim();
    const translated = translateAction(action, data);
    if (translated === undefined) return undefined;
    out += translated;
    rest = rest.slice(close + 2);
  }
  return out;
}

function translateAction(action: string, data: TemplateData): string | undefined {
  const orMatch = new RegExp(String.raw`^or\s+(.+?)\s+${QUOTED}$`).exec(action);
  if (orMatch) {
    const name = reference(orMatch[1]!.trim(), data);
    if (!name) return undefined;
    const fallback = unquote(orMatch[2]!);
    if (/\{\{|\}\}/.test(fallback)) return undefined;
    // Go's `or` takes the fallback when the value is empty or missing: a mustache inverted section.
    return `{{#${name}}}{{${name}}}{{/${name}}}{{^${name}}}${fallback}{{/${name}}}`;
  }
  const name = reference(action, data);
  return name ? `{{${name}}}` : undefined;
}

/** `.key`, `index . "k8s.ns.name"`, `.Rule`, `index .OutputFields "x"` → a mustache name. */
function reference(expr: string, data: TemplateData): string | undefined {
  const index = INDEX.exec(expr);
  if (index) {
    const base = index[1]!;
    if ((data === 'fields') !== (base === '.')) return undefined;
    return fieldName(unquote(index[2]!));
  }
  const dotted = /^\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(expr);
  if (!dotted) return undefined;
  if (data === 'fields') return fieldName(dotted[1]!);
  return EVENT_NAMES[dotted[1]!];
}

function fieldName(key: string): string | undefined {
  // Mustache tag names cannot hold these; such a field needs a hand-written template.
  if (/[{}#^/!>&=\s]/.test(key)) return undefined;
  return `output_fields.${key}`;
}

function unquote(text: string): string {
  return JSON.parse(`"${text}"`) as string;
}
