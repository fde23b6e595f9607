/**
 * Waiting for a state instead of sleeping a fixed time: poll an observable
 * condition until it holds, and fail with what was awaited past a deadline.
 */

/** Resolves when `pred` holds, polling; rejects after `ms`. */
export async function until(pred: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}
