/**
 * Loaded into a test daemon's primary with `node --import`: watches the
 * built-in prototypes for pollution while hostile frames are decoded. Prints
 * {"event":"proto-polluted",...} on any change, and on SIGUSR2 prints
 * {"event":"proto-check","ok":...} so a test can ask at a moment it chooses.
 */
const watched = { Object: Object.prototype, Array: Array.prototype, Function: Function.prototype, String: String.prototype };
const snapshot = Object.fromEntries(Object.entries(watched).map(([k, p]) => [k, Reflect.ownKeys(p).map(String).sort().join(',')]));

function changed() {
  const bad = [];
  for (const [k, p] of Object.entries(watched)) {
    if (Reflect.ownKeys(p).map(String).sort().join(',') !== snapshot[k]) bad.push(k);
  }
  if (Object.getPrototypeOf(Object.prototype) !== null) bad.push('Object.prototype.__proto__');
  return bad;
}

let reported = false;
setInterval(() => {
  const bad = changed();
  if (bad.length > 0 && !reported) {
    reported = true;
    console.log(JSON.stringify({ event: 'proto-polluted', prototypes: bad }));
  }
}, 100).unref();
process.on('SIGUSR2', () => {
  const bad = changed();
  console.log(JSON.stringify({ event: 'proto-check', ok: bad.length === 0, prototypes: bad }));
});
