// children.js - helper processes of a runner (counter clients, subscribers,
// echo servers), forked with an IPC channel and driven by small messages
// `{ type, ... }`. Waiting for a message never hangs: it times out, or fails
// at once when the child exits first.

import { fork } from 'node:child_process';
import { profileArgs } from './profile.js';

/** Forks `file` with params as JSON argv[2]; returns a handle with expect() and send(). */
export function forkChild(file, params, { execArgv = [] } = {}) {
  const child = fork(file, [JSON.stringify(params)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [...profileArgs(), ...execArgv],
  });
  const inbox = [];
  const waiters = [];
  let exited = null;
  child.on('message', (/** @type {any} */ msg) => {
    if (msg.type === 'error') {
      for (const w of waiters.splice(0)) w.reject(new Error(`child error: ${msg.message}`));
    }
    const i = waiters.findIndex((w) => w.type === msg.type);
    if (i >= 0) waiters.splice(i, 1)[0].resolve(msg);
    else inbox.push(msg);
  });
  child.on('exit', (code, signal) => {
    exited = `child ${file} exited (code ${code}, signal ${signal})`;
    for (const w of waiters.splice(0)) w.reject(new Error(exited));
  });
  return {
    child,
    send(msg) {
      child.send(msg);
    },
    /** Resolves with the next message of this type. */
    expect(type, timeoutMs = 30_000) {
      const i = inbox.findIndex((m) => m.type === type);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
      const failed = inbox.find((m) => m.type === 'error');
      if (failed) return Promise.reject(new Error(`child error: ${failed.message}`));
      if (exited) return Promise.reject(new Error(exited));
      return new Promise((resolve, reject) => {
        const w = { type, resolve, reject };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          const err = inbox.find((m) => m.type === 'error');
          reject(new Error(err ? `child error: ${err.message}` : `timed out waiting for '${type}' from ${file}`));
        }, timeoutMs);
        w.resolve = (m) => {
          clearTimeout(timer);
          resolve(m);
        };
        w.reject = (e) => {
          clearTimeout(timer);
          reject(e);
        };
        waiters.push(w);
      });
    },
    kill() {
      if (!exited) child.kill('SIGKILL');
    },
    /** Waits for the child to exit on its own (after a 'stop' message, say). */
    exited(timeoutMs = 10_000) {
      if (exited) return Promise.resolve();
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve();
        }, timeoutMs);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

/** In a child: the parent's next message of this type. */
export function fromParent(type) {
  return new Promise((resolve) => {
    const on = (msg) => {
      if (msg.type === type) {
        process.off('message', on);
        resolve(msg);
      }
    };
    process.on('message', on);
  });
}

/** In a child: runs body, reporting a throw to the parent as { type: 'error' }. */
export async function childMain(body) {
  try {
    await body(JSON.parse(process.argv[2] ?? '{}'));
  } catch (err) {
    process.send?.({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    setTimeout(() => process.exit(1), 50);
  }
}

/**
 * Resolves when a forked node:cluster worker sends its first message (its own 'ready': 'online'
 * comes before an ESM worker has run its module, and messages sent before its listener exists are
 * dropped); rejects if it exits first.
 * @param {import('node:cluster').Worker} worker
 */
export function clusterWorkerReady(worker) {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('exit', (code) => reject(new Error(`cluster worker exited (code ${code}) before ready`)));
  });
}
