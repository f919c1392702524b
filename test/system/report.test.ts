// report.html and the dashboard in a real browser: Debian's chromium, headless, driven by
// playwright-core, with every request that is not file:// or data: blocked (and recorded).
// Every chart must render (an <svg> in each slot), with no console error, no page error,
// no attempt to reach the network, and no script run from scenario text.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { buildDashboard } from '../../reports/dashboard.ts';
import { buildReportModel } from '../../reports/model.ts';
import { writeRunReport } from '../../reports/write.ts';
import { syntheticHistory } from '../fixtures/results/build.ts';
import { copyFixture, loadFixture, tempDir } from '../fixtures/results/helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

interface PageLog {
  consoleErrors: string[];
  pageErrors: string[];
  blocked: string[];
  dialogs: string[];
}

let root: string;
let profile: string;
let context: BrowserContext;
const log: PageLog = { consoleErrors: [], pageErrors: [], blocked: [], dialogs: [] };

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium (apt-get install -y chromium)`);
  root = tempDir();
  profile = tempDir(); // a fresh user-data-dir, so nothing of another session is reused
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:') || url.startsWith('data:')) return route.continue();
    log.blocked.push(url);
    return route.abort();
  });
});

after(async () => {
  await context?.close();
  // No chromium of this test may outlive it.
  const leftovers = readdirSync('/proc')
    .filter((pid) => /^\d+$/.test(pid))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(profile);
      } catch {
        return false;
      }
    });
  rmSync(root, { recursive: true, force: true });
  rmSync(profile, { recursive: true, force: true });
  assert.deepEqual(leftovers, [], 'chromium processes left behind');
});

async function open(path: string): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') log.consoleErrors.push(`${path}: ${m.text()}`);
  });
  page.on('pageerror', (e) => log.pageErrors.push(`${path}: ${e.message}`));
  page.on('dialog', (d) => {
    log.dialogs.push(`${path}: ${d.message()}`);
    void d.dismiss();
  });
  await page.goto(pathToFileURL(path).href);
  await page.waitForSelector('body[data-charts-done]', { timeout: 30_000 });
  return page;
}

/** Every chart slot holds a rendered SVG with marks; returns the slot ids. */
async function assertChartsRendered(page: Page, expected: number): Promise<string[]> {
  const slots = await page.$$eval('.chart', (els) =>
    els.map((el) => ({
      id: el.id,
      rendered: el.getAttribute('data-rendered') === 'true',
      failed: el.getAttribute('data-failed') === 'true',
      svgs: el.querySelectorAll('svg').length,
      marks: el.querySelectorAll('svg path, svg line, svg rect, svg text').length,
      width: el.querySelector('svg')?.getBoundingClientRect().width ?? 0,
    })),
  );
  assert.equal(slots.length, expected, 'number of chart slots');
  for (const slot of slots) {
    assert.ok(slot.rendered && !slot.failed, `${slot.id} rendered`);
    assert.ok(slot.svgs >= 1 && slot.marks > 10 && slot.width > 100, `${slot.id} has a drawn SVG (${JSON.stringify(slot)})`);
  }
  return slots.map((s) => s.id);
}

function assertCleanLog(): void {
  assert.deepEqual(log.consoleErrors, [], 'console errors');
  assert.deepEqual(log.pageErrors, [], 'page errors');
  assert.deepEqual(log.blocked, [], 'requests to the network');
  assert.deepEqual(log.dialogs, [], 'dialogs (a script ran from scenario text)');
}

describe('report.html in headless chromium, offline', () => {
  test('every chart of a run’s report renders, offline, without errors', async () => {
    const dir = copyFixture('base', root);
    const result = loadFixture('base');
    await writeRunReport(dir, result);
    const page = await open(join(dir, 'report.html'));
    const ids = await assertChartsRendered(page, buildReportModel(result).charts.length);
    assert.deepEqual(ids, ['latency-http1-s1', 'overhead-http1-s1', 'latency-http1-s4', 'overhead-http1-s4', 'throughput', 'cpu', 'memory'].map((id) => `chart-${id}`));
    const verdict = await page.textContent('#verdict');
    assert.match(verdict ?? '', /^At 300 req\/s over 4 services \(http1\), the median request took, over no mesh: sidecar proxies \+376 µs/);
    // The log axis of percentiles is labelled as HdrHistogram plots are.
    const labels = await page.$$eval('#chart-latency-http1-s1 svg text', (els) => els.map((e) => e.textContent));
    for (const label of ['50%', '90%', '99%', '99.9%']) assert.ok(labels.includes(label), `axis label ${label} in ${labels.join(' ')}`);
    await page.close();
    assertCleanLog();
  });

  test('a measured run’s report (real-quick) renders every chart', async () => {
    const dir = copyFixture('real-quick', root);
    const result = loadFixture('real-quick');
    await writeRunReport(dir, result);
    const page = await open(join(dir, 'report.html'));
    await assertChartsRendered(page, buildReportModel(result).charts.length);
    await page.close();
    assertCleanLog();
  });

  test('scenario text with markup shows as text and runs nothing', async () => {
    const dir = copyFixture('hostile-text', root);
    await writeRunReport(dir, loadFixture('hostile-text'));
    const page = await open(join(dir, 'report.html'));
    assert.equal(await page.textContent('h1'), 'meshbench — <script>alert("x")</script> & <b>bold</b>');
    assert.equal(await page.$$eval('body img, body b', (els) => els.length), 0);
    await assertChartsRendered(page, buildReportModel(loadFixture('hostile-text')).charts.length);
    await page.close();
    assertCleanLog();
  });
});

describe('dashboard in headless chromium, offline', () => {
  test('every trend chart renders, the regression is marked, and each run’s report opens', async () => {
    const history = join(root, 'history');
    syntheticHistory(history, 4, 2);
    const site = join(root, 'site');
    const dashboard = await buildDashboard(history, site, { thresholdPct: 5, iterations: 500 });
    const page = await open(dashboard.indexPath);
    await assertChartsRendered(page, 8); // 2 cell groups × (p50, p99, rps, CPU)
    // The regression night is marked in the sidecar's p50 trend: a red triangle.
    const triangles = await page.$$eval('#trend-http1-s4-p50 svg path[stroke="#c1121f"]', (els) => els.length);
    assert.ok(triangles >= 1, 'a regression marker');
    const badRows = await page.$$eval('tr.bad', (els) => els.map((e) => e.textContent));
    assert.equal(badRows.length, 1);
    assert.match(badRows[0]!, /n0002.*sidecar-http1-s1, sidecar-http1-s4/);
    // Follow the link of the latest run to its report.
    const href = await page.getAttribute('#runs a[href$="report.html"]', 'href');
    assert.ok(href);
    await page.close();
    const report = await open(join(site, href));
    await assertChartsRendered(report, buildReportModel(dashboard.runs.at(-1)!.result).charts.length);
    await report.close();
    assertCleanLog();
  });
});
