/**
 * The bounds of status.recentErrors and of the metrics' client label, without
 * a daemon: repeats coalesce, a client holds at most PER_CLIENT entries, the
 * ring at most MAX_ENTRIES, and past MAX_CLIENT_LABELS names count as "other"
 * until a name's last connection leaves.
 */
import { describe, expect, it } from 'vitest';
import { MAX_ENTRIES, MAX_MESSAGE, PER_CLIENT, RecentErrors } from '../src/primary/recent-errors.js';
import { ClientLabels, MAX_CLIENT_LABELS, OTHER } from '../src/primary/client-labels.js';

describe('RecentErrors', () => {
  it('coalesces a client repeating a code into one entry, newest last, with its count', () => {
    const r = new RecentErrors();
    r.add('E_TIMEOUT', 'first', 'a', 1, 1);
    for (let i = 0; i < 1000; i++) r.add('E_TASK_FAILED', `failure ${i}`, 'b', 1, 10 + i);
    r.add('E_TASK_FAILED', 'odd one', 'c', 1, 5000);
    const list = r.list();
    expect(list).toHaveLength(3);
    expect(list[0]).toMatchObject({ code: 'E_TIMEOUT', client: 'a' });
    expect(list[1]).toMatchObject({ code: 'E_TASK_FAILED', client: 'b', message: 'failure 999', repeats: 1000, at: 1009 });
    expect(list[2]).toMatchObject({ client: 'c', message: 'odd one' });
    expect(list[2]!.repeats).toBeUndefined();
  });

  it('a client gets at most PER_CLIENT entries; the whole at most MAX_ENTRIES; messages are cut', () => {
    const r = new RecentErrors();
    r.add('E_INTERNAL', 'daemon-level');
    for (let i = 0; i < 40; i++) r.add(`E_CODE_${i}`, 'x'.repeat(10_000), 'noisy');
    expect(r.list().filter((e) => e.client === 'noisy')).toHaveLength(PER_CLIENT);
    expect(r.list()[0]!.message).toBe('daemon-level');
    for (const e of r.list()) expect(e.message.length).toBeLessThanOrEqual(MAX_MESSAGE);
    for (let i = 0; i < 200; i++) r.add('E_TASK_FAILED', 'm', `name-${i}`);
    expect(r.list()).toHaveLength(MAX_ENTRIES);
    expect(r.list().at(-1)!.client).toBe('name-199');
  });
});

describe('ClientLabels', () => {
  it('gives the first names a label each, the rest "other", and frees a label with its last connection', () => {
    const freed: string[] = [];
    const labels = new ClientLabels((l) => freed.push(l));
    const taken = Array.from({ length: MAX_CLIENT_LABELS + 10 }, (_, i) => labels.take(`app-${i}`));
    expect(new Set(taken).size).toBe(MAX_CLIENT_LABELS + 1);
    expect(taken.at(-1)).toBe(OTHER);
    expect(labels.take('app-0')).toBe('app-0'); // a second connection under a labelled name
    labels.release('app-0');
    expect(freed).toEqual([]);
    labels.release('app-0');
    expect(freed).toEqual(['app-0']);
    expect(labels.take('newcomer')).toBe('newcomer');
    expect(labels.take(OTHER)).toBe(OTHER);
    expect(labels.take('')).toBe(OTHER); // full again
    expect(new ClientLabels(() => {}).take('')).toBe('(unnamed)');
  });
});
