/**
 * The dashboard of a cluster's daemon in headless Chromium: the cluster
 * section lists every daemon of the cluster (this one marked), a lock held
 * through another daemon shows its holder as that daemon's owner (not one of
 * this daemon's clients), and the page logs no error.
 */
import { describe, expect, it } from 'vitest';
import { startCluster } from '../support/cluster.js';
import { launchBrowser, logIn, noBrowser } from '../support/browser.js';
import { until } from '../support/wait.js';

describe.skipIf(noBrowser !== undefined)('cluster dashboard in Chromium', () => {
  it('shows every daemon of the cluster and the cluster-wide state', async () => {
    await using c = await startCluster(2, { workers: 1 });
    const [a, b] = c.daemons;
    await c.untilMembers(2);
    const ca = await a!.connect({ name: 'on-a' });
    const cb = await b!.connect({ name: 'on-b' });
    await ca.value<number>('shared-count').add(3);
    const grant = await cb.lock('shared-lock').acquire();
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(e.message));
      await logIn(page, a!.port, c.token);
      await page.locator('#clusterSection').waitFor({ state: 'visible', timeout: 10_000 });
      const rows = page.locator('#cluster tbody');
      await until(async () => (await rows.innerText()).includes(b!.url), 10_000, 'the other daemon in the cluster table');
      const text = await rows.innerText();
      expect(text).toContain(a!.url);
      expect(text).toContain('(this one)');
      expect(await page.locator('#clusterName').innerText()).toContain(c.name);
      const state = page.locator('#state tbody');
      await until(async () => /shared-count\s+3/.test(await state.innerText()), 10_000, 'the value in the state section');
      await until(async () => /shared-lock\s+held by /.test(await state.innerText()), 10_000, 'the lock in the state section');
      // Held by b's client: never named as one of a's clients.
      expect(await state.innerText()).not.toContain('on-a');
      expect(grant.token).toBeGreaterThan(0);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
