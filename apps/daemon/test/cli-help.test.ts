/** `corepool daemon start --help` shows the defaults options.ts applies, so the help cannot drift from them. */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RSS_WATCH_MS } from '@corepool/protocol/internal';
import { CLUSTER_MAX_PAYLOAD, DEFAULT_OPTIONS, MACHINE_DEFAULTS, defaultWorkerRssMb, resolveOptions } from '../src/options.js';
import { FSYNC_MODES } from '../src/state/store.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../bin/corepool.js', import.meta.url));

describe('corepool daemon start --help', () => {
  it('names every default from options.ts, and those defaults are what a start without flags gets', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'daemon', 'start', '--help']);
    // commander wraps at 80 columns: each option's entry (its lines start with "  -") as one line.
    const help = stdout.replace(/\s+/g, ' ');
    const entries = new Map<string, string>();
    for (const chunk of stdout.split(/\n(?= {2}-)/)) {
      const m = /^\s*(?:-\w, )?(--[\w-]+)/.exec(chunk);
      if (m !== null) entries.set(m[1]!, chunk.replace(/\s+/g, ' '));
    }
    const D = DEFAULT_OPTIONS;
    for (const [name, value] of [
      ['--port', D.port],
      ['--host', D.host],
      ['--fsync', D.fsync],
      ['--heartbeat-ms', D.heartbeatMs],
      ['--auth-deadline-ms', D.authDeadlineMs],
      ['--pipeline-depth', D.pipelineDepth],
      ['--reserve-workers', D.reserveWorkers],
      ['--max-tasks-per-worker', D.maxTasksPerWorker],
      ['--max-client-weight', D.maxClientWeight],
      ['--init-timeout-ms', D.initTimeoutMs],
      ['--send-high-water', D.sendHighWater],
      ['--send-hard-cap', D.sendHardCap],
      ['--send-soft-cap-ms', D.sendSoftCapMs],
    ] as const) {
      expect(entries.get(name)).toContain(`default: "${String(value)}")`);
    }
    // Two defaults, standalone and in a cluster: said in words.
    expect(entries.get('--max-payload')).toContain(`(default: ${D.maxPayload}; ${CLUSTER_MAX_PAYLOAD} with --cluster)`);
    expect(resolveOptions({ workers: 2, cluster: 'redis://127.0.0.1:6379' }).maxPayload).toBe(CLUSTER_MAX_PAYLOAD);
    expect(resolveOptions({ workers: 2, cluster: 'redis://127.0.0.1:6379', maxPayload: '4194304' }).maxPayload).toBe(4194304);
    expect(help).toContain(`choices: ${FSYNC_MODES.map((m) => `"${m}"`).join(', ')}`);
    for (const text of Object.values(MACHINE_DEFAULTS)) expect(help).toContain(`default: ${text}`);
    expect(help).toContain(`checked every ${RSS_WATCH_MS} ms`);

    // The words of the machine defaults say what resolveOptions does.
    const o = resolveOptions({ workerHeapMb: '1000' });
    expect(MACHINE_DEFAULTS.workerRssMb).toBe('1.5x the heap');
    expect(o.workerRssMb).toBe(defaultWorkerRssMb(1000));
    expect(o.workerRssMb).toBe(1500);
    // commander hands the defaults over as strings: they resolve to the same options as none at all.
    const none = resolveOptions({ workers: 2 });
    const given = resolveOptions({
      workers: 2,
      port: String(D.port),
      host: D.host,
      fsync: D.fsync,
      maxPayload: String(D.maxPayload),
      heartbeatMs: String(D.heartbeatMs),
      authDeadlineMs: String(D.authDeadlineMs),
      pipelineDepth: String(D.pipelineDepth),
      reserveWorkers: String(D.reserveWorkers),
      maxTasksPerWorker: String(D.maxTasksPerWorker),
      maxClientWeight: String(D.maxClientWeight),
    });
    expect(given).toEqual(none);
  });
});
