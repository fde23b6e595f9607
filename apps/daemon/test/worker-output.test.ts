/**
 * A worker's output reaches the daemon's within a budget (issue 9, item 11):
 * a task printing 24 MB leaves the daemon's output (daemon.log when detached)
 * a few MB at most, says how much it dropped, logs each line as JSON naming the
 * worker's slot and pid, and another app's map beside it completes.
 */
import { expect, it } from 'vitest';
import { startDaemon } from './support/daemon.js';
import { until } from './support/wait.js';

const PRINTED = 24 * 1024 * 1024;

it('24 MB printed by a task: the daemon writes a bounded part, reports the rest as dropped, and a neighbour completes', async () => {
  await using d = await startDaemon({ workers: 2 });
  const noisy = await d.connect({ name: 'noisy' });
  const calm = await d.connect({ name: 'calm' });
  const flood = noisy.map(
    (total: number) => {
      const line = `${'x'.repeat(99)}\n`;
      for (let n = 0; n < total; n += line.length) process.stdout.write(line);
      console.error('stderr-after-the-flood');
      return total;
    },
    [PRINTED],
  );
  const neighbour = calm.map(
    (x: number) => x + 1,
    Array.from({ length: 200 }, (_, i) => i),
    { chunkSize: 5 },
  );
  expect(await neighbour).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  expect(await flood).toEqual([PRINTED]);

  const dropped = (): number => d.events('worker-output-dropped').reduce((n, e) => n + Number(e.bytes), 0);
  // The primary reads what it drops at a bounded rate too: the report comes as the worker's queued output drains.
  await until(() => dropped() > PRINTED - 8 * 1024 * 1024, 120_000, 'the drop report');
  const written = d.output.reduce((n, line) => n + line.length, 0);
  expect(written).toBeLessThan(8 * 1024 * 1024);
  // Each printed line is one JSON log line naming the worker (slot, pid) and the stream.
  const lines = d.events('worker-output').filter((e) => e.stream === 'stdout');
  expect(lines.length).toBeGreaterThan(0);
  expect(lines.every((e) => /^x+$/.test(String(e.line)) && typeof e.slot === 'number' && typeof e.pid === 'number')).toBe(true);
  expect(lines.every((e) => e.level === 'info' && typeof e.time === 'string')).toBe(true);
  // stderr has a budget of its own: the line after the flood on stdout still gets through.
  await until(
    () => d.events('worker-output').some((e) => e.stream === 'stderr' && e.line === 'stderr-after-the-flood' && e.level === 'warn'),
    10_000,
    'the stderr line',
  );
}, 240_000);

it("a function task's first import() prints no warning of the worker's own; a task's own warning is still logged", async () => {
  await using d = await startDaemon({ workers: 1 });
  const c = await d.connect();
  // Written as a string: vitest would rewrite a literal import() in the test's own source.
  const importing = new Function(`return (async (x) => {
    const os = await import('node:os');
    process.emitWarning('the-task-s-own-warning');
    return typeof os.cpus === 'function' ? x : -1;
  })`)() as (x: number) => Promise<number>;
  expect(await c.map(importing, [1, 2])).toEqual([1, 2]);
  await until(() => d.events('worker-output').some((e) => String(e.line).includes('the-task-s-own-warning')), 10_000, "the task's warning");
  expect(d.events('worker-output').filter((e) => /ExperimentalWarning|USE_MAIN_CONTEXT/.test(String(e.line)))).toEqual([]);
});
