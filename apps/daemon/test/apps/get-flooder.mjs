// Sends `gets` reads of the value `name` at once, none awaited in turn, prints { sent }, and then
// { got } every 200 ms; the test stops it with SIGSTOP while the replies (each the whole value) pour in.
import { connect } from '@corepool/client';
import { out, params } from './lines.mjs';

const client = await connect({ reconnectTimeoutMs: 120_000 });
client.on('disconnected', (e) => out({ disconnected: e.code }));
const v = client.value(params.name);
let got = 0;
let failed;
for (let i = 0; i < params.gets; i++) {
  v.get().then(
    () => got++,
    (e) => (failed ??= e.code),
  );
}
out({ sent: params.gets });
setInterval(() => out({ got, failed }), 200);
