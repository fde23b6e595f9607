// inspector.js - a settled memory reading of another Node process, through its
// inspector (Chrome DevTools Protocol over a WebSocket). RSS read at an
// arbitrary moment holds whatever garbage the last burst left and a young
// generation V8 grew for it and has not yet given back (tens of MB, ~20 s
// before V8's memory reducer gets to it): per-client figures taken that way
// are noise. HeapProfiler.collectGarbage is V8's low-memory GC, which also
// shrinks the young generation, so readings after it compare.
//
// The process must run with `--inspect-port=127.0.0.1:0` (the inspector is
// started on SIGUSR1 by `activateInspector`, not at startup, so the figures
// taken before are those of a plain process).

import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';

/**
 * Sends SIGUSR1 to `pid` and resolves with the inspector's WebSocket URL, which
 * Node prints on the process's stderr (`onStderr` hands each chunk of it to a listener).
 * @param {number} pid
 * @param {(listener: (chunk: string) => void) => void} onStderr
 * @returns {Promise<string>}
 */
export function activateInspector(pid, onStderr, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no inspector URL on the stderr of ${pid} within ${timeoutMs} ms`)), timeoutMs);
    onStderr((chunk) => {
      text += chunk;
      const m = /Debugger listening on (ws:\/\/\S+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    process.kill(pid, 'SIGUSR1');
  });
}

/**
 * A DevTools session on `url`: settled() collects garbage and returns the
 * process's RSS and V8 heap in use then, in KB.
 * @param {string} url
 * @param {number} pid
 */
export async function openInspector(url, pid) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let lastId = 0;
  const pending = new Map();
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data));
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(`${msg.error.message} (${msg.error.code})`));
    else p.resolve(msg.result);
  });
  const call = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = ++lastId;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  return {
    /** After a low-memory GC: { rssKb, heapKb } (the heap in use, from process.memoryUsage()). */
    async settled() {
      await call('HeapProfiler.collectGarbage');
      const r = await call('Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed', returnByValue: true });
      return { rssKb: rssKb(pid), heapKb: r.result.value / 1024 };
    },
    close() {
      ws.close();
    },
  };
}

/** VmRSS of a process in KB. */
function rssKb(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}
