// Subscribes to dict or value `name` and keeps its own view of it from the
// pushes alone; prints { ready } once subscribed. The test stops this process
// (SIGSTOP) so the daemon has to coalesce, then resumes it. For a dict it
// prints its view once it has seen key `end`; for a value, every value seen
// once it has seen `end`.
import { connect } from '@corepool/client';
import { finish, out, params } from './lines.mjs';

const { kind, name, end } = params;
const client = await connect();
if (kind === 'dict') {
  const dict = client.dict(name);
  const view = new Map();
  await new Promise((resolve) => {
    dict.subscribe((k, v, deleted) => {
      if (deleted) view.delete(k);
      else view.set(k, v);
      if (k === end) resolve();
    });
    void dict.size().then(() => out({ ready: true }));
  });
  await client.close();
  finish({ done: true, view: [...view].sort(([a], [b]) => (a < b ? -1 : 1)) });
} else {
  const value = client.value(name);
  const seen = [];
  await new Promise((resolve) => {
    value.subscribe((v) => {
      seen.push(v.n);
      if (v.n === end) resolve();
    });
    void client
      .dict('x')
      .size()
      .then(() => out({ ready: true }));
  });
  await client.close();
  finish({ done: true, seen });
}
