/**
 * The dashboard in a real browser (headless Chromium driven by
 * playwright-core) against a real daemon: the login (wrong token refused,
 * right one let in), figures that move while a batch runs, a Value's live
 * value in the named state, and no script or style the page's CSP blocks.
 * With UPDATE_SCREENSHOT=1 it writes docs/dashboard.png (the README's).
 * Skipped where no Chromium is installed (COREPOOL_CHROMIUM names another).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, noBrowser } from './support/browser.js';
import { startDaemon, type TestDaemon } from './support/daemon.js';
import { until } from './support/wait.js';

const SCREENSHOT = fileURLToPath(new URL('../../../docs/dashboard.png', import.meta.url));

let d: TestDaemon;
let browser: Browser;
let page: Page;
/** Console messages and page errors: a CSP violation shows up here. */
const problems: string[] = [];

/** The number a figure of the page shows (commas removed); NaN for "–". */
async function figure(id: string): Promise<number> {
  return Number((await page.locator(`#${id}`).innerText()).replace(/,/g, ''));
}

describe.skipIf(noBrowser !== undefined)('dashboard in Chromium', () => {
  beforeAll(async () => {
    d = await startDaemon({ workers: 2 });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  });

  afterAll(async () => {
    await browser?.close();
    await d?.[Symbol.asyncDispose]();
  });

  it('shows the login without a session, refuses a wrong token, lets the right one in', async () => {
    await page.goto(`http://127.0.0.1:${d.port}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await expect(page.locator('input[name=token]').count()).resolves.toBe(1);

    await page.fill('input[name=token]', `${d.token}x`);
    const wrong = page.waitForResponse((r) => r.url().endsWith('/login') && r.request().method() === 'POST');
    await page.click('button[type=submit]');
    expect((await wrong).status()).toBe(401);
    await page.locator('.error').waitFor();
    expect(await page.locator('.error').innerText()).toContain('not this daemon');

    await page.fill('input[name=token]', d.token);
    await page.click('button[type=submit]');
    await page.waitForURL(`http://127.0.0.1:${d.port}/`);
    await until(async () => (await page.locator('#live').innerText()).startsWith('live'), 10_000, 'the page to go live');
    expect(await page.locator('#workers tbody tr').count()).toBe(2);
  });

  it('moves its figures while a batch runs, and shows a Value live after an add', async () => {
    problems.length = 0; // the wrong login's 401 is logged by the browser as a failed load
    const a = await d.connect({ name: 'render-farm' });
    const b = await d.connect({ name: 'thumbnailer' });
    const before = await figure('itemsDone');
    expect(before).toBe(0);
    // About 20 ms of CPU per item: the batch lasts seconds, long enough for several polls of the page.
    const spin = (ms: number): boolean => {
      const end = Date.now() + ms;
      let x = 0;
      while (Date.now() < end) x++;
      return x > 0;
    };
    const batchA = a.map(
      spin,
      Array.from({ length: 400 }, () => 20),
    );
    const batchB = b.map(
      spin,
      Array.from({ length: 300 }, () => 20),
    );

    const seen: number[] = [];
    await until(
      async () => {
        const n = await figure('itemsDone');
        if (seen.at(-1) !== n) seen.push(n);
        return seen.filter((x) => x > 0 && x < 700).length >= 2;
      },
      30_000,
      'items done to move twice mid-batch',
    );
    await until(async () => (await figure('throughput')) > 0, 20_000, 'a throughput above 0');
    await until(async () => (await page.locator('#workers tbody').innerText()).includes('busy'), 20_000, 'a busy worker');
    const clients = await page.locator('#clients tbody').innerText();
    expect(clients).toContain('render-farm');
    expect(clients).toContain('thumbnailer');

    await a.value<number>('frames-rendered').add(5);
    await b.queue<string>('thumbnails-todo').put('cover.jpg');
    await b.dict<string>('settings').set('quality', 'high');
    const grant = await a.lock('gpu').acquire();
    const stateText = (): Promise<string> => page.locator('#state tbody').innerText();
    await until(async () => /frames-rendered\s+5\s+1/.test(await stateText()), 10_000, 'the value at 5 in the state section');
    await a.value<number>('frames-rendered').add(2);
    await until(async () => /frames-rendered\s+7\s+2/.test(await stateText()), 10_000, 'the value at 7 in the state section');
    const text = await stateText();
    expect(text).toMatch(/thumbnails-todo\s+1 item\b/);
    expect(text).toMatch(/settings\s+1 key\b/);
    expect(text).toMatch(/gpu\s+held by render-farm/);
    expect(grant.token).toBeGreaterThan(0);

    if (process.env.UPDATE_SCREENSHOT === '1') {
      // Mid-batch, with a few seconds of chart behind it.
      await until(async () => (await figure('itemsDone')) > 300, 30_000, 'some history for the charts');
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    }
    await Promise.all([batchA, batchB]);
    await until(async () => (await figure('itemsDone')) === 700, 10_000, 'items done at 700 after the batches');
    expect(problems).toEqual([]);
  });

  it('logs out: the page goes back to the login and the session no longer reads the API', async () => {
    const cookie = (await page.context().cookies()).find((c) => c.name === 'corepool_session');
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe('Strict');
    const withOld = (): Promise<Response> =>
      fetch(`http://127.0.0.1:${d.port}/api/status`, { headers: { cookie: `corepool_session=${cookie!.value}` } });
    expect((await withOld()).status).toBe(200);
    await page.click('header form button');
    await page.waitForURL(`http://127.0.0.1:${d.port}/login`);
    // The old cookie, sent again, is refused: the session ended at the daemon, not only in the browser.
    expect((await withOld()).status).toBe(401);
  });
});
