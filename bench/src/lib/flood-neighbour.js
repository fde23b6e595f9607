// flood-neighbour.js - the `floodNeighbour` scenario's course, the same for every system: an app
// awaiting one increment at a time (this process), alone and then beside a flooder in another
// process that keeps four frames of 1,000 increments in flight, each frame encoded once (cheap
// for the flooder, 1,000 increments of the server's work). The flooder's rate is taken alone
// and beside the neighbour too, so that each side's ratio says what the other cost it.

import { forkChild } from './children.js';
import { nowMs, sleep } from './harness.js';

/**
 * @param {{ windowMs: number }} p
 * @param {(ms: number) => Promise<number>} awaitedFor awaited increments for `ms`, how many
 * @param {string} flooderFile a runner with a `flooder` role: it answers { type: 'count' } with { type: 'count', answered }
 * @param {object} flooderParams what that role needs besides its role
 */
export async function floodNeighbour(p, awaitedFor, flooderFile, flooderParams) {
  await awaitedFor(500); // warm
  const alone = (await awaitedFor(p.windowMs)) / (p.windowMs / 1000);
  const flooder = forkChild(flooderFile, { ...flooderParams, role: 'flooder' });
  try {
    await flooder.expect('running', 30_000);
    const count = async () => {
      flooder.send({ type: 'count' });
      return /** @type {{ answered: number }} */ (await flooder.expect('count', 10_000)).answered;
    };
    await sleep(500);
    let c0 = await count();
    let t0 = nowMs();
    await sleep(p.windowMs);
    const flooderAlone = ((await count()) - c0) / ((nowMs() - t0) / 1000);
    c0 = await count();
    t0 = nowMs();
    const beside = (await awaitedFor(p.windowMs)) / (p.windowMs / 1000);
    const flooderBeside = ((await count()) - c0) / ((nowMs() - t0) / 1000);
    const note = `awaited increments for ${p.windowMs} ms alone, then beside a flooder keeping 4 frames of 1,000 in flight (its rate alone and beside taken too)`;
    const row = (metric, value, unit) => ({ metric, value, unit, check: 'ok', note });
    return [
      row('neighbour_alone_per_s', alone, 'ops/s'),
      row('neighbour_beside_per_s', beside, 'ops/s'),
      row('neighbour_ratio', beside / alone, 'ratio'),
      row('flooder_alone_per_s', flooderAlone, 'ops/s'),
      row('flooder_ratio', flooderBeside / flooderAlone, 'ratio'),
    ];
  } finally {
    flooder.kill();
  }
}

/** `step` awaited in a loop for `ms`; how many times it ran. */
export async function loopFor(ms, step) {
  const end = nowMs() + ms;
  let n = 0;
  while (nowMs() < end) {
    await step();
    n++;
  }
  return n;
}

/**
 * The flooder's side: `send()` writes one frame of `size` increments; `onReplies(n)` is to be
 * called with each batch of replies read. Keeps `frames` frames in flight and answers counts.
 */
export function flood({ size = 1000, frames = 4 }, send) {
  let answered = 0;
  let owed = 0;
  process.on('message', (/** @type {any} */ m) => {
    if (m.type === 'count') process.send?.({ type: 'count', answered });
  });
  for (let i = 0; i < frames; i++) send();
  return (n) => {
    if (answered === 0 && n > 0) process.send?.({ type: 'running' });
    answered += n;
    owed += n;
    while (owed >= size) {
      owed -= size;
      send();
    }
  };
}
