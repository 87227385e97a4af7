import { describe, expect, it } from 'vitest';
import type { Alert } from '../../../src/alert/alert.js';
import { createRouteStage } from '../../../src/router/stages/route.js';
import { compileRoutes } from '../../../src/router/matcher.js';
import type { ConfigIssue } from '../../../src/config/errors.js';
import { routeSchema } from '../../../src/config/schema.js';
import { configOf, makeAlert } from './make-alert.js';

const outputs = (names: string[], floors: Record<string, string> = {}) =>
  Object.fromEntries(names.map((n) => [n, { type: 'stdout', ...(floors[n] ? { minimumPriority: floors[n] } : {}) }]));

/** Routes an alert through a config's routes; returns the sorted output names it reaches. */
function router(routes: unknown[], floors: Record<string, string> = {}) {
  const names = [...new Set(routes.flatMap((r) => (r as { outputs: string[] }).outputs))];
  const config = configOf({ outputs: outputs(names, floors), routes });
  const stage = createRouteStage(config.compiledRoutes, config.outputs);
  return (alert: Alert) => {
    const { byOutput } = stage([alert]);
    return [...byOutput.keys()].sort();
  };
}

const ns = (name: string, over: Partial<Alert> = {}) => makeAlert({ output_fields: { 'k8s.ns.name': name }, ...over });
const audit = (name: string, over: Partial<Alert> = {}) =>
  makeAlert({ source: 'k8s_audit', output_fields: { 'ka.target.namespace': name }, ...over });

describe('route stage', () => {
  it('first match wins; `continue` keeps evaluating; the catch-all takes the rest', () => {
    const route = router([
      { match: { 'output_fields.k8s.ns.name': 'team1' }, outputs: ['team1'], continue: true },
      { match: { 'output_fields.k8s.ns.name': 'team2' }, outputs: ['team2'] },
      { match: { 'output_fields.ka.target.namespace': 'team2' }, outputs: ['team2'] },
      { outputs: ['platform'] },
    ]);
    expect(route(ns('team1'))).toEqual(['platform', 'team1']);
    expect(route(ns('team2'))).toEqual(['team2']);
    expect(route(audit('team2'))).toEqual(['team2']);
    expect(route(audit('team1'))).toEqual(['platform']);
    expect(route(ns('kube-system'))).toEqual(['platform']);
    expect(route(makeAlert())).toEqual(['platform']);
  });

  it('an alert reaching one output through two routes is delivered there once; unmatched alerts are counted', () => {
    const config = configOf({
      outputs: outputs(['a', 'b']),
      routes: [
        { match: { rule: 'R' }, outputs: ['a'], continue: true },
        { match: { rule: 'R' }, outputs: ['a', 'b'] },
        { match: { rule: 'only-b' }, outputs: ['b'] },
      ],
    });
    const stage = createRouteStage(config.compiledRoutes, config.outputs);
    const r = makeAlert({ rule: 'R' });
    const { byOutput, unrouted } = stage([r, makeAlert({ rule: 'nothing' })]);
    expect(byOutput.get('a')).toEqual([r]);
    expect(byOutput.get('b')).toEqual([r]);
    expect(unrouted).toBe(1);
  });

  it('per-output minimumPriority drops less severe alerts for that output only', () => {
    const route = router([{ outputs: ['pager', 'log'] }], { pager: 'critical' });
    expect(route(makeAlert({ priority: 'Emergency' }))).toEqual(['log', 'pager']);
    expect(route(makeAlert({ priority: 'Critical' }))).toEqual(['log', 'pager']);
    expect(route(makeAlert({ priority: 'Error' }))).toEqual(['log']);
    const config = configOf({ outputs: outputs(['pager'], { pager: 'critical' }), routes: [{ outputs: ['pager'] }] });
    expect(createRouteStage(config.compiledRoutes, config.outputs)([makeAlert({ priority: 'Debug' })]).unrouted).toBe(1);
  });

  it('match_any: one of the condition maps must hold entirely', () => {
    const route = router([
      { match_any: [{ rule: 'A', hostname: 'h1' }, { source: 'k8s_audit' }], outputs: ['x'] },
      { outputs: ['rest'] },
    ]);
    expect(route(makeAlert({ rule: 'A', hostname: 'h1' }))).toEqual(['x']);
    expect(route(makeAlert({ rule: 'A', hostname: 'h2' }))).toEqual(['rest']);
    expect(route(makeAlert({ source: 'k8s_audit' }))).toEqual(['x']);
  });

  it('not: the route does not apply when all of its conditions hold', () => {
    const route = router([
      { match: { source: 'syscall' }, not: { 'output_fields.k8s.ns.name': 'kube-system', priority: 'informational' }, outputs: ['x'] },
      { outputs: ['rest'] },
    ]);
    expect(route(ns('kube-system', { priority: 'Informational' }))).toEqual(['rest']);
    expect(route(ns('kube-system', { priority: 'Warning' }))).toEqual(['x']);
    expect(route(ns('team1', { priority: 'Informational' }))).toEqual(['x']);
  });

  it('match combines conditions with AND', () => {
    const route = router([{ match: { rule: 'R', hostname: 'h' }, outputs: ['x'] }, { outputs: ['rest'] }]);
    expect(route(makeAlert({ rule: 'R', hostname: 'h' }))).toEqual(['x']);
    expect(route(makeAlert({ rule: 'R', hostname: 'other' }))).toEqual(['rest']);
    expect(route(makeAlert({ rule: 'R', hostname: undefined }))).toEqual(['rest']);
  });

  it('regex values "/re/flags" and lists (any of)', () => {
    const route = router([
      { match: { rule: '/^terminal shell/i' }, outputs: ['shells'] },
      { match: { 'output_fields.k8s.ns.name': ['team1', 'team2'] }, outputs: ['teams'] },
      { match: { hostname: ['/^prod-/', 'bastion'] }, outputs: ['prod'] },
      { outputs: ['rest'] },
    ]);
    expect(route(makeAlert({ rule: 'Terminal shell in container' }))).toEqual(['shells']);
    expect(route(makeAlert({ rule: 'A terminal shell' }))).toEqual(['rest']);
    expect(route(ns('team2', { rule: 'x' }))).toEqual(['teams']);
    expect(route(ns('team3', { rule: 'x' }))).toEqual(['rest']);
    expect(route(makeAlert({ rule: 'x', hostname: 'prod-7' }))).toEqual(['prod']);
    expect(route(makeAlert({ rule: 'x', hostname: 'bastion' }))).toEqual(['prod']);
    expect(route(makeAlert({ rule: 'x', hostname: 'bastion-2' }))).toEqual(['rest']);
  });

  it('tags: the alert matches when one of its tags equals (or matches) a value', () => {
    const route = router([
      { match: { tags: 'mitre_execution' }, outputs: ['mitre'] },
      { match: { tags: ['/^T1\\d+$/'] }, outputs: ['technique'] },
      { outputs: ['rest'] },
    ]);
    expect(route(makeAlert({ tags: ['container', 'mitre_execution'] }))).toEqual(['mitre']);
    expect(route(makeAlert({ tags: ['T1059'] }))).toEqual(['technique']);
    expect(route(makeAlert({ tags: ['mitre'] }))).toEqual(['rest']);
    expect(route(makeAlert({ tags: [] }))).toEqual(['rest']);
  });

  it('priority comparisons: >=, >, <=, <, = and a bare name (case-insensitive)', () => {
    const at = (cond: string, p: Alert['priority']) => router([{ match: { priority: cond }, outputs: ['x'] }, { outputs: ['rest'] }])(makeAlert({ priority: p }))[0] === 'x';
    expect(at('>=warning', 'Warning')).toBe(true);
    expect(at('>=warning', 'Critical')).toBe(true);
    expect(at('>=warning', 'Notice')).toBe(false);
    expect(at('>warning', 'Warning')).toBe(false);
    expect(at('>warning', 'Error')).toBe(true);
    expect(at('<=notice', 'Notice')).toBe(true);
    expect(at('<=notice', 'Debug')).toBe(true);
    expect(at('<=notice', 'Warning')).toBe(false);
    expect(at('<notice', 'Notice')).toBe(false);
    expect(at('<notice', 'Informational')).toBe(true);
    expect(at('=error', 'Error')).toBe(true);
    expect(at('==ERROR', 'Error')).toBe(true);
    expect(at('error', 'Critical')).toBe(false);
    expect(at('info', 'Informational')).toBe(true);
    expect(at('>= critical', 'Alert')).toBe(true);
  });

  it('output_fields keys with dots, numbers and booleans compare by their JSON text', () => {
    const route = router([
      { match: { 'output_fields.ka.target.namespace': 'team1' }, outputs: ['audit'] },
      { match: { 'output_fields.proc.pid': 42 }, outputs: ['pid'] },
      { match: { 'output_fields.evt.time': '1749715200123456789' }, outputs: ['big'] },
      { match: { 'output_fields.container.privileged': true }, outputs: ['priv'] },
      { outputs: ['rest'] },
    ]);
    expect(route(audit('team1'))).toEqual(['audit']);
    expect(route(makeAlert({ output_fields: { 'proc.pid': 42 } }))).toEqual(['pid']);
    expect(route(makeAlert({ output_fields: { 'evt.time': 1749715200123456789n } }))).toEqual(['big']);
    expect(route(makeAlert({ output_fields: { 'container.privileged': true } }))).toEqual(['priv']);
    expect(route(makeAlert({ output_fields: { 'container.privileged': false } }))).toEqual(['rest']);
    expect(route(makeAlert({ output_fields: { 'ka.target.namespace': null } }))).toEqual(['rest']);
  });
});

