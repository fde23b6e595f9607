// helper-thread-gc.mjs - run with --trace-gc --trace-gc-verbose and a short
// --gc-memory-reducer-start-delay-ms: the main isolate makes a little garbage
// (so the first address traced is its own), then a thread is started through
// startHelperThread (argv[3] 'helper') or plainly ('plain'); the thread, and
// then the main isolate, fill and drop tens of MB, which arms an isolate's
// memory reducer if it has one ("Memory reducer: ..." lines once its timer
// runs). The process exits argv[4] ms after both have finished, not at a fixed
// time: on a loaded machine the churn alone can outlast any fixed time, and
// the reducer's timer would never be reached. helper-thread.test.ts reads
// which isolates printed them.
import { Worker } from 'node:worker_threads';

const { startHelperThread } = await import(process.argv[2]);
const mode = process.argv[3];

/** Fills and drops `n` small objects; returns how many. */
function fill(n) {
  const keep = [];
  for (let i = 0; i < n; i++) keep.push({ i });
  return keep.length;
}

function churn() {
  fill(1_500_000);
  let g;
  for (let j = 0; j < 20_000_000; j++) g = { j, k: [j] };
  return g;
}

fill(400_000);
const code = `${fill.toString()}; ${churn.toString()}; churn();
require('node:worker_threads').parentPort.postMessage('churned'); setInterval(() => {}, 1000);`;
const make = () => new Worker(code, { eval: true });
const thread = mode === 'helper' ? startHelperThread(make) : make();
thread.unref();
let pending = 2;
const finished = () => {
  if (--pending === 0) setTimeout(() => process.exit(0), Number(process.argv[4]));
};
thread.once('message', finished);
thread.once('online', () =>
  setTimeout(() => {
    churn();
    finished();
  }, 100),
);
