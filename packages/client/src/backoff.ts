/** Reconnect delay: exponential from 100 ms to 5 s, with full jitter on the upper half. */
export function backoff(attempt: number): number {
  const base = Math.min(5000, 100 * 2 ** Math.min(attempt, 10));
  return base / 2 + Math.random() * (base / 2);
}
