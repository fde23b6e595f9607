// The multi-app shared counter: Python's `multiprocessing.Value('i', 0)`
// with `with v.get_lock(): v.value += 1`, shared here by separate programs.
// Several app processes each add 1 to one counter N times, a batch of tasks
// in the daemon's workers adds 1 per item through ctx.value, and a watcher
// process prints the live value. Every add is atomic: the final value must
// be exactly the number of adds. Starts a local daemon if none runs.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect } from '@corepool/client';

const APPS = 4;
const ADDS_PER_APP = 2_000;
const TASK_ADDS = 4_000;
const EXPECTED = APPS * ADDS_PER_APP + TASK_ADDS;

const here = (/** @type {string} */ file) => fileURLToPath(new URL(file, import.meta.url));

/** @type {import('node:child_process').ChildProcess[]} */
const children = [];

/**
 * Forks `file` with `args`: `next(type)` resolves with its first message of that type, `exited` with its last message.
 * @param {string} file
 * @param {string[]} args
 */
function start(file, args) {
  const child = fork(here(file), args, { stdio: 'inherit' });
  children.push(child);
  /** @type {any[]} the children's IPC messages: plain objects, shaped by app.js and watcher.js */
  const messages = [];
  /** @type {((value?: unknown) => void)[]} */
  const waiters = [];
  child.on('message', (m) => {
    messages.push(m);
    for (const w of waiters.splice(0)) w();
  });
  /** @type {Promise<any>} */
  const exited = new Promise((resolve, reject) => {
    child.once('exit', (code) => (code === 0 ? resolve(messages.at(-1)) : reject(new Error(`${file} exited with ${code}`))));
  });
  const next = async (/** @type {string} */ type) => {
    for (;;) {
      const m = messages.find((x) => x.type === type);
      if (m !== undefined) return m;
      await Promise.race([new Promise((r) => waiters.push(r)), exited]);
    }
  };
  return { child, next, exited };
}

// A task: sent to the workers as source, so it must be self-contained.
/**
 * @param {string} name
 * @param {import('@corepool/client').TaskContext} ctx
 * @returns {Promise<[value: number, pid: number]>}
 */
async function increment(name, ctx) {
  return [await /** @type {import('@corepool/client').Value<number>} */ (ctx.value(name)).add(1), ctx.pid];
}

const client = await connect(undefined, { spawn: true, name: 'shared-counter demo' });
// A new name per run, deleted at the end: the daemon keeps named state until it is deleted, across restarts.
const name = `demo-counter-${Date.now()}`;
try {
  const counter = client.value(name, { initial: 0 });
  console.log(`counter "${name}" = ${await counter.get()}; ${client.workers} workers`);
  console.log(`${APPS} app processes x ${ADDS_PER_APP} adds + ${TASK_ADDS} task adds = ${EXPECTED} expected\n`);

  const watcher = start('watcher.js', [name]);
  await watcher.next('ready');
  const apps = Array.from({ length: APPS }, (_, i) => start('app.js', [name, String(ADDS_PER_APP), String(i + 1)]));
  await Promise.all(apps.map((a) => a.next('ready')));

  const t0 = performance.now();
  for (const a of apps) a.child.send('go');
  const [appResults, taskResults] = await Promise.all([
    Promise.all(apps.map((a) => a.exited)),
    client.map(
      increment,
      Array.from({ length: TASK_ADDS }, () => name),
    ),
  ]);
  const seconds = (performance.now() - t0) / 1000;

  const final = await counter.get();
  watcher.child.send({ expected: final });
  await watcher.exited;

  // Every add resolved to the counter's new value: together they must be 1..EXPECTED, each once.
  const all = [...appResults.flatMap((r) => r.results), ...taskResults.map(([v]) => v)].sort((a, b) => a - b);
  const contiguous = all.length === EXPECTED && all.every((v, i) => v === i + 1);
  console.log(`\nfinal value: ${final} (expected ${EXPECTED})`);
  console.log(`every add saw a distinct value 1..${EXPECTED}: ${contiguous ? 'yes' : 'NO'}`);
  for (const r of appResults)
    console.log(`  app ${r.id} (pid ${r.pid}): ${r.results.length} adds at ${Math.round(r.results.length / (r.ms / 1000))}/s`);
  console.log(
    `  tasks: ${taskResults.length} adds through ctx.value on ${new Set(taskResults.map(([, pid]) => pid)).size} worker processes`,
  );
  console.log(`${EXPECTED} increments in ${seconds.toFixed(2)} s = ${Math.round(EXPECTED / seconds).toLocaleString('en-US')} increments/s`);
  if (final !== EXPECTED || !contiguous) {
    console.error('WRONG: the counter lost or duplicated increments');
    process.exitCode = 1;
  }
} finally {
  // On a failure, no child may be left running (nor keep this process alive).
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill();
  await client
    .value(name)
    .delete()
    .catch((/** @type {Error} */ err) => console.error(`could not delete the counter "${name}": ${err.message}`));
  await client.close();
}
