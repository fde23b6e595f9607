// Iterates client.imap over an endless generator of items (each result ~1 KB), printing
// { results } every 200 ms; the test stops it with SIGSTOP while results arrive.
import { connect } from '@corepool/client';
import { out } from './lines.mjs';

const client = await connect({ reconnectTimeoutMs: 120_000 });
client.on('disconnected', (e) => out({ disconnected: e.code }));
function* endless() {
  for (let i = 0; ; i++) yield i;
}
let results = 0;
setInterval(() => out({ results }), 200);
try {
  for await (const r of client.imap((n) => 'x'.repeat(1000) + n, endless())) {
    results++;
    void r;
  }
} catch (e) {
  out({ failed: e.code });
}
