// Value `name` holds a small number the daemon has seen; on the test's line, sends a set of 2^(8 * bytes)
// and `adds` adds of 1n right behind it (none awaited before the next is sent), then prints how each ended.
import { connect } from '@corepool/client';
import { finish, nextLine, out, params } from './lines.mjs';

const { name, bytes, adds } = params;
const client = await connect();
const v = client.value(name);
await v.set(1n);
await v.add(1n);
const start = 2n ** (8n * BigInt(bytes));
out({ ready: true });
await nextLine();
const t0 = performance.now();
const set = v.set(start);
const sums = Array.from({ length: adds }, () => v.add(1n));
const settled = await Promise.allSettled([set, ...sums]);
const burstMs = Math.round(performance.now() - t0);
// The set's outcome, then each add's sum as the count of adds before it and its own: 1, 2, ... when applied once and in order.
const got = settled.map((s, i) => (s.status === 'rejected' ? s.reason.code : i === 0 ? 'set' : String(s.value - start)));
const final = String((await v.get()) - start);
await client.close();
finish({ burstMs, got, final });
