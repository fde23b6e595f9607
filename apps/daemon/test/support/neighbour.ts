/**
 * An honest neighbour beside a hostile app: awaited `add(1)`s on a counter, one at a time, for as
 * long as the hostile work runs. What it measures is how many it made and the slowest one.
 */
import { connect, type Value } from '@corepool/client';
import type { App } from '../apps/spawn-app.js';

export interface NeighbourAdds {
  /** Stops the loop once its add in flight is done: how many adds, and the slowest in ms. */
  stop(): Promise<{ adds: number; slowestAddMs: number }>;
}

/** Starts the neighbour's adds on `counter`. */
export function addsBeside(counter: Value<number>): NeighbourAdds {
  let stop = false;
  let adds = 0;
  let slowestAddMs = 0;
  const loop = (async () => {
    while (!stop) {
      const t0 = performance.now();
      await counter.add(1);
      slowestAddMs = Math.max(slowestAddMs, performance.now() - t0);
      adds++;
    }
  })();
  return {
    async stop() {
      stop = true;
      await loop;
      return { adds, slowestAddMs };
    },
  };
}

/**
 * The same neighbour where its adds may fail (Redis held past the silent-link check): each failure's
 * code is kept, and the loop goes on. `slowestMs` is rounded.
 */
export function addsCountingErrors(counter: Value<number>): {
  stop(): Promise<{ adds: number; errors: string[]; slowestMs: number }>;
} {
  let stop = false;
  const out = { adds: 0, errors: [] as string[], slowestMs: 0 };
  const loop = (async () => {
    while (!stop) {
      const t0 = performance.now();
      const code = await counter.add(1).then(
        () => undefined,
        (e: unknown) => (e as { code: string }).code,
      );
      out.slowestMs = Math.max(out.slowestMs, Math.round(performance.now() - t0));
      if (code === undefined) out.adds++;
      else out.errors.push(code);
    }
  })();
  return {
    async stop() {
      stop = true;
      await loop;
      return out;
    },
  };
}

/**
 * A neighbour connected to the daemon at `url` counting its adds and their errors while `app` (ready,
 * waiting for 'go') runs its burst: the app's last line and what the neighbour saw.
 */
export async function beside<B>(
  url: string,
  token: string,
  app: App,
): Promise<{ burst: B; neighbour: { adds: number; errors: string[]; slowestMs: number } }> {
  const near = await connect(url, { token });
  try {
    const counter = near.value<number>('neighbour', { initial: 0 });
    await counter.add(0);
    const loop = addsCountingErrors(counter);
    await new Promise((r) => setTimeout(r, 200));
    app.send('go');
    const burst = (await app.done()) as B;
    return { burst, neighbour: await loop.stop() };
  } finally {
    await near.close();
  }
}
