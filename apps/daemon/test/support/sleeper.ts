/**
 * The task the cluster lending tests run: it sleeps with Atomics.wait (so
 * throughput depends on the number of workers, not on the machine's cores),
 * appends `<item> <pid>` to a log file (the side channel counting executions,
 * wherever the item ran), and returns [item, pid].
 */
import { readFileSync } from 'node:fs';

/** Source of the lending tests' task: sleeps `ms`, logs `<item> <pid>` to `log`, returns [item, pid]. */
export function sleeperSource(log: string, ms: number): string {
  return `(x) => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${ms});
    process.getBuiltinModule('node:fs').appendFileSync(${JSON.stringify(log)}, x + ' ' + process.pid + '\\n');
    return [x, process.pid];
  }`;
}

/** Executions logged by sleeperSource: per item, the pids it ran in. */
export function executions(log: string): Map<number, number[]> {
  const out = new Map<number, number[]>();
  let text: string;
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return out; // nothing ran yet
  }
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [item, pid] = line.split(' ').map(Number) as [number, number];
    out.set(item, [...(out.get(item) ?? []), pid]);
  }
  return out;
}