describe('matcher compile errors', () => {
  const compile = (route: unknown) => {
    const issues: ConfigIssue[] = [];
    compileRoutes([routeSchema.parse(route)], issues);
    return issues.map((i) => ({ path: i.path, message: i.message }));
  };

  it('an unknown field names its key', () => {
    const [issue] = compile({ match: { namespace: 'team1' }, outputs: ['x'] });
    expect(issue!.path).toEqual(['routes', 0, 'match', 'namespace']);
    expect(issue!.message).toMatch(/unknown field/);
  });

  it('a bad regex names its key (and list index)', () => {
    expect(compile({ match: { rule: '/(unclosed/' }, outputs: ['x'] })[0]).toMatchObject({
      path: ['routes', 0, 'match', 'rule'],
      message: expect.stringMatching(/invalid regular expression/),
    });
    expect(compile({ match_any: [{ rule: 'ok' }, { hostname: ['a', '/[z-a]/'] }], outputs: ['x'] })[0]!.path).toEqual([
      'routes', 0, 'match_any', 1, 'hostname', 1,
    ]);
  });

  it('a bad priority or comparison names its key', () => {
    const issues = compile({ match: { priority: '>=severe' }, not: { priority: 'loud' }, outputs: ['x'] });
    expect(issues.map((i) => i.path)).toEqual([
      ['routes', 0, 'match', 'priority'],
      ['routes', 0, 'not', 'priority'],
    ]);
    expect(issues[0]!.message).toMatch(/not a priority/);
  });

  it('valid routes compile without issues', () => {
    expect(compile({ match: { priority: '>=warning', rule: '/x/i', 'output_fields.a.b': ['c'] }, outputs: ['x'] })).toEqual([]);
  });
});
