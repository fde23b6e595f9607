/**
 * Row 13 at full size: CP_ADDERS (50) app processes x CP_ADDS (2,000) awaited
 * add(1), plus a batch whose tasks add through ctx, plus a subscriber. The
 * values add() resolves to are exactly 1..total (a linearizability witness),
 * the final value is exact, and the subscriber never goes backwards.
 */
import { describe, expect, it } from 'vitest';
import { startDaemon } from '../support/daemon.js';
import { until } from '../support/wait.js';
import { figure } from '../support/figures.js';
import { startApp, startTogether } from '../apps/spawn-app.js';

const ADDERS = Number(process.env.CP_ADDERS ?? 50);
const ADDS = Number(process.env.CP_ADDS ?? 2000);
const TASK_ADDS = 2000;

describe('row 13 soak: many clients increment one Value', () => {
  it(`${ADDERS} processes x ${ADDS} adds + ${TASK_ADDS} task adds`, async () => {
    await using d = await startDaemon();
    const client = await d.connect();
    const name = 'many';
    await client.value<number>(name).set(0);
    const seen: number[] = [];
    client.value<number>(name).subscribe((v) => seen.push(v));
    const apps = Array.from({ length: ADDERS }, () => startApp(d, 'adder.mjs', { name, n: ADDS }));
    try {
      await startTogether(apps);
      const t0 = performance.now();
      const tasks = client.map(
        async (_x: number, ctx: { value(n: string): { add(d: number): Promise<number> } }) => ctx.value('many').add(1),
        Array.from({ length: TASK_ADDS }, (_, i) => i),
      );
      const outs = await Promise.all(apps.map((a) => a.done()));
      const fromTasks = await tasks;
      const total = ADDERS * ADDS + TASK_ADDS;
      figure('row 13 adds per second', Math.round((total / (performance.now() - t0)) * 1000));
      const all = [...outs.flatMap((o) => o.results as number[]), ...fromTasks].sort((a, b) => a - b);
      expect(all.length).toBe(total);
      for (let i = 0; i < total; i++) if (all[i] !== i + 1) expect.fail(`add results are not 1..${total}: position ${i} holds ${all[i]}`);
      expect(await client.value<number>(name).get()).toBe(total);
      await until(() => seen.at(-1) === total, 10_000, 'the subscriber to reach the total');
      for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThan(seen[i - 1]!);
    } finally {
      await Promise.all(apps.map((a) => a[Symbol.asyncDispose]()));
    }
  });
});
