/**
 * The lender's queue of a lent worker's reports (report-queue.ts): in order, a chunk's waiting
 * `started` messages coalesced into the latest, one `started` out only when nothing is in flight,
 * and a step queued behind the reports pushed before it.
 */
import { describe, expect, it } from 'vitest';
import { ReportQueue, type Report } from '../../src/cluster/report-queue.js';

const started = (key: number, i: number): Report => ({ m: { t: 'started', key, i }, field: `o:${key}`, attempt: 1, final: false });
const done = (key: number): Report => ({
  m: { t: 'done', key, payload: new Uint8Array(), errors: [], ms: 1, aborted: false },
  field: `o:${key}`,
  attempt: 1,
  final: true,
});

/** A queue whose sends are answered by hand; `said` lists what was sent. */
function queue() {
  const said: string[] = [];
  const answers: (() => void)[] = [];
  const q = new ReportQueue(
    (r) =>
      new Promise<void>((resolve) => {
        said.push(r.m.t === 'started' ? `s${r.m.key}.${r.m.i}` : `${r.m.t}${'key' in r.m ? r.m.key : ''}`);
        answers.push(resolve);
      }),
  );
  const answerAll = async (): Promise<void> => {
    while (answers.length > 0) {
      answers.shift()!();
      await new Promise((r) => setImmediate(r));
    }
  };
  return { q, said, answerAll };
}

describe('ReportQueue', () => {
  it('sends a started at once when nothing is in flight, then coalesces the next ones of its chunk until the answer', async () => {
    const { q, said, answerAll } = queue();
    q.push(started(1, 0));
    for (let i = 1; i <= 10_000; i++) q.push(started(1, i));
    expect(said).toEqual(['s1.0']);
    expect(q.waiting).toBe(1);
    await answerAll();
    expect(said).toEqual(['s1.0', 's1.10000']);
  });

  it('keeps the worker’s order: a done behind a waiting started goes after it; starts of another chunk are not merged', async () => {
    const { q, said, answerAll } = queue();
    q.push(started(1, 0));
    q.push(started(1, 1));
    q.push(done(1));
    q.push(started(2, 0));
    q.push(started(2, 1));
    await answerAll();
    expect(said).toEqual(['s1.0', 's1.1', 'done1', 's2.1']);
  });

  it('pipelines other reports, at most 8 in flight', async () => {
    const { q, said, answerAll } = queue();
    for (let k = 1; k <= 20; k++) q.push(done(k));
    expect(said.length).toBe(8);
    await answerAll();
    expect(said.length).toBe(20);
  });

  it('runs a step once every report pushed before it was sent, before any pushed after it', async () => {
    const { q, said, answerAll } = queue();
    q.push(started(1, 0));
    q.push(started(1, 5));
    q.then(() => said.push('end'));
    q.push(done(1));
    expect(said).toEqual(['s1.0']);
    await answerAll();
    expect(said).toEqual(['s1.0', 's1.5', 'end', 'done1']);
  });
});
