/**
 * The HTTP server that upgrades to WebSocket. Before a socket is handed to a
 * Session it is checked like a browser-facing service must be: an upgrade
 * with an Origin header or a foreign Host is refused (403 saying why, against
 * DNS rebinding), plain HTTP gets 426, and a client over --max-clients gets
 * close 1013. A socket that has not yet become a Session costs a descriptor
 * and needs no token, so there are at most maxPreUpgrade of them (a new one
 * pushes out the oldest) and each gets the authentication deadline to finish
 * its upgrade: a flood of half-open upgrades cannot hold every descriptor.
 * What a connection keeps for its lifetime is paid per idle client, so
 * listeners on its socket and the session context are shared, not made per
 * connection.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { CloseCode, ErrorCode, TooManyClientsError, encodeMessage } from '@corepool/protocol/internal';
import { Session, type SessionContext } from './session.js';
import { sendError, type HttpRoutes } from './http/routes.js';
import { LogThrottle } from './log-throttle.js';

export interface ServerOptions {
  host: string;
  port: number;
  maxClients: number;
  /** Sockets still in their HTTP upgrade (or refused and closing) at once. */
  maxPreUpgrade: number;
  /** Time a socket has to complete its upgrade (the authentication deadline). */
  preUpgradeMs: number;
  maxPayload: number;
  heartbeatMs: number;
  /** What plain HTTP requests may reach (the dashboard, /metrics); anything else gets 426. */
  routes?: HttpRoutes;
}

/** Bind addresses that accept connections on every interface. */
const WILDCARDS = new Set(['0.0.0.0', '::', '[::]']);

/** The listening WebSocket server and its sessions. */
export class DaemonServer {
  readonly sessions = new Set<Session>();
  /** The sessions by state owner key ("c:12"): a push or a charge finds its connection at once. */
  readonly #byOwner = new Map<string, Session>();
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #opts: ServerOptions;
  readonly #ctx: Omit<SessionContext, 'onClose' | 'onAuth'>;
  /** One `http-error` line per path and message per window, with the count of those left out. */
  readonly #httpErrors = new LogThrottle();
  /** The context of every session: one object, so a connection keeps no copy of it. */
  readonly #sessionCtx: SessionContext;
  /** A pre-upgrade socket's 'close' listener, the same for every socket (the socket is its `this`). */
  readonly #onPreUpgradeClose: (this: Duplex) => void;
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #allowedHosts: Set<string>;
  /** Sockets not yet a Session, oldest first, with the timer that ends them at the deadline. */
  readonly #preUpgrade = new Map<Duplex, NodeJS.Timeout>();
  #lastAcceptError = 0;

