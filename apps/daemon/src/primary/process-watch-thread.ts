/**
 * The thread behind ProcessWatch (process-watch.ts). Every WATCH_MS it reads
 * every process from /proc, remembers each tracked worker's descendants (pid
 * and start time, kept after they are reparented, so they can still be found
 * once the worker has died), and reports the workers that are stopped (state
 * T). When asked to end a worker that has exited, it SIGKILLs what it
 * remembered and every process whose environment carries the worker's marker,
 * with their descendants, in passes until none is left. It runs apart from the
 * primary's event loop because a full /proc scan costs ~25 us per process
 * (2.5 ms for 100, measured), which every client would otherwise wait for.
 */
import { parentPort } from 'node:worker_threads';
import { hasEnvEntry, listPids, readAllStats, type ProcStat } from './procfs.js';
import type { FromWatch, ToWatch } from './process-watch.js';

const WATCH_MS = 500;
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
let passTimer: NodeJS.Timeout | undefined;

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
  const all = scan();
  if (all === undefined) return;
  const children = childrenByParent(all);
  const stopped: number[] = [];
  for (const root of roots.values()) {
    if (all.get(root.pid)?.state === 'T') stopped.push(root.pid);
    remember(root, all, children);
  }
  post({ t: 'stopped', pids: stopped });
  if (ending.length > 0) endPass(all, children);
}

function schedulePass(ms: number): void {
  passTimer ??= setTimeout(() => {
    passTimer = undefined;
    const all = scan();
    if (all !== undefined) endPass(all, childrenByParent(all));
  }, ms);
}

/** Adds the root's current descendants to what it has seen, and forgets those that are gone. */
function remember(root: Root, all: Map<number, ProcStat>, children: Map<number, number[]>): void {
  for (const [pid, start] of root.seen) if (all.get(pid)?.start !== start) root.seen.delete(pid);
  for (const pid of descendants([root.pid], children)) root.seen.set(pid, all.get(pid)!.start);
}

/**
 * Every process, or undefined if /proc cannot be read now (no descriptor left:
 * the next tick tries again). Without /proc at all (not Linux) there is nothing
 * to watch: ends are answered at once, having killed nothing.
 */
function scan(): Map<number, ProcStat> | undefined {
  try {
    return readAllStats();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') for (const e of ending.splice(0)) post({ t: 'ended', id: e.id, killed: [] });
    return undefined;
  }
}

function endPass(all: Map<number, ProcStat>, children: Map<number, number[]>): void {
  let pids: number[];
  try {
    pids = listPids();
  } catch {
    return; // the next tick retries
  }
  for (const e of ending.splice(0)) {
    const victims = new Set<number>();
    for (const [pid, start] of e.root.seen) if (all.get(pid)?.start === start) victims.add(pid);
    for (const pid of pids) if (pid !== process.pid && hasEnvEntry(pid, e.root.entry)) victims.add(pid);
    for (const pid of descendants([...victims], children)) victims.add(pid);
    let hit = 0;
    for (const pid of victims) {
      const stat = all.get(pid);
      if (stat === undefined || stat.state === 'Z') continue;
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

function childrenByParent(all: Map<number, ProcStat>): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const [pid, stat] of all) {
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
