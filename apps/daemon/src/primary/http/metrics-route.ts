/**
 * GET /metrics: the daemon's Prometheus metrics (metrics.ts), for a scraper
 * holding the daemon's token (`Authorization: Bearer <token>`). Without it,
 * or with another, 401 (E_AUTH) and nothing else: the figures name the clients.
 * Renders are paced (paced.ts): four scrapes in flight beside 1,000 clients
 * cut a neighbour's awaited adds from ~15,000 to 886 in 3 s unpaced.
 */
import { ErrorCode } from '@corepool/protocol/internal';
import type { HttpHandler } from './routes.js';
import { bearerToken } from './routes.js';
import { refuse } from './dashboard-http.js';
import { tokenMatches } from '../token.js';
import type { Metrics } from '../metrics.js';
import { realClock, type Clock } from '../clock.js';
import { Paced } from '../paced.js';

/** The handler of /metrics. */
export function metricsRoute(metrics: Metrics, token: string, clock: Clock = realClock): HttpHandler {
  const pacing = new Paced(() => metrics.render(), clock);
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return refuse(res, 405, ErrorCode.E_BAD_MESSAGE, 'only GET and HEAD are served here', { allow: 'GET, HEAD' });
    const given = bearerToken(req);
    if (given === undefined || !tokenMatches(token, given)) {
      return refuse(res, 401, ErrorCode.E_AUTH, 'a valid token is required: Authorization: Bearer <token>', {
        'www-authenticate': 'Bearer realm="corepool"',
      });
    }
    // Loaded first (prom-client, and the first event-loop samples: a few hundred ms), so that the pacing measures renders alone.
    await metrics.load();
    const { body, contentType } = await pacing.next();
    if (res.destroyed) return;
    res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}
