/**
 * Headless Chromium for the dashboard's browser tests: the machine's
 * /usr/bin/chromium (or $COREPOOL_CHROMIUM) driven by playwright-core, with
 * no network of its own beside the daemon, a fresh profile per launch, and a
 * login helper.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.COREPOOL_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can. */
export const noBrowser = existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM}`;

/** Launches Chromium headless (chromium.launch gives it a fresh, temporary profile). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Logs `page` in to the dashboard of the daemon on `port`; resolves once the page is live. */
export async function logIn(page: Page, port: number, token: string): Promise<void> {
  await page.goto(`http://127.0.0.1:${port}/login`);
  await page.fill('input[name=token]', token);
  await page.click('button[type=submit]');
  await page.waitForURL(`http://127.0.0.1:${port}/`);
  await page.locator('#live.ok').waitFor({ timeout: 10_000 });
}
