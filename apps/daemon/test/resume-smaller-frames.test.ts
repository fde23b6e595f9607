/**
 * A batch in flight when its daemon is replaced by one taking smaller frames
 * (a restart with a lower --max-payload, or a cluster daemon's 1 MiB): the SDK
 * resent its chunks as they were, the new daemon closed the connection (1009)
 * on each, the client reconnected at once and resent again: the map never
 * settled. Its chunks are now cut to fit, and every item gets its result.
 */
import { expect, it } from 'vitest';
import { connect } from '@corepool/client';
import { startDaemon } from './support/daemon.js';

it('a map resumed on a daemon with a quarter of the frame limit completes, every item once', { timeout: 120_000 }, async () => {
  const first = await startDaemon({ workers: 2, keepDataDir: true });
  const { port, dataDir, token } = first;
  const client = await connect(first.url, { token, reconnectTimeoutMs: 60_000 });
  try {
    const items = Array.from({ length: 60 }, (_, i) => `${i}:${'x'.repeat(200_000)}`);
    let progressed = 0;
    const out = client.map(
      async (s: string) => {
        await new Promise((r) => setTimeout(r, 30));
        return Number(s.slice(0, s.indexOf(':')));
      },
      items,
      { chunkSize: 20, onProgress: (done) => (progressed = done) },
    );
    // Some results in, most chunks still in flight (about 4 MB each): the daemon dies.
    for (let i = 0; i < 500 && progressed === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await first.kill();
    await using second = await startDaemon({ workers: 2, port, dataDir, args: ['--max-payload', String(1024 * 1024)] });
    expect(second.port).toBe(port);
    expect(await out).toEqual(items.map((_, i) => i));
  } finally {
    await client.close();
  }
});
