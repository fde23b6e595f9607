/**
 * The withdrawal table's two halves racing on two real threads (worker/withdraw-gate.ts): this
 * thread starts chunks 1..N in order through mayStart, as a worker's main thread does, while a
 * worker thread asks to withdraw keys around the one starting, through the same withdrawAnswer the
 * orphan guard runs. Every answer must match what happened: withdrawn exactly when the chunk was
 * skipped, kept or full only for a chunk that ran; nothing noted is left in the table. This thread
 * runs no more than 64 chunks ahead of the asker, as a worker holds no more than a lane's chunks
 * the primary may still ask about (the ring's bound, withdraw-gate.ts).
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { STARTED_RING, WITHDRAW_SLOTS, mayStart, withdrawAnswer, withdrawGate } from '../src/worker/withdraw-gate.js';

const N = 200_000;
const [WITHDRAWN, KEPT, FULL] = [1, 2, 3];

describe('withdraw gate', () => {
  it('answers race chunk starts on two threads and never disagree with them', async () => {
    // [0]: the key this thread is about to start; [1]: 1 once it is done; [2]: where the asker is. answers[k]: the answer for key k (0: not asked).
    const progress = new Int32Array(new SharedArrayBuffer(12));
    const answers = new Int32Array(new SharedArrayBuffer(4 * (N + 2)));
    const asker = new Worker(
      `
      const { workerData, parentPort } = require('node:worker_threads');
      const withdrawAnswer = ${withdrawAnswer.toString()};
      const gate = new BigInt64Array(workerData.gate);
      const progress = new Int32Array(workerData.progress);
      const answers = new Int32Array(workerData.answers);
      let asked = 0;
      parentPort.postMessage('ready');
      let turn = 0;
      while (Atomics.load(progress, 1) === 0) {
        // Around the chunk starting now: just started, starting, or next.
        const p = Atomics.load(progress, 0);
        const k = p + (turn++ % 3) - 1;
        if (k >= 1 && k <= ${N} && answers[k] === 0) {
          answers[k] = withdrawAnswer(gate, k, ${STARTED_RING}, ${WITHDRAW_SLOTS}, [${WITHDRAWN}, ${KEPT}, ${FULL}]);
          asked++;
        }
        Atomics.store(progress, 2, p);
      }
      parentPort.postMessage(asked);
      `,
      { eval: true, workerData: { gate: withdrawGate.buffer, progress: progress.buffer, answers: answers.buffer } },
    );
    const asked = new Promise<number>((resolve, reject) => {
      asker.on('message', (m: unknown) => {
        if (typeof m === 'number') resolve(m);
      });
      asker.on('error', reject);
    });
    await new Promise((r) => asker.once('message', r));
    const skipped = new Uint8Array(N + 2);
    for (let k = 1; k <= N; k++) {
      while (k > Atomics.load(progress, 2) + 64);
      Atomics.store(progress, 0, k);
      if (!mayStart(k)) skipped[k] = 1;
    }
    Atomics.store(progress, 1, 1);
    const count = await asked;
    await asker.terminate();
    let withdrawn = 0;
    let kept = 0;
    for (let k = 1; k <= N; k++) {
      const a = answers[k];
      if (a === WITHDRAWN) withdrawn++;
      if (a === KEPT) kept++;
      if ((a === WITHDRAWN) !== (skipped[k] === 1)) expect.fail(`key ${k}: answered ${a}, skipped ${skipped[k]}`);
    }
    // Both sides of the race happened, and the table is empty: every key noted was reached.
    expect(count).toBeGreaterThan(1000);
    expect(withdrawn).toBeGreaterThan(0);
    expect(kept).toBeGreaterThan(0);
    for (let s = STARTED_RING; s < STARTED_RING + WITHDRAW_SLOTS; s++) expect(Atomics.load(withdrawGate, s)).toBe(0n);
  });
});
