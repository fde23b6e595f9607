/**
 * dashboard.ts - the dashboard's routes on the daemon's port: `/` (the page,
 * or a redirect to the login), `/login` (GET the form, POST the token),
 * `/logout`, `/assets/*` (script and style, public: they hold no data), and
 * the JSON the page polls, `/api/status` (the daemon's status) and
 * `/api/state` (one page of the named state). Everything but the login form
 * and the assets needs a session (the cookie a login sets) or the token as a
 * Bearer header; a POST from another origin is refused, failed logins are
 * rate-limited (login-limiter.ts), bodies are bounded.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode } from '@corepool/protocol';
import type { StateCounts, StateStore } from '../../state/state-store.js';
import { MAX_LIST_LIMIT } from '../../state/state-listing.js';
import { tokenMatches } from '../token.js';
import { asset } from './dashboard-assets.js';
import {
  BodyTooLarge,
  CLEAR_COOKIE,
  JSON_TYPE,
  crossOrigin,
  readBody,
  refuse,
  send,
  sendJson,
  sessionCookies,
  setCookie,
} from './dashboard-http.js';
import { DashboardSessions } from './dashboard-sessions.js';
import { LoginLimiter } from './login-limiter.js';
import { bearerToken, type HttpRoutes } from './routes.js';

/** Largest login form body (a token is 43 characters; room for a long --token-file one). */
export const MAX_LOGIN_BODY = 4096;

export interface DashboardOptions {
  token: string;
  /**
   * A status made after the request, as JSON (status-snapshot.ts): encoded once for every request that
   * waited for it. Encoded per request (1.8 ms with 1,000 clients connected), a loop of /api/status calls
   * took the primary past the pacing the status has, slowing a neighbour's adds by half.
   */
  status: () => Promise<Buffer>;
  /**
   * The state's counts, made after the request and paced as the status is (paced.ts): they walk every
   * queue, dict and lock, and made for each request, a loop of `/api/state` calls over millions of names
   * held the primary for tens of ms a call, charged to no connection.
   */
  counts: () => Promise<StateCounts>;
  state: StateStore;
}

