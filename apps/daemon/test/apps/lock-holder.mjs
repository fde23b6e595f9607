// Acquires lock `name`, prints its fencing token, and holds it until killed.
import { connect } from '@corepool/client';
import { out, params } from './lines.mjs';

const client = await connect();
const { token } = await client.lock(params.name).acquire();
out({ held: true, token, pid: process.pid });
setInterval(() => {}, 1 << 30);
