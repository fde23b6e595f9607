import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@corepool/client';
const dir = mkdtempSync(join(tmpdir(), 'eff-'));
const d = spawn(process.execPath, [...(process.env.NODEARGS ? process.env.NODEARGS.split(' ') : []), 'apps/daemon/bin/corepool.js', 'daemon', 'start', '--port', '0', '--workers', '2', '--data-dir', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
const info = await new Promise((res) => { let b = ''; d.stdout.on('data', (x) => { b += x; const l = b.split('\n').find((s) => s.includes('"listening"')); if (l) res(JSON.parse(l)); }); });
const threads = (pid) => { const out = {}; for (const t of readdirSync(`/proc/${pid}/task`)) { try { const s = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8'); const name = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')); const f = s.slice(s.lastIndexOf(')') + 2).split(' '); out[`${name}#${t}`] = (+f[11] + +f[12]) * 10; } catch {} } return out; };
const kids = () => readFileSync(`/proc/${info.pid}/task/${info.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
const procCpu = (pid) => { const s = readFileSync(`/proc/${pid}/stat`, 'utf8'); const f = s.slice(s.lastIndexOf(')') + 2).split(' '); return (+f[11] + +f[12]) * 10; };
const client = await connect(info.url, { token: readFileSync(info.tokenFile, 'utf8').trim() });
const busy1ms = (x) => { const end = performance.now() + 1; while (performance.now() < end) {} return x; };
await client.map(busy1ms, Array.from({ length: 200 }, (_, i) => i));
for (let round = 0; round < Number(process.argv[2] ?? 2); round++) {
  const t0p = threads(info.pid); const w0 = kids().map(procCpu); const c0 = process.cpuUsage();
  const t0 = performance.now();
  await client.map(busy1ms, Array.from({ length: 10000 }, (_, i) => i));
  const wall = performance.now() - t0;
  const c1 = process.cpuUsage(); const t1p = threads(info.pid); const w1 = kids().map(procCpu);
  const diff = Object.entries(t1p).map(([k, v]) => [k, v - (t0p[k] ?? 0)]).filter(([, v]) => v > 0);
  console.log(`eff ${(10000 / 2 / wall).toFixed(4)} wall ${wall.toFixed(0)} client ${((c1.user + c1.system - c0.user - c0.system) / 1000).toFixed(0)}ms primary threads ${JSON.stringify(Object.fromEntries(diff))} workers ${w1.map((v, i) => v - (w0[i] ?? 0)).join(',')}`);
}
await client.close();
d.kill('SIGTERM');