/** Registers the dashboard's routes. */
export function addDashboard(routes: HttpRoutes, opts: DashboardOptions): void {
  const sessions = new DashboardSessions();
  const limiter = new LoginLimiter();
  /** The request's live session, if any of its session cookies is one. */
  const session = (req: IncomingMessage): string | undefined => sessionCookies(req).find((id) => sessions.valid(id));

  /** The token given, compared in constant time, counted when wrong; 'limited' past the failed-login bound. */
  const check = (given: string): boolean | 'limited' => {
    if (!limiter.allowed()) return 'limited';
    if (tokenMatches(opts.token, given)) return true;
    limiter.failed();
    return false;
  };
  const limited = (res: ServerResponse): void =>
    refuse(res, 429, ErrorCode.E_LIMIT, 'too many failed logins; try again in a moment', { 'retry-after': String(limiter.retryAfter()) });

  /** True when the request has a live session or the right Bearer token; otherwise answers it (401 or 429). */
  const authed = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (session(req) !== undefined) return true;
    const bearer = bearerToken(req);
    if (bearer !== undefined) {
      const ok = check(bearer);
      if (ok === true) return true;
      if (ok === 'limited') {
        limited(res);
        return false;
      }
    }
    refuse(res, 401, ErrorCode.E_AUTH, 'log in at /login or send the daemon token as a Bearer header', { 'www-authenticate': 'Bearer' });
    return false;
  };

  const page = (res: ServerResponse, name: string, status = 200, fill: Record<string, string> = {}): void => {
    const a = asset(name)!;
    let html = a.body.toString();
    for (const [marker, text] of Object.entries(fill)) html = html.replace(`<!--${marker}-->`, text);
    send(res, status, a.type, html);
  };
  const only = (req: IncomingMessage, res: ServerResponse, ...methods: string[]): boolean => {
    if (methods.includes(req.method ?? '')) return true;
    refuse(res, 405, ErrorCode.E_BAD_MESSAGE, `use ${methods.join(' or ')}`, { allow: methods.join(', ') });
    return false;
  };

  routes.add('/', (req, res) => {
    if (!only(req, res, 'GET', 'HEAD')) return;
    if (session(req) === undefined) return send(res, 303, 'text/plain; charset=utf-8', 'log in at /login\n', { location: '/login' });
    page(res, 'index.html');
  });

  routes.add('/login', async (req, res) => {
    if (!only(req, res, 'GET', 'HEAD', 'POST')) return;
    if (req.method !== 'POST') return page(res, 'login.html');
    const foreign = crossOrigin(req);
    if (foreign !== undefined) return refuse(res, 403, ErrorCode.E_AUTH, `${foreign} may not log in here`);
    if (!limiter.allowed()) return limited(res);
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      return refuse(res, 415, ErrorCode.E_BAD_MESSAGE, 'send the login form (application/x-www-form-urlencoded, field "token")');
    }
    let body: Buffer;
    try {
      body = await readBody(req, MAX_LOGIN_BODY);
    } catch (err) {
      if (err instanceof BodyTooLarge) return refuse(res, 413, ErrorCode.E_TOO_LARGE, `a login form has at most ${MAX_LOGIN_BODY} bytes`);
      throw err;
    }
    const text = new TextDecoder('utf-8', { fatal: false }).decode(body);
    const tokens = new URLSearchParams(text).getAll('token');
    if (tokens.length !== 1 || tokens[0] === '') return refuse(res, 400, ErrorCode.E_BAD_MESSAGE, 'the login form needs one "token" field');
    const ok = check(tokens[0]!.trim());
    if (ok === 'limited') return limited(res);
    if (!ok) return page(res, 'login.html', 401, { error: '<p class="error" role="alert">That is not this daemon’s token.</p>' });
    const s = sessions.open();
    send(res, 303, 'text/plain; charset=utf-8', 'logged in\n', { location: '/', 'set-cookie': setCookie(s.id, s.expires) });
  });

  routes.add('/logout', (req, res) => {
    if (!only(req, res, 'POST')) return;
    const foreign = crossOrigin(req);
    if (foreign !== undefined) return refuse(res, 403, ErrorCode.E_AUTH, `${foreign} may not log out here`);
    sessions.close(session(req));
    send(res, 303, 'text/plain; charset=utf-8', 'logged out\n', { location: '/login', 'set-cookie': CLEAR_COOKIE });
  });

  routes.add('/assets/*', (req, res, url) => {
    if (!only(req, res, 'GET', 'HEAD')) return;
    const a = asset(url.pathname);
    if (a === undefined) return refuse(res, 404, ErrorCode.E_BAD_ARGUMENT, 'no such asset');
    send(res, 200, a.type, a.body);
  });

  routes.add('/api/status', (req, res) => {
    if (!only(req, res, 'GET') || !authed(req, res)) return;
    // Returned, so that a status that failed is the server's 500 rather than a rejection nobody handles.
    return opts.status().then((json) => send(res, 200, JSON_TYPE, json));
  });

  routes.add('/api/state', async (req, res, url) => {
    if (!only(req, res, 'GET') || !authed(req, res)) return;
    const limitParam = url.searchParams.get('limit') ?? '100';
    const cursor = url.searchParams.get('cursor') ?? undefined;
    if (!/^\d{1,4}$/.test(limitParam) || Number(limitParam) < 1 || Number(limitParam) > MAX_LIST_LIMIT) {
      return refuse(res, 400, ErrorCode.E_BAD_ARGUMENT, `limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
    }
    if (cursor !== undefined && !/^\d{1,20}$/.test(cursor)) {
      return refuse(res, 400, ErrorCode.E_BAD_ARGUMENT, "cursor must be a previous page's `next`");
    }
    const counts = await opts.counts();
    const page = await opts.state.list(Number(limitParam), cursor);
    sendJson(res, { ...page, counts });
  });
}
