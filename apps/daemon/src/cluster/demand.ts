/**
 * demand.ts - this daemon's demand as the lenders see it (`want`: app ->
 * `<owner>:<queued chunks>`, docs/cluster.md "How a chunk flows between
 * daemons", step 1): the apps (client realms) with chunks queued that the
 * local workers cannot take now, published a few times a second through the
 * `demand` script; an app whose queue emptied is withdrawn. The counts need
 * not be exact: a lender's grant takes its share off them until the next
 * publication, and a slot lent for nothing goes back when idle.
 */
import type { LendingScripts } from './lending-scripts.js';

export class Demand {
  readonly #scripts: LendingScripts;
  /** Apps published with demand. */
  readonly #published = new Set<string>();

  constructor(scripts: LendingScripts) {
    this.#scripts = scripts;
  }

  /** Publishes `queued` (chunks per app) for `owner`, withdrawing the apps published before and absent now. */
  async publish(owner: string, queued: Map<string, number>): Promise<void> {
    const changes: [string, number][] = [...queued];
    for (const app of this.#published) if (!queued.has(app)) changes.push([app, 0]);
    for (const [app, q] of changes) {
      if (q > 0) this.#published.add(app);
      else this.#published.delete(app);
    }
    try {
      await this.#scripts.demand(owner, changes);
    } catch (err) {
      // Still published as far as Redis knows: withdrawn again next time. Forgotten here, an app whose
      // withdrawal failed kept its `want` entry for the daemon's life, and lenders granted it slots for nothing.
      for (const [app, q] of changes) if (q === 0) this.#published.add(app);
      throw err;
    }
  }

  /** Withdraws everything this daemon published (a graceful stop). */
  withdrawAll(owner: string): Promise<void> {
    return this.publish(owner, new Map());
  }

  /** This incarnation is over: its entries are the lenders' to drop (its lease is gone); publish afresh. */
  forget(): void {
    this.#published.clear();
  }
}
