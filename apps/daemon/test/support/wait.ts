/**
 * Waiting for a state instead of sleeping a fixed time: poll an observable
 * condition until it holds, and fail with what was awaited past a deadline.
 */
import type { DaemonStatus } from '@corepool/protocol';

/** Resolves when `pred` holds, polling; rejects after `ms`. */
export async function until(pred: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Resolves once `status()` shows an item running on a worker: any item, or
 * one of the client named `client`. The state a test waits for before it
 * kills, stops or aborts "mid-batch".
 */
export async function untilRunning(status: () => Promise<DaemonStatus>, client?: string, ms = 10_000): Promise<void> {
  await until(
    async () => {
      const s = await status();
      return client === undefined ? s.runningItems > 0 : s.clients.some((c) => c.name === client && c.runningChunks > 0);
    },
    ms,
    client === undefined ? 'an item running' : `an item of ${client} running`,
  );
}
