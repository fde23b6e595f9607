// process-start.js - the floors under `start`: what starting node itself
// costs on this machine, timed by the same code as corepool's daemon
// (lib/starts.js), `starts` times (median):
//   node     `node -e 0`, spawn to exit (`noExtraCa`: with NODE_EXTRA_CA_CERTS
//            removed from its environment: Node parses its bundled root
//            certificates and that file at every boot, measured at ~40-55 ms of
//            CPU per process on a VM that sets it; every process of every
//            system here pays it alike)
//   cluster  `node -e <primary>` forking N node:cluster workers (each a
//            `node -e` that only says it is ready over cluster IPC), spawn to
//            the primary's line once all N said so: the least a daemon that
//            forks its workers can take before it has loaded any code.
//   deps     the same, plus what any daemon built on corepool's libraries
//            must do before it can serve: its workers load msgpackr, and the
//            primary (after forking them, as corepool's does) loads ws,
//            msgpackr and lmdb, opens an LMDB environment in a fresh directory
//            and listens with a WebSocketServer; spawn to the line once all N
//            are ready and it listens. What corepool adds on top of this is its
//            own code (CLI, logging, scheduler, store, worker guards).

import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { medianMsRows, runMain } from '../lib/harness.js';
import { procCpuUs } from '../lib/cpu.js';
import { timeStart } from '../lib/starts.js';
import { descendants } from '../corepool/daemon.js';

// The primary: workers are `node -e` too (exec is only their argv[1]); SIGTERM ends them with it.
const CLUSTER_PRIMARY = `
const cluster = require('node:cluster');
cluster.setupPrimary({ exec: 'worker', execArgv: ['-e', 'process.send("ready")'], args: [] });
const n = Number(process.argv[1]);
let ready = 0;
for (let i = 0; i < n; i++) cluster.fork().once('message', () => { if (++ready === n) console.log('up'); });
process.on('SIGTERM', () => { for (const w of Object.values(cluster.workers)) w.process.kill('SIGKILL'); process.exit(0); });
`;

// The libraries by absolute path: a \`node -e\` script resolves require() from the working directory.
const resolve = createRequire(import.meta.url).resolve;
const LIBS = JSON.stringify({ ws: resolve('ws'), msgpackr: resolve('msgpackr'), lmdb: resolve('lmdb') });
const DEPS_PRIMARY = `
const cluster = require('node:cluster');
const n = Number(process.argv[1]);
const libs = JSON.parse(process.argv[3]);
cluster.setupPrimary({ exec: 'worker', execArgv: ['-e', 'require(' + JSON.stringify(libs.msgpackr) + '); process.send("ready")'], args: [] });
let ready = 0;
let listening = false;
const up = () => { if (ready === n && listening) console.log('up'); };
for (let i = 0; i < n; i++) cluster.fork().once('message', () => { ready++; up(); });
const { WebSocketServer } = require(libs.ws);
const { pack, unpack } = require(libs.msgpackr);
const { open } = require(libs.lmdb);
const env = open({ path: process.argv[2] });
unpack(pack(env.get('meta') ?? null));
new WebSocketServer({ host: '127.0.0.1', port: 0 }).once('listening', () => { listening = true; up(); });
process.on('SIGTERM', () => { for (const w of Object.values(cluster.workers)) w.process.kill('SIGKILL'); process.exit(0); });
`;

void runMain(async (p) => {
  const once = async () => {
    if (p.kind === 'node') {
      const env = p.noExtraCa ? { ...process.env, NODE_EXTRA_CA_CERTS: undefined } : undefined;
      return { ms: (await timeStart(process.execPath, ['-e', '0'], { env })).ms };
    }
    const dir = p.kind === 'deps' ? mkdtempSync(join(tmpdir(), 'corepool-bench-deps-')) : undefined;
    try {
      const args = p.kind === 'deps' ? ['-e', DEPS_PRIMARY, String(p.workers), dir, LIBS] : ['-e', CLUSTER_PRIMARY, String(p.workers)];
      const s = await timeStart(process.execPath, args, { ready: (l) => l === 'up' });
      const pid = s.child.pid;
      const cpuMs = [pid, ...descendants(pid)].reduce((sum, q) => sum + procCpuUs(q), 0) / 1000;
      await s.stop();
      return { ms: s.ms, cpuMs };
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  };
  await once(); // warm-up
  const starts = [];
  for (let i = 0; i < p.starts; i++) starts.push(await once());
  const note =
    p.kind === 'node'
      ? `median of ${p.starts} starts of \`node -e 0\`${p.noExtraCa ? ' without NODE_EXTRA_CA_CERTS' : ''}, spawn -> exit`
      : p.kind === 'deps'
        ? `median of ${p.starts} starts of a node:cluster primary forking ${p.workers} workers that load msgpackr, then loading ws, msgpackr and lmdb, opening an LMDB env in a fresh dir and listening (WebSocketServer), spawn -> all ${p.workers} ready and listening`
        : `median of ${p.starts} starts of a bare node:cluster primary forking ${p.workers} workers, spawn -> all ${p.workers} ready`;
  const metrics =
    p.kind === 'node'
      ? [['start_ms', 'ms']]
      : [
          ['start_ms', 'ms'],
          ['cpu_ms', 'cpuMs'],
        ];
  return medianMsRows(p, starts, metrics, 'ok', note);
});
