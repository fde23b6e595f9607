// starts.js - timing a process from spawn to a line it prints (or to its
// exit), for the `start` scenario: corepool's daemon and the bare node
// processes it is compared with are timed by the same code.

import { spawn } from 'node:child_process';
import { nowMs } from './harness.js';

/**
 * Spawns `cmd args` and resolves when `ready(line)` holds for a line of its stdout (or, without
 * `ready`, when it exits 0), with `ms` from just before the spawn. The child is left running after
 * a line: the caller stops it (stop()). Rejects on a timeout or an exit before the line.
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ ready?: (line: string) => boolean, timeoutMs?: number, env?: NodeJS.ProcessEnv }} [options]
 * @returns {Promise<{ ms: number, line?: string, child: import('node:child_process').ChildProcess, stop(): Promise<void> }>}
 */
export function timeStart(cmd, args, { ready, timeoutMs = 20_000, env } = {}) {
  return new Promise((resolve, reject) => {
    let stderr = '';
    const t0 = nowMs();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(env === undefined ? {} : { env }) });
    const exited = new Promise((r) => child.once('exit', r));
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    };
    const fail = (why) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${why}${stderr ? `; stderr: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`));
    };
    const timer = setTimeout(() => fail(`not ready within ${timeoutMs} ms`), timeoutMs);
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    child.on('error', (err) => fail(err.message));
    let buf = '';
    let done = false;
    child.stdout.on('data', (d) => {
      if (done || !ready) return;
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!ready(line)) continue;
        const ms = nowMs() - t0;
        done = true;
        clearTimeout(timer);
        child.stdout.resume(); // later lines are drained, not kept
        resolve({ ms, line, child, stop });
        return;
      }
    });
    child.on('exit', (code, signal) => {
      if (done) return;
      if (!ready && code === 0) {
        const ms = nowMs() - t0;
        done = true;
        clearTimeout(timer);
        resolve({ ms, child, stop });
      } else fail(`exited (code ${code}, signal ${signal}) before it was ready`);
    });
  });
}
