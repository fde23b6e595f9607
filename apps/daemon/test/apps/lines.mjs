// Shared by the app scripts: parameters from argv[2], a line-based stdin, JSON out.
import { createInterface } from 'node:readline';

/** The JSON parameters the test passed. */
export const params = JSON.parse(process.argv[2] ?? '{}');

/** Prints one JSON line. */
export function out(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

const rl = createInterface({ input: process.stdin });
const queued = [];
const waiting = [];
rl.on('line', (l) => {
  const w = waiting.shift();
  if (w) w(l);
  else queued.push(l);
});

/** The next line the test writes to stdin. */
export function nextLine() {
  const l = queued.shift();
  if (l !== undefined) return Promise.resolve(l);
  return new Promise((resolve) => waiting.push(resolve));
}

/** Prints { ready: true } and waits for the test's "go", so several apps start together. */
export async function ready() {
  out({ ready: true, pid: process.pid });
  await nextLine();
}

/** Exits once stdout is flushed (readline would otherwise keep the process alive). */
export function finish(obj) {
  if (obj !== undefined) out(obj);
  rl.close();
  process.stdin.destroy();
}
