import { describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alert/alert.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { checkTemplate, renderMessage, renderTemplate, renderTitle } from './template.js';

const alert: Alert = {
  id: 'a1b2',
  rule: 'Terminal shell in container',
  priority: 'Critical',
  time: '2026-08-20T10:11:12.123456789Z',
  source: 'syscall',
  hostname: 'node-7',
  output: 'A shell was spawned (user=root cmd=<NA> & more)',
  tags: ['container', 'shell'],
  output_fields: {
    'k8s.ns.name': 'prod',
    'k8s.ns': 'shadowing-prefix',
    'proc.pid': 4242,
    'evt.time': 1749722998004512930n,
    'user.loginname': null,
    'proc.aname[2]': 'bash',
    'container.privileged': true,
  },
};

describe('renderTemplate', () => {
  it('renders the top-level names', () => {
    expect(renderTemplate('{{id}}|{{rule}}|{{priority}}|{{hostname}}|{{source}}|{{tags}}|{{time}}', alert)).toBe(
      'a1b2|Terminal shell in container|Critical|node-7|syscall|container, shell|2026-08-20T10:11:12.123456789Z',
    );
  });

  it('reads output fields whose keys contain dots, even when a shorter key is a prefix', () => {
    expect(renderTemplate('{{output_fields.k8s.ns.name}} / {{output_fields.k8s.ns}}', alert)).toBe('prod / shadowing-prefix');
    expect(renderTemplate('{{output_fields.proc.aname[2]}}', alert)).toBe('bash');
  });

  it('renders numbers, bigints and booleans exactly and null as empty', () => {
    expect(renderTemplate('{{output_fields.proc.pid}} {{output_fields.evt.time}} {{output_fields.container.privileged}} [{{output_fields.user.loginname}}]', alert)).toBe(
      '4242 1749722998004512930 true []',
    );
  });

  it('does not HTML-escape (each destination escapes for its own markup)', () => {
    expect(renderTemplate('{{output}}', alert)).toBe('A shell was spawned (user=root cmd=<NA> & more)');
  });

  it('supports sections on dotted fields, also inside other sections', () => {
    const t = '{{#output_fields.k8s.ns.name}}ns={{output_fields.k8s.ns.name}}{{/output_fields.k8s.ns.name}}{{^output_fields.user.loginname}} no-login{{/output_fields.user.loginname}}';
    expect(renderTemplate(t, alert)).toBe('ns=prod no-login');
  });

  it('iterates every field with {{#fields}}', () => {
    const out = renderTemplate('{{#fields}}{{key}}={{value}};{{/fields}}', alert);
    expect(out).toBe('k8s.ns.name=prod;k8s.ns=shadowing-prefix;proc.pid=4242;evt.time=1749722998004512930;user.loginname=;proc.aname[2]=bash;container.privileged=true;');
  });

  it('renders unknown names and Object members as empty (no prototype access)', () => {
    expect(renderTemplate('[{{nope}}][{{output_fields.missing}}][{{constructor}}][{{__proto__}}]', alert)).toBe('[][][][]');
  });

  it('uses defaults when the instance sets no template', () => {
    expect(renderTitle({}, alert)).toBe('Critical: Terminal shell in container');
    expect(renderMessage({}, alert)).toBe(alert.output);
    expect(renderMessage({}, { ...alert, output: undefined, message: 'from message' })).toBe('from message');
    expect(renderTitle({ title: '[{{priority}}] {{rule}} on {{hostname}}' }, alert)).toBe('[Critical] Terminal shell in container on node-7');
    expect(renderMessage({ messageFormat: '{{namespace}}/{{output_fields.k8s.ns.name}}' }, alert)).toBe('prod/prod');
  });

  it('rejects a malformed template with a readable error', () => {
    expect(() => checkTemplate('{{#rule}} unclosed')).toThrow(/Unclosed section "rule"/);
    expect(() => checkTemplate('{{rule}} fine')).not.toThrow();
  });

  it('rejects a name the view does not have, which would render as nothing on every alert', () => {
    expect(() => checkTemplate('{{ruel}}')).toThrow(/unknown name "\{\{ruel\}\}"; one of id, rule/);
    expect(() => checkTemplate('{{output_fields.k8s.ns.name}} {{#fields}}{{key}}={{value}}{{/fields}} {{{output}}} {{^pod}}-{{/pod}}')).not.toThrow();
    expect(() => checkTemplate('{{key}}'), 'key exists only inside {{#fields}}').toThrow(/unknown name/);
    expect(() => checkTemplate('{{output_fields.}}')).toThrow(/unknown name/);
  });

  it('rejects a malformed title or messageFormat when the config is loaded', () => {
    const base = { type: 'slack', webhookUrl: 'https://hooks.slack.com/services/T/B/x' };
    expect(() => parseOutputInstance('s', { ...base, title: '{{#rule}}' })).toThrow(/outputs\.s\.title: not a valid template: Unclosed section/);
    expect(() => parseOutputInstance('s', { ...base, messageFormat: '{{/rule}}' })).toThrow(/outputs\.s\.messageFormat: not a valid template/);
    expect(() => parseOutputInstance('s', { ...base, title: '{{ruel}}' })).toThrow(/outputs\.s\.title: not a valid template: unknown name/);
    expect(parseOutputInstance('s', { ...base, title: '{{rule}}' }).config.title).toBe('{{rule}}');
  });
});
