/**
 * The plain-HTTP side of the daemon's port: what is served there besides the
 * WebSocket upgrade (the dashboard, /metrics). The server checks the Host of
 * every request before it gets here (against DNS rebinding) and makes every
 * response close its connection, because a socket that is not a WebSocket
 * session stays under the pre-upgrade limits (count and deadline). Each route
 * authenticates for itself: nothing is served without the token.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorCode } from '@corepool/protocol';

/** Serves one request; `url` is the request's URL, parsed. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

/** Paths to handlers; a path ending in `/*` serves everything under it. */
export class HttpRoutes {
  readonly #exact = new Map<string, HttpHandler>();
  readonly #prefixes: [string, HttpHandler][] = [];

  /** Serves `path` with `handler`. */
  add(path: string, handler: HttpHandler): this {
    if (path.endsWith('/*')) this.#prefixes.push([path.slice(0, -1), handler]);
    else this.#exact.set(path, handler);
    return this;
  }

  /** The handler of `pathname`, if one serves it. */
  find(pathname: string): HttpHandler | undefined {
    return this.#exact.get(pathname) ?? this.#prefixes.find(([prefix]) => pathname.startsWith(prefix))?.[1];
  }
}

/** Refuses with `status`, a plain-text body starting with the error code, and the code in `x-corepool-error`. */
export function sendError(
  res: ServerResponse,
  status: number,
  code: ErrorCode,
  message: string,
  headers: Record<string, string> = {},
): void {
  sendText(res, status, `${code}: ${message}`, { 'x-corepool-error': code, ...headers });
}

/** Answers with a short plain-text body (errors, refusals). */
export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(`${text}\n`);
}

/** The token of an `Authorization: Bearer <token>` header, if the request has one. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const m = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}
