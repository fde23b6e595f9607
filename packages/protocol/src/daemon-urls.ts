/**
 * daemon-urls.ts - the daemon URLs a client may connect to: one URL or a list
 * (from `connect()`'s argument or COREPOOL_URL), each checked with a coded error
 * that names where it came from. The client fails over along the list; the
 * CLI checks its --url the same way, so both refuse what the other refuses.
 * A URL given twice (the same after URL normalisation) is kept once, in its
 * first place: repeating a daemon in a list is a harmless slip, not an error.
 */
import { BadArgumentError } from './errors.js';

/** Checks one URL or a list of them; returns the list without repeats. */
export function daemonUrls(input: unknown, from = 'url'): string[] {
  if (typeof input === 'string') return [checkDaemonUrl(input.trim(), from)];
  if (!Array.isArray(input)) {
    throw new BadArgumentError(`${from} must be a daemon URL (ws://host:port) or a list of them`);
  }
  if (input.length === 0) throw new BadArgumentError(`${from} is an empty list: give at least one daemon URL (ws://host:port)`);
  const seen = new Set<string>();
  const out: string[] = [];
  input.forEach((u: unknown, i) => {
    if (typeof u !== 'string') throw new BadArgumentError(`${from}[${i}] must be a string such as ws://127.0.0.1:7420`);
    const url = checkDaemonUrl(u.trim(), `${from}[${i}]`);
    const key = new URL(url).href;
    if (seen.has(key)) return;
    seen.add(key);
    out.push(url);
  });
  return out;
}

/** COREPOOL_URL: one URL or several separated by commas (spaces around them tolerated, empty entries skipped). */
export function envUrls(value: string): string[] {
  const parts = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (parts.length === 0) throw new BadArgumentError(`COREPOOL_URL lists no daemon URL: ${JSON.stringify(value)}`);
  return daemonUrls(parts, 'COREPOOL_URL');
}

/** One daemon URL (ws:// or wss://, with a host), or E_BAD_ARGUMENT naming `from`. */
export function checkDaemonUrl(url: string, from: string): string {
  if (!/^wss?:\/\//i.test(url)) throw new BadArgumentError(`${from} must start with ws:// or wss://, got ${JSON.stringify(url)}`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new BadArgumentError(`${from} is not a valid URL: ${JSON.stringify(url)}`);
  }
  if (parsed.hostname === '') throw new BadArgumentError(`${from} has no host: ${JSON.stringify(url)}`);
  return url;
}

/** Whether `url` names this machine (a daemon `spawn` can start is reachable there). */
export function isLocalUrl(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || host === '::' || host === '0.0.0.0' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
