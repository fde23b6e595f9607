// process-start.js - the floors under `start`: what starting node itself
// costs on this machine, timed by the same code as corepool's daemon
// (lib/starts.js), `starts` times (median):
//   node     `node -e 0`, spawn to exit
//   cluster  `node -e <primary>` forking N node:cluster workers (each a
//            `node -e` that only says it is ready over cluster IPC), spawn to
//            the primary's line once all N said so: the least a daemon that
//            forks its workers can take before it has loaded any code.

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

void runMain(async (p) => {
  const once = async () => {
    if (p.kind === 'node') return { ms: (await timeStart(process.execPath, ['-e', '0'])).ms };
    const s = await timeStart(process.execPath, ['-e', CLUSTER_PRIMARY, String(p.workers)], { ready: (l) => l === 'up' });
    const pid = s.child.pid;
    const cpuMs = [pid, ...descendants(pid)].reduce((sum, q) => sum + procCpuUs(q), 0) / 1000;
    await s.stop();
    return { ms: s.ms, cpuMs };
  };
  await once(); // warm-up
  const starts = [];
  for (let i = 0; i < p.starts; i++) starts.push(await once());
  const note =
    p.kind === 'node'
      ? `median of ${p.starts} starts of \`node -e 0\`, spawn -> exit`
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
