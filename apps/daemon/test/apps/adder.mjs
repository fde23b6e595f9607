// Adds 1 to the value `name`, `n` times, each add awaited; prints every result.
// mode "locked": a non-atomic get-then-set under lock `lock` instead, printing fencing tokens.
import { connect } from '@corepool/client';
import { finish, params, ready } from './lines.mjs';

const { name, n, mode = 'add', lock: lockName } = params;
const client = await connect();
const value = client.value(name);
const lock = mode === 'locked' ? client.lock(lockName) : undefined;
await ready();
const results = [];
const tokens = [];
const t0 = performance.now();
for (let i = 0; i < n; i++) {
  if (lock === undefined) {
    results.push(await value.add(1));
  } else {
    await lock.withLock(async (token) => {
      tokens.push(token);
      const x = await value.get();
      await value.set(x + 1);
    });
  }
}
const ms = performance.now() - t0;
await client.close();
finish({ done: true, pid: process.pid, ms, results, tokens });
