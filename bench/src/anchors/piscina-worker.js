// piscina-worker.js - the functions piscina's threads run, picked by `name`.
export { heavy, busy1ms, double, doubleBatch } from '../lib/tasks.js';
export default function echo(x) {
  return x;
}
