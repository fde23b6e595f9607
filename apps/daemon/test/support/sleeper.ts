/**
 * The task the cluster lending tests run: it sleeps with Atomics.wait (so
 * throughput depends on the number of workers, not on the machine's cores),
 * appends `<item> <pid>` to a log file (the side channel counting executions,
 * wherever the item ran), and returns [item, pid].
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { figure } from './figures.js';
import type { RawOutcome } from './raw-map.js';

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

/**
 * The checks after a daemon failed under lent chunks: every item delivered exactly once with
 * its own value; every item ran, some maybe twice (execution is at least once), which is
 * recorded as the figure `<name>.items-run-twice`.
 */
export function expectOnceEach(outcomes: RawOutcome[], items: number[], log: string, name: string): void {
  expect(outcomes.length).toBe(items.length);
  const delivered = new Map<number, number>();
  for (const [i, o] of outcomes) {
    expect(o.ok && (o.value as number[])[0] === i).toBe(true);
    delivered.set(i, (delivered.get(i) ?? 0) + 1);
  }
  for (const i of items) expect(delivered.get(i)).toBe(1);
  const ran = executions(log);
  for (const i of items) expect(ran.get(i)?.length ?? 0).toBeGreaterThanOrEqual(1);
  figure(`${name}.items-run-twice`, [...ran.values()].filter((p) => p.length > 1).length);
}
