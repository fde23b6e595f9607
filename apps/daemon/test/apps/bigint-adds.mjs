// Value `name` holds 2^(8 * bytes) (set by the test): on the test's line, sends `adds` adds of 1n
// together (none awaited before the next is sent) and a get after them; prints how each ended.
import { connect } from '@corepool/client';
import { finish, nextLine, out, params } from './lines.mjs';

const { name, bytes, adds } = params;
const client = await connect();
const big = client.value(name);
const start = 2n ** (8n * BigInt(bytes));
out({ ready: true });
await nextLine();
const t0 = performance.now();
const sums = Array.from({ length: adds }, () => big.add(1n));
const read = big.get();
const settled = await Promise.allSettled(sums);
const after = await read.then(
  (v) => String(v - start),
  (e) => e.code,
);
const burstMs = Math.round(performance.now() - t0);
// Each add's sum, as the count of adds before it and its own: 1, 2, ... when applied once and in order.
const got = settled.map((s) => (s.status === 'fulfilled' ? String(s.value - start) : s.reason.code));
const final = String((await big.get()) - start);
await client.close();
finish({ burstMs, got, after, final });
