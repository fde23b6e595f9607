/**
 * dashboard-http.ts - what every dashboard response and request goes
 * through: the security headers (no framing, no inline script, nothing
 * readable by another origin), refusals with an error code, a bounded
 * request body, the same-origin check of a state-changing request, and the
 * session cookie.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorCode } from '@corepool/protocol';
import { sendError } from './routes.js';

/** The session cookie's name. */
export const COOKIE = 'corepool_session';

/**
 * Script and style only from this daemon's files (no inline script: an injected one would not run),
 * nothing fetched elsewhere, never in a frame. No Access-Control-* header is ever sent, so another
 * origin cannot read a response.
 */
export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  // Not no-referrer: under it a browser sends `Origin: null` with a form POST, which the same-origin check must refuse.
  'referrer-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'cache-control': 'no-store',
};

/** Refuses as sendError does, with the security headers. */
export function refuse(res: ServerResponse, status: number, code: ErrorCode, message: string, headers: Record<string, string> = {}): void {
  sendError(res, status, code, message, { ...SECURITY_HEADERS, ...headers });
}

/** Sends a body with the security headers. */
export function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

/** The content type of every JSON response. */
export const JSON_TYPE = 'application/json; charset=utf-8';

/** Sends JSON (never readable cross-origin: no CORS headers, and same-origin resource policy). */
export function sendJson(res: ServerResponse, value: unknown): void {
  send(res, 200, JSON_TYPE, JSON.stringify(value));
}

/** A request body too large for its route. */
export class BodyTooLarge extends Error {}

/** Reads a request body of at most `max` bytes; rejects with BodyTooLarge past it (announced or sent). */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const announced = Number(req.headers['content-length'] ?? 0);
  if (announced > max) return Promise.reject(new BodyTooLarge());
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.pause();
        reject(new BodyTooLarge());
        return;
      }
      parts.push(b);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

/**
 * Why a state-changing request is refused as coming from another origin, or undefined when it is
 * same-origin (or from no browser: a browser always sends Origin with a POST, and Sec-Fetch-Site).
 */
export function crossOrigin(req: IncomingMessage): string | undefined {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `a ${site} request (Sec-Fetch-Site)`;
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${req.headers.host ?? ''}`)
    return `a request from origin ${JSON.stringify(origin.slice(0, 200))}`;
  return undefined;
}

/** Session cookies looked at per request (a browser sends one; a planted one or two may come first). */
const MAX_SESSION_COOKIES = 8;

/**
 * The session ids of the request's cookies, in the order sent. Every one counts, not only the first:
 * another server on this host (cookies are per host, not port) can plant a `corepool_session` with a
 * longer Path, which the browser sends first, and would otherwise log the user out of the dashboard.
 */
export function sessionCookies(req: IncomingMessage): string[] {
  const ids: string[] = [];
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === COOKIE) ids.push(part.slice(eq + 1).trim());
    if (ids.length === MAX_SESSION_COOKIES) break;
  }
  return ids;
}

/** The Set-Cookie of a new session (HttpOnly: no script reads it; SameSite=Strict: no other site's page sends it). */
export function setCookie(id: string, expires: number): string {
  const maxAge = Math.max(0, Math.round((expires - Date.now()) / 1000));
  return `${COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}; Expires=${new Date(expires).toUTCString()}`;
}

/** The Set-Cookie that removes the session cookie. */
export const CLEAR_COOKIE = `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT`;
