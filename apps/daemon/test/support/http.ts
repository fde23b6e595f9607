/**
 * Plain HTTP requests to a daemon's port for the dashboard's hostile-input
 * tests: node:http rather than fetch, so a test can send any Host, Origin or
 * Cookie header, a body of any size, or announce one it never sends.
 */
import { request } from 'node:http';

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface HttpRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** One request to 127.0.0.1:`port`; resolves to its reply (a connection the daemon cuts rejects). */
export function http(port: number, r: HttpRequest = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: r.method ?? 'GET', path: r.path ?? '/', headers: r.headers ?? {} }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

/** A login form POST with `token`, from no browser unless `headers` say otherwise. */
export function login(port: number, token: string, headers: Record<string, string> = {}): Promise<HttpReply> {
  return http(port, {
    method: 'POST',
    path: '/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({ token }).toString(),
  });
}

/** The session cookie a login reply set ("corepool_session=..."), for a Cookie header. */
export function sessionOf(reply: HttpReply): string {
  const set = reply.headers['set-cookie'];
  const cookie = (Array.isArray(set) ? set : [set ?? '']).find((c) => c.startsWith('corepool_session='));
  if (cookie === undefined) throw new Error(`no session cookie in a ${reply.status} reply: ${reply.body}`);
  return cookie.split(';')[0]!;
}
