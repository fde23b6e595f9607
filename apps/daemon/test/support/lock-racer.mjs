// lock-racer.mjs - a process that takes a data dir's start lock when its parent says
// (start-lock-race.test.ts): at the same instant as its siblings, from the built module.
import { takeStartLock } from '../../dist/primary/start-lock.js';

let release;
process.on('message', (m) => {
  if (m.type === 'go') {
    // Every racer spins to the same instant: they reach the lock within microseconds of each other.
    while (Date.now() < m.at) {
      /* spin */
    }
    try {
      release = takeStartLock(m.dir);
      process.send({ type: 'outcome', got: true });
    } catch (err) {
      process.send({ type: 'outcome', got: false, code: err.code, message: err.message });
    }
  } else if (m.type === 'release') {
    release?.();
    release = undefined;
    process.send({ type: 'released' });
  } else if (m.type === 'exit') process.exit(0);
});
process.send({ type: 'ready' });