  constructor(opts: ServerOptions, ctx: Omit<SessionContext, 'onClose' | 'onAuth'>) {
    this.#opts = opts;
    this.#ctx = ctx;
    this.#sessionCtx = {
      ...ctx,
      onAuth: (s) => ctx.log.debug({ event: 'client-connected', client: s.id, name: s.name }),
      onClose: (s) => {
        if (s.authed) ctx.log.debug({ event: 'client-closed', client: s.id, name: s.name });
        this.sessions.delete(s);
        this.#byOwner.delete(s.owner);
      },
    };
    const drop = (socket: Duplex): Duplex => this.#drop(socket);
    this.#onPreUpgradeClose = function (this: Duplex) {
      drop(this);
    };
    this.#allowedHosts = new Set(['localhost', '127.0.0.1', '[::1]', '::1', bracketed(opts.host.toLowerCase()), hostname().toLowerCase()]);
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload, perMessageDeflate: false, clientTracking: false });
    // Node's own limits (60 s for headers, checked every 30 s) would let a half-open request hold its socket for a minute.
    // No idle timeout (server.timeout): #admit's deadline already ends every socket that is not a session by then, and
    // the timer Node would arm per socket stays referenced from it after the upgrade (~0.3 KB per idle client).
    const deadline = opts.preUpgradeMs;
    this.#http = createServer(
      { headersTimeout: deadline, requestTimeout: deadline, connectionsCheckingInterval: Math.max(50, Math.min(1000, deadline / 2)) },
      (req, res) => this.#request(req, res),
    );
    this.#http.on('connection', (socket: Socket) => this.#admit(socket));
    this.#http.on('upgrade', (req, socket, head) => this.#upgrade(req, socket, head));
    this.#http.on('clientError', (_err, socket) => socket.destroy());
  }

  /** The open session whose state owner key is `owner`. */
  session(owner: string): Session | undefined {
    return this.#byOwner.get(owner);
  }

  /** Starts listening; resolves to the bound port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen(this.#opts.port, this.#opts.host, () => {
        this.#http.off('error', reject);
        // An accept that fails (EMFILE past the open-files limit) is an 'error' on the server: without a listener it kills the daemon.
        this.#http.on('error', (err: NodeJS.ErrnoException) => this.#onAcceptError(err));
        const addr = this.#http.address();
        const port = typeof addr === 'object' && addr !== null ? addr.port : this.#opts.port;
        this.#heartbeat = setInterval(() => {
          for (const s of this.sessions) s.heartbeat();
        }, this.#opts.heartbeatMs);
        this.#heartbeat.unref();
        resolve(port);
      });
    });
  }

  /** Stops accepting connections; existing ones stay until closeAll. */
  stopListening(): void {
    clearInterval(this.#heartbeat);
    this.#http.close();
  }

  /** Closes every session with `code`. */
  closeAll(code: number, reason: string): void {
    for (const s of [...this.sessions]) s.close(code, reason);
    this.#http.closeAllConnections();
  }

  /** Counts a new socket until it becomes a Session or closes; the oldest goes when there are too many. */
  #admit(socket: Socket): void {
    if (this.#preUpgrade.size >= this.#opts.maxPreUpgrade) {
      const oldest = this.#preUpgrade.keys().next().value;
      if (oldest !== undefined) this.#drop(oldest).destroy();
    }
    const timer = setTimeout(() => this.#drop(socket).destroy(), this.#opts.preUpgradeMs);
    timer.unref();
    this.#preUpgrade.set(socket, timer);
    // 'close' comes once: `on` spares the wrapper `once` would keep on the socket for its lifetime.
    socket.on('close', this.#onPreUpgradeClose);
  }

  /** Stops counting a socket (it closed, or became a Session); returns it. */
  #drop(socket: Duplex): Duplex {
    clearTimeout(this.#preUpgrade.get(socket));
    this.#preUpgrade.delete(socket);
    return socket;
  }

  #onAcceptError(err: NodeJS.ErrnoException): void {
    const now = Date.now();
    if (now - this.#lastAcceptError < 10_000) return;
    this.#lastAcceptError = now;
    this.#ctx.log.error({
      event: 'accept-error',
      code: err.code,
      clients: this.sessions.size,
      preUpgrade: this.#preUpgrade.size,
      message: err.message,
    });
  }

  /** True for a Host this daemon can be reached by: loopback, its hostname, the bind address or, bound to a wildcard, any local address. */
  #hostAllowed(host: string): boolean {
    if (this.#allowedHosts.has(host)) return true;
    if (!WILDCARDS.has(this.#opts.host)) return false;
    // Interfaces come and go (DHCP, VPN): look again before refusing.
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) this.#allowedHosts.add(a.family === 'IPv6' ? `[${a.address.toLowerCase()}]` : a.address);
    }
    return this.#allowedHosts.has(host);
  }

  /** Why a request's Host is refused (against DNS rebinding), or undefined when it names this daemon. */
  #foreignHost(req: IncomingMessage): string | undefined {
    const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
    if (this.#hostAllowed(host)) return undefined;
    const reachable = WILDCARDS.has(this.#opts.host)
      ? "an address of this machine's interfaces or its hostname"
      : this.#opts.host === 'localhost' || this.#opts.host === '127.0.0.1'
        ? "this machine's hostname"
        : `${this.#opts.host} or this machine's hostname`;
    return (
      `Host ${JSON.stringify(host.slice(0, 200))} is not a name or address of this daemon (it listens on ${this.#opts.host}); ` +
      `connect by localhost, 127.0.0.1 or ${reachable}. Other names are refused against DNS rebinding.`
    );
  }

  /** A plain HTTP request: a route when one serves its path, else 426 (this port is a WebSocket's). */
  #request(req: IncomingMessage, res: ServerResponse): void {
    // The socket stays under the pre-upgrade deadline: each response closes it rather than keep it alive to be cut mid-request.
    res.shouldKeepAlive = false;
    res.on('error', () => res.destroy());
    const foreign = this.#foreignHost(req);
    if (foreign !== undefined) return sendError(res, 403, ErrorCode.E_AUTH, foreign);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://daemon');
    } catch {
      return sendError(res, 400, ErrorCode.E_BAD_MESSAGE, 'malformed request URL');
    }
    const handler = this.#opts.routes?.find(url.pathname);
    if (handler === undefined)
      return sendError(res, 426, ErrorCode.E_BAD_MESSAGE, 'corepool speaks WebSocket here', { upgrade: 'websocket' });
    Promise.resolve()
      .then(() => handler(req, res, url))
      .catch((err: unknown) => {
        // The client went away mid-request (a body cut short): its doing, and nobody to answer. Logged, anyone
        // who could reach the port wrote an error line per dropped POST, 2,000 a second, unthrottled.
        if (req.destroyed || (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
          res.destroy();
          return;
        }
        const path = url.pathname.slice(0, 200);
        const message = String(err);
        const suppressed = this.#httpErrors.admit(`${path}\0${message}`);
        if (suppressed !== undefined)
          this.#ctx.log.error({ event: 'http-error', path, message, ...(suppressed > 0 ? { suppressed } : {}) });
        sendError(res, 500, ErrorCode.E_INTERNAL, 'internal error');
      });
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', destroySocket);
    if (req.headers.origin !== undefined) {
      refuse(socket, 403, 'browser-originated connections (Origin header) are refused');
      return;
    }
    const foreign = this.#foreignHost(req);
    if (foreign !== undefined) {
      refuse(socket, 403, foreign);
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.sessions.size >= this.#opts.maxClients) {
        ws.on('error', () => {});
        const error = new TooManyClientsError(`the daemon serves its maximum of ${this.#opts.maxClients} clients`);
        this.#ctx.onRefused?.(undefined, error);
        ws.send(encodeMessage({ type: 'error', error: error.toWire() }));
        ws.close(CloseCode.TRY_AGAIN_LATER, ErrorCode.E_TOO_MANY_CLIENTS);
        return;
      }
      this.#drop(socket);
      const s = new Session(ws, this.#sessionCtx, socket);
      this.sessions.add(s);
      this.#byOwner.set(s.owner, s);
    });
  }
}

/** An upgrading socket's 'error' listener (the socket is its `this`): one function for every socket. */
function destroySocket(this: Duplex): void {
  this.destroy();
}

function refuse(socket: Duplex, status: number, why: string): void {
  socket.end(
    `HTTP/1.1 ${status} Forbidden\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(why) + 1}\r\n\r\n${why}\n`,
  );
}

/** An IPv6 address as it appears in a Host header. */
function bracketed(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
