/**
 * Long run of worker-faults.test.ts: the plan's full row 1 (10k items of 50 ms,
 * here 50 kill cycles) and more timeout samples. Override with CP_* env vars.
 */
process.env.CP_KILL_ITEMS ??= '10000';
process.env.CP_KILL_TASK_MS ??= '50';
process.env.CP_KILLS ??= '50';
process.env.CP_POISON_ITEMS ??= '100000';
process.env.CP_TIMEOUT_ROUNDS ??= '50';
await import('../worker-faults.test.js');
