// The watcher process of the shared-counter demo: subscribes to the counter
// and prints its live value at most every 100 ms, with the rate since the
// last print. Exits once it has seen the final value its parent sends.
// argv: <counter name>
import { connect } from '@corepool/client';

const PRINT_EVERY_MS = 100;
const [name] = /** @type {[string]} */ (process.argv.slice(2));
if (process.send === undefined) throw new Error('watcher.js runs forked by main.js (it reports over IPC)');
const client = await connect(undefined, { name: 'shared-counter watcher' });
const counter = /** @type {import('@corepool/client').Value<number>} */ (client.value(name));

let latest = 0;
let printed = { value: 0, at: performance.now() };
/** @type {number | undefined} */
let expected;

function print(force = false) {
  const now = performance.now();
  if (!force && latest === printed.value) return;
  const rate = ((latest - printed.value) / (now - printed.at)) * 1000;
  console.log(`  watcher: ${String(latest).padStart(6)}  (${Math.round(rate).toLocaleString('en-US')} increments/s)`);
  printed = { value: latest, at: now };
}

function finish() {
  clearInterval(timer);
  stop();
  print();
  void client.close().then(() => process.disconnect());
}

const stop = counter.subscribe((v) => {
  // Rates count from the first change, not from the wait before the apps start.
  if (latest === 0 && v > 0) printed = { value: 0, at: performance.now() };
  latest = v;
  if (expected !== undefined && latest >= expected) finish();
});
const timer = setInterval(print, PRINT_EVERY_MS);
process.on('message', (/** @type {{ expected: number }} */ m) => {
  expected = m.expected;
  if (latest >= expected) finish();
});
// A round trip after subscribing: the subscription is in place before the apps start.
await counter.get();
process.send({ type: 'ready' });
