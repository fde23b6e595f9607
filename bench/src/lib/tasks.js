// tasks.js - the task functions every Node system runs, byte for byte.
//
// Each one is self-contained (no closure variables, no imports) because
// corepool sends a function as source to its workers. The Python anchors
// mirror them in bench/src/anchors/*.py.

/** CPU task: sum of i % (n + 1) over iters iterations. Use the same n for every task. */
export function heavy(item) {
  const n = item.n;
  const iters = item.iters;
  let s = 0;
  for (let i = 0; i < iters; i++) s += i % (n + 1);
  return s;
}

/** Efficiency task: 1 ms of busy work, then the item back. */
export function busy1ms(x) {
  const end = performance.now() + 1;
  while (performance.now() < end) {
    /* busy */
  }
  return x;
}

/** Trivial task. */
export function double(x) {
  return x * 2;
}

/** Trivial task over a batch (for systems that batch by hand). */
export function doubleBatch(xs) {
  const out = new Array(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = xs[i] * 2;
  return out;
}

/** What heavy({ n, iters }) must return: the closed form of the sum. */
export function heavyExpected(n, iters) {
  const m = n + 1;
  const q = Math.floor(iters / m);
  const r = iters % m;
  return q * ((m * (m - 1)) / 2) + (r * (r - 1)) / 2;
}

/** Sum of 2 * i for i in [0, count): what doubling 0..count-1 must add up to. */
export function doubledSum(count) {
  return count * (count - 1);
}
