/**
 * tmux for the terminal tests (`top`, `daemon logs`): every session runs on a
 * server of its own (`-L <session>`), so a session that ends, taking its
 * server with it, never races the start of the next one ("server exited
 * unexpectedly"), nor another test process's sessions.
 */
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';

/** `tmux ARGS` against the server of `session`; what it printed. */
export function tmux(session: string, args: string[], options: ExecFileSyncOptions = {}): string {
  return String(execFileSync('tmux', ['-L', session, ...args], { encoding: 'utf8', ...options }) ?? '');
}
