import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** The alerts of falco-events.jsonl as the exact lines Falco sends (big integers intact). */
export function fixtureAlertLines(): string[] {
  return readFileSync(`${dir}falco-events.jsonl`, 'utf8').split('\n').filter((l) => l.trim() !== '');
}

export interface HttpVariant {
  id: string;
  origin: string;
  falco_versions: string;
  config: string;
  content_type: string;
  user_agent: string;
  body: string;
}

export function httpVariants(): HttpVariant[] {
  return readFileSync(`${dir}falco-http-variants.jsonl`, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as HttpVariant);
}

/** Headers Falco's libcurl sends with a JSON alert (falco-alerts.md §1.1). */
export function falcoHeaders(contentType = 'application/json'): Record<string, string> {
  return { 'user-agent': 'falcosecurity/falco', accept: '*/*', 'content-type': contentType };
}
