/**
 * `map` spoken directly on a raw socket, so a checker sees every delivery the
 * daemon makes, duplicates included (the SDK drops them).
 */
import { sourceHash, decodeData, encodeData } from '@corepool/protocol';
import { decodeFrame, type RawSocket } from './raw-socket.js';

/** One delivered outcome, as the daemon sent it. */
export type RawOutcome = [
  index: number,
  outcome: { ok: true; value: unknown } | { ok: false; error: { code?: string; index?: number; attempts?: number } },
];

let nextRawBatch = 1_000_000;

/**
 * `map` spoken directly on a raw socket, so the checker sees every delivery the
 * daemon makes (the SDK drops duplicates; this does not). Resolves once every
 * index has an outcome, plus `settleMs` to catch late duplicates.
 */
export function rawMap(
  sock: RawSocket,
  source: string,
  items: unknown[],
  o: { chunkSize?: number; timeoutMs?: number; retries?: number; settleMs?: number; deadlineMs?: number } = {},
): Promise<RawOutcome[]> {
  const id = nextRawBatch++;
  const n = items.length;
  const outcomes: RawOutcome[] = [];
  const have = new Uint8Array(n);
  let distinct = 0;
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(
      () => reject(new Error(`rawMap: ${n - distinct} of ${n} items have no outcome after ${o.deadlineMs ?? 60_000} ms`)),
      o.deadlineMs ?? 60_000,
    );
    const onMessage = (data: Buffer): void => {
      for (const one of decodeFrame(data)) onOne(one);
    };
    const onOne = (one: unknown): void => {
      const m = one as {
        type: string;
        id?: number;
        start: number;
        count: number;
        payload: Uint8Array;
        errors: { index?: number }[];
        error?: unknown;
      };
      if (m.id !== id) return;
      if (m.type === 'batch.error') {
        clearTimeout(deadline);
        sock.ws.off('message', onMessage);
        reject(Object.assign(new Error('batch.error'), { wire: m.error }));
        return;
      }
      if (m.type !== 'chunk.result') return;
      const values = decodeData(m.payload) as unknown[];
      const errs = new Map(m.errors.map((e) => [e.index, e]));
      for (let j = 0; j < m.count; j++) {
        const index = m.start + j;
        const e = errs.get(index);
        outcomes.push([index, e === undefined ? { ok: true, value: values[j] } : { ok: false, error: e }]);
        if (index >= 0 && index < n && have[index] === 0) {
          have[index] = 1;
          distinct++;
        }
      }
      if (distinct === n) {
        clearTimeout(deadline);
        setTimeout(() => {
          sock.ws.off('message', onMessage);
          sock.send({ type: 'batch.close', id });
          resolve(outcomes);
        }, o.settleMs ?? 200);
      }
    };
    sock.ws.on('message', onMessage);
    const hash = sourceHash(source); // the daemon checks it, as the SDK computes it
    sock.send({ type: 'batch.open', id, task: { kind: 'source', hash, source }, timeoutMs: o.timeoutMs ?? 0, retries: o.retries ?? 2 });
    const size = o.chunkSize ?? 10;
    for (let start = 0; start < n; start += size) {
      const slice = items.slice(start, start + size);
      sock.send({ type: 'batch.chunk', id, start, count: slice.length, payload: encodeData(slice) });
    }
  });
}
