/**
 * Separate app processes for the shared-state tests: each script in this
 * folder imports '@corepool/client', finds the daemon through COREPOOL_URL
 * and COREPOOL_TOKEN, takes its parameters as JSON in argv[2], and prints one
 * JSON object per line. `await using app = startApp(d, 'adder.mjs', {...})`
 * kills it if it is still running when the test ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestDaemon } from '../support/daemon.js';

/** A running app process and what it printed. */
export interface App {
  proc: ChildProcess;
  pid: number;
  /** Every JSON line printed so far. */
  lines: Record<string, unknown>[];
  /** Everything printed on stdout so far. */
  readonly stdout: string;
  /** Resolves with the first printed line (seen already or to come) for which `pred` holds. */
  line(pred?: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** Writes one line to the app's stdin. */
  send(text: string): void;
  /** Resolves with the last JSON line once the app exits 0; rejects otherwise. */
  done(): Promise<Record<string, unknown>>;
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts `script` (a file in test/apps) against `d` with `params` as argv[2]. */
export function startApp(d: Pick<TestDaemon, 'url' | 'token'>, script: string, params: object = {}): App {
  const file = fileURLToPath(new URL(script, import.meta.url));
  const proc = spawn(process.execPath, [file, JSON.stringify(params)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, COREPOOL_URL: d.url, COREPOOL_TOKEN: d.token },
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let stderr = '';
  let buf = '';
  let all = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    all += chunk.toString();
    buf += chunk.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!text.startsWith('{')) continue;
      const l = JSON.parse(text) as Record<string, unknown>;
      lines.push(l);
      for (const w of [...waiters]) {
        if (w.pred(l)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(l);
        }
      }
    }
  });
  proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  proc.stdin!.on('error', () => {});
  // 'close', not 'exit': only 'close' comes after the last stdout chunk (the app's final line).
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  const failure = (): Error => new Error(`${script} exited with ${proc.exitCode ?? proc.signalCode}:\n${stderr}`);
  const app: App = {
    proc,
    pid: proc.pid!,
    lines,
    get stdout() {
      return all;
    },
    line(pred = () => true) {
      const seen = lines.find(pred);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ pred, resolve });
        void exited.then(() => {
          // Let the last stdout chunk be parsed first.
          setImmediate(() => {
            const l = lines.find(pred);
            if (l !== undefined) resolve(l);
            else reject(failure());
          });
        });
      });
    },
    send(text) {
      proc.stdin!.write(`${text}\n`);
    },
    async done() {
      const code = await exited;
      await new Promise((r) => setImmediate(r));
      if (code !== 0 || lines.length === 0) throw failure();
      return lines[lines.length - 1]!;
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
    async [Symbol.asyncDispose]() {
      await app.kill();
    },
  };
  return app;
}

/** Starts every app, waits until each printed `{ ready }`, then sends them all `go`. */
export async function startTogether(apps: App[]): Promise<void> {
  await Promise.all(apps.map((a) => a.line((l) => l.ready === true)));
  for (const a of apps) a.send('go');
}
