import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { falcoHeaders, fixtureAlertLines } from '../helpers/fixtures.js';
import { testConfig } from '../helpers/harness.js';
import { useRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';
import { hashPassword } from '../../src/ui/passwords.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`skipping the browser tests: no ${CHROMIUM} (apt-get install -y chromium; .ci/prepare does)`);
const root = fileURLToPath(new URL('../../', import.meta.url));
const artifacts = fileURLToPath(new URL('../artifacts/', import.meta.url));
const rig = useRig();
let browser: Browser | undefined;

beforeAll(async () => {
  if (!HAVE_CHROMIUM) return;
  mkdirSync(artifacts, { recursive: true });
  // The page as `npm run build` makes it (dist/ui), served by the collector at /ui/.
  await promisify(execFile)(process.execPath, ['web/build.mjs'], { cwd: root });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}, 120_000);
afterAll(async () => {
  await browser?.close();
});

const namespaceOf = (line: string): string | undefined => {
  const f = (JSON.parse(line) as { output_fields?: Record<string, unknown> }).output_fields ?? {};
  return (f['k8s.ns.name'] ?? f['ka.target.namespace'] ?? f['k8smeta.ns.name']) as string | undefined;
};
const RANK = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'];

async function rows(page: Page): Promise<number> {
  return page.getByTestId('alert-row').count();
}
async function rowsBecome(page: Page, n: number, what: string): Promise<void> {
  await waitFor(async () => (await rows(page)) === n, { timeoutMs: 20_000, what: `${what}: ${n} rows (saw ${await rows(page)})` });
}

describe.skipIf(!HAVE_CHROMIUM)('the page at /ui/ (chromium, headless)', () => {
  it('live list, filter by namespace and priority, search with - and non-ASCII, delivery status per output, replay a dead letter', async () => {
    const ok = await rig.capture();
    const picky = await rig.capture();
    let broken = true;
    // The picky receiver refuses one rule until it is "fixed": those alerts are dead-lettered.
    picky.fallback = (req) => (broken && req.body.includes('café-naïve') ? { status: 400, body: '{"error":"schema: field output too exotic"}' } : { status: 200 });
    const p = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: {
          chat: { type: 'webhook', url: `${ok.url}/chat` },
          siem: { type: 'webhook', url: `${picky.url}/siem`, retry: { attempts: 1, backoff: '50ms', maxBackoff: '50ms' } },
        },
        routes: [{ outputs: ['chat', 'siem'] }],
      }),
    );
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${p.collector.url}/ui/`);
    await page.getByTestId('live').filter({ hasText: 'live' }).waitFor();
    expect(await rows(page)).toBe(0);

    const lines = fixtureAlertLines();
    for (const line of lines) expect((await p.post(line, falcoHeaders())).status).toBe(200);
    // Seen without reloading: the live stream.
    await rowsBecome(page, lines.length, 'all fixtures in the live list');
    await page.screenshot({ path: `${artifacts}ui-live-list.png`, fullPage: true });

    // Click a namespace on a row to filter by it.
    const team2 = lines.filter((l) => namespaceOf(l) === 'team2');
    await page.getByRole('button', { name: 'ns: team2' }).first().click();
    await rowsBecome(page, team2.length, 'namespace team2');
    await page.getByLabel('priority', { exact: true }).selectOption('>=Warning');
    const severe = team2.filter((l) => RANK.indexOf(JSON.parse(l).priority) <= RANK.indexOf('Warning'));
    await rowsBecome(page, severe.length, 'team2 at least Warning');
    expect(severe.length).toBeGreaterThan(0);
    expect(severe.length).toBeLessThan(team2.length);
    await page.screenshot({ path: `${artifacts}ui-filtered.png`, fullPage: true });
    await page.getByRole('button', { name: 'remove filter namespace' }).click();
    await page.getByLabel('priority', { exact: true }).selectOption('');
    await rowsBecome(page, lines.length, 'filters cleared');

    // A new alert with - and non-ASCII arrives live; free-text search finds exactly it.
    const exotic = JSON.stringify({ ...JSON.parse(lines[0]!), output: 'Écriture sous /etc par kube-proxy (café-naïve, "q:1")', time: new Date().toISOString() });
    expect((await p.post(exotic, falcoHeaders())).status).toBe(200);
    await rowsBecome(page, lines.length + 1, 'the new alert, live');
    await page.getByRole('searchbox').fill('café-naïve, "q:');
    await page.getByRole('searchbox').press('Enter');
    await rowsBecome(page, 1, 'search café-naïve');

    // Its journey: delivered to one output, dead-lettered by the other with the reason.
    await page.getByRole('button', { name: /^open / }).first().click();
    const detail = page.getByTestId('detail');
    await detail.getByTestId('delivery-chat').filter({ hasText: 'delivered' }).waitFor();
    await detail.getByTestId('delivery-siem').filter({ hasText: 'dead lettered' }).waitFor();
    expect(await detail.getByTestId('delivery-siem').textContent()).toContain('too exotic');
    await page.screenshot({ path: `${artifacts}ui-detail-dead-letter.png`, fullPage: true });

    // The receiver is fixed: replay from the dead-letter view, then see it delivered.
    broken = false;
    await page.getByRole('button', { name: 'Dead letters' }).click();
    await page.getByTestId('dlq-row').first().waitFor();
    expect(await page.getByTestId('dlq-row').count()).toBe(1);
    await page.screenshot({ path: `${artifacts}ui-dead-letters.png`, fullPage: true });
    await page.getByTestId('dlq-row').getByRole('button', { name: 'Replay' }).click();
    await page.getByTestId('dlq-empty').waitFor();
    await waitFor(() => picky.requests.filter((r) => r.body.includes('café-naïve')).length === 2, { what: 'the replayed alert at the receiver' });
    await page.getByRole('button', { name: 'Alerts' }).click();
    await page.getByRole('button', { name: /^open / }).first().click();
    await page.getByTestId('detail').getByTestId('delivery-siem').filter({ hasText: 'delivered' }).waitFor({ timeout: 20_000 });
    await page.screenshot({ path: `${artifacts}ui-replayed.png`, fullPage: true });

    // Outputs and routes, without their settings.
    await page.getByRole('button', { name: 'Outputs & routes' }).click();
    await page.getByRole('cell', { name: 'siem' }).waitFor();
    expect(await page.content()).not.toContain(picky.url);

    // Charts (uPlot) and phone width, dark mode.
    await page.getByRole('button', { name: 'Charts' }).click();
    await page.getByTestId('stats-total').filter({ hasText: `${lines.length + 1} alerts` }).waitFor();
    expect(await page.locator('.over-time canvas').count()).toBeGreaterThan(0);
    await page.screenshot({ path: `${artifacts}ui-charts.png`, fullPage: true });
    const phone = await browser!.newPage({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
    await phone.goto(`${p.collector.url}/ui/`);
    await rowsBecome(phone, lines.length + 1, 'phone list');
    await phone.screenshot({ path: `${artifacts}ui-phone-dark.png`, fullPage: true });
    await phone.close();
    await page.close();
  }, 120_000);

  it('a tenant token or tenant user sees only its tenant in the page; without credentials the page asks for them', async () => {
    const sink = await rig.capture();
    const tokens = [
      { name: 'falco-team1', token: 't'.repeat(32), tenant: 'team1', namespaces: ['team1'] },
      { name: 'falco-team2', token: 'u'.repeat(32), tenant: 'team2', namespaces: ['team2'] },
    ];
    const users = [{ name: 'bob', passwordHash: await hashPassword('bob-team1-password'), tenant: 'team1' }];
    const p = await rig.pipeline(testConfig({ auth: { tokens }, ui: { users }, dedup: { window: 0 }, outputs: { hook: { type: 'webhook', url: `${sink.url}/h` } }, routes: [{ outputs: ['hook'] }] }));
    const lines = fixtureAlertLines();
    const mine = lines.filter((l) => namespaceOf(l) === 'team1');
    const theirs = lines.filter((l) => namespaceOf(l) === 'team2');
    for (const l of mine) expect((await p.post(l, { ...falcoHeaders(), authorization: `Bearer ${'t'.repeat(32)}` })).status).toBe(200);
    for (const l of theirs) expect((await p.post(l, { ...falcoHeaders(), authorization: `Bearer ${'u'.repeat(32)}` })).status).toBe(200);

    const page = await browser!.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${p.collector.url}/ui/`);
    await page.getByLabel('API token').fill('t'.repeat(32));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await rowsBecome(page, mine.length, 'team1 alerts only');
    const shown = await page.getByRole('button', { name: /^ns: / }).allTextContents();
    expect(new Set(shown)).toEqual(new Set(['ns: team1']));
    // A team2 alert arriving live does not appear for team1.
    const late = JSON.stringify({ ...JSON.parse(theirs[0]!), output: 'late team2 alert', time: new Date().toISOString() });
    const lateMine = JSON.stringify({ ...JSON.parse(mine[0]!), output: 'late team1 alert', time: new Date().toISOString() });
    expect((await p.post(late, { ...falcoHeaders(), authorization: `Bearer ${'u'.repeat(32)}` })).status).toBe(200);
    expect((await p.post(lateMine, { ...falcoHeaders(), authorization: `Bearer ${'t'.repeat(32)}` })).status).toBe(200);
    await rowsBecome(page, mine.length + 1, 'the late team1 alert, live');
    expect(await page.getByText('late team2 alert').count()).toBe(0);
    await page.screenshot({ path: `${artifacts}ui-tenant-team1.png`, fullPage: true });

    // The same as a UI user with a password (session cookie).
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('User').fill('bob');
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Wrong user or password.').waitFor();
    await page.getByLabel('Password').fill('bob-team1-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await rowsBecome(page, mine.length + 1, 'team1 alerts for bob');
    expect(await page.getByText('late team2 alert').count()).toBe(0);
    await page.getByText('bob (team1)').waitFor();
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === 'falconet_session')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    await page.close();
  }, 120_000);
});
