/**
 * What `n` tasks get when each acquires a free lock of its own (one item a
 * chunk): 'ok', or the code its acquire failed with. How the lock tests show
 * that what one app's tasks left at the primary does not refuse another app's
 * tasks a lock (E_LIMIT once a worker's quota of locks is full).
 */
import type { Client } from '@corepool/client';

export async function freeLockOutcomes(client: Client, n: number): Promise<(string | undefined)[]> {
  return client.map(
    async (i: number, ctx) => {
      const l = ctx.lock(`L-free-${i}`);
      try {
        await l.acquire({ timeoutMs: 2000 });
      } catch (err) {
        return (err as { code?: string }).code;
      }
      await l.release();
      return 'ok';
    },
    Array.from({ length: n }, (_, i) => i),
    { chunkSize: 1 },
  );
}
