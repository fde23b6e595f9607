/**
 * The thread behind ProcessWatch (process-watch.ts). Every WATCH_MS it lists
 * /proc, remembers each tracked worker's descendants (pid and start time, kept
 * after they are reparented, so they can still be found once the worker has
 * died), and reports the workers that are stopped (state T). When asked to end
 * a worker that has exited, it SIGKILLs what it remembered and every process
 * whose environment carries the worker's marker, with their descendants, in
 * passes until none is left. A process's parent and start time are read once,
 * when its pid first appears (reading every stat each time cost ~45 us per
 * process, 6.6 ms a scan for 146, measured); it runs apart from the primary's
 * event loop so that no scan delays a client.
 */
import { parentPort } from 'node:worker_threads';
import { hasEnvEntry, listPids, readStat, type ProcStat } from './procfs.js';
import type { FromWatch, ToWatch } from './process-watch.js';

const WATCH_MS = 1_000;
/** Kill passes per ended worker: a process forking as it dies may leave a child the previous pass missed. */
const END_PASSES = 5;
const PASS_GAP_MS = 50;

interface Root {
  pid: number;
  /** "NAME=value" in the environment of everything the worker spawned (unless a task replaced env). */
  entry: string;
  /** Descendants seen so far: pid -> start time. */
  seen: Map<number, number>;
}

interface Ending {
  id: number;
  root: Root;
  passes: number;
  killed: number[];
}

const port = parentPort!;
const roots = new Map<number, Root>();
const ending: Ending[] = [];
/** Every process as first read: its parent only changes when it is reparented, which the roots' `seen` outlives. */
let known = new Map<number, ProcStat>();
let passTimer: NodeJS.Timeout | undefined;
/** Tracked workers stopped at the last tick. */
let stoppedBefore = 0;

port.on('message', (m: ToWatch) => {
  if (m.t === 'track') {
    roots.set(m.pid, { pid: m.pid, entry: m.entry, seen: new Map() });
  } else {
    const root = roots.get(m.pid) ?? { pid: m.pid, entry: m.entry, seen: new Map() };
    roots.delete(m.pid);
    ending.push({ id: m.id, root, passes: 0, killed: [] });
    schedulePass(0);
  }
});
setInterval(tick, WATCH_MS);

function post(m: FromWatch): void {
  port.postMessage(m);
}

function tick(): void {
  const pids = scan();
  if (pids === undefined) return;
  const children = childrenByParent();
  const stopped: number[] = [];
  for (const root of roots.values()) {
    // A root's state changes: read it afresh.
    if (readStat(root.pid)?.state === 'T') stopped.push(root.pid);
    remember(root, children);
  }
  // Said while some are stopped, and once more as none is: an idle tick wakes nobody.
  if (stopped.length > 0 || stoppedBefore > 0) post({ t: 'stopped', pids: stopped });
  stoppedBefore = stopped.length;
  if (ending.length > 0) endPass(pids, children);
}

function schedulePass(ms: number): void {
  passTimer ??= setTimeout(() => {
    passTimer = undefined;
    const pids = scan();
    if (pids !== undefined) endPass(pids, childrenByParent());
  }, ms);
}

/**
 * Lists /proc and reads the processes not seen before; returns every pid, or
 * undefined if /proc cannot be listed now (no descriptor left: the next tick
 * tries again). Without /proc at all (not Linux) there is nothing to watch:
 * ends are answered at once, having killed nothing.
 */
function scan(): number[] | undefined {
  let pids: number[];
  try {
    pids = listPids();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') for (const e of ending.splice(0)) post({ t: 'ended', id: e.id, killed: [] });
    return undefined;
  }
  const next = new Map<number, ProcStat>();
  for (const pid of pids) {
    const stat = known.get(pid) ?? readStat(pid);
    if (stat !== undefined) next.set(pid, stat);
  }
  known = next;
  return pids;
}

/** Adds the root's current descendants to what it has seen, and forgets those that are gone. */
function remember(root: Root, children: Map<number, number[]>): void {
  for (const [pid, start] of root.seen) if (known.get(pid)?.start !== start) root.seen.delete(pid);
  for (const pid of descendants([root.pid], children)) root.seen.set(pid, known.get(pid)!.start);
}

function endPass(pids: number[], children: Map<number, number[]>): void {
  for (const e of ending.splice(0)) {
    const victims = new Set<number>();
    for (const [pid, start] of e.root.seen) if (known.get(pid)?.start === start) victims.add(pid);
    for (const pid of pids) if (pid !== process.pid && hasEnvEntry(pid, e.root.entry)) victims.add(pid);
    for (const pid of descendants([...victims], children)) victims.add(pid);
    let hit = 0;
    for (const pid of victims) {
      // Read afresh: a zombie needs no kill, and a pid reused since it was seen is someone else.
      const stat = readStat(pid);
      if (stat === undefined || stat.state === 'Z' || stat.start !== known.get(pid)?.start) continue;
      try {
        process.kill(pid, 'SIGKILL');
        e.killed.push(pid);
        hit++;
      } catch {
        /* gone already */
      }
    }
    e.passes++;
    if (hit > 0 && e.passes < END_PASSES) {
      ending.push(e);
    } else {
      post({ t: 'ended', id: e.id, killed: e.killed });
    }
  }
  if (ending.length > 0) schedulePass(PASS_GAP_MS);
}

function childrenByParent(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const [pid, stat] of known) {
    const list = children.get(stat.ppid);
    if (list === undefined) children.set(stat.ppid, [pid]);
    else list.push(pid);
  }
  return children;
}

/** Every descendant of `from` (not `from` itself). */
function descendants(from: number[], children: Map<number, number[]>): number[] {
  const out: number[] = [];
  const todo = [...from];
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    for (const child of children.get(pid) ?? []) {
      out.push(child);
      todo.push(child);
    }
  }
  return out;
}
