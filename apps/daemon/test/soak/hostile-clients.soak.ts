/**
 * Long run of hostile-clients.test.ts: 10 minutes of mutation fuzzing, 200k
 * fragments, 1 GiB of items through client.map, more Value pushes to a stalled
 * reader. Override with CP_* env vars.
 */
process.env.CP_FUZZ_MS ??= String(10 * 60 * 1000);
process.env.CP_FRAGMENTS ??= '200000';
process.env.CP_BIG_ITEMS ??= '1024';
process.env.CP_SLOW_PUSHES ??= '20000';
await import('../hostile-clients.test.js');
