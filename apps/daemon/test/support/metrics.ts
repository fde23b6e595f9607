/**
 * Reading a daemon's /metrics in tests: a scrape with the token, and the
 * value of one series of the Prometheus text.
 */
import { http } from './http.js';

/** The metrics text of the daemon on `port`; throws unless 200. */
export async function scrapeMetrics(port: number, token: string): Promise<string> {
  const r = await http(port, { path: '/metrics', headers: { authorization: `Bearer ${token}` } });
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${r.body}`);
  return r.body;
}

/** The value of one series (`name{labels}` exactly as exposed), or undefined. */
export function metricValue(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  return undefined;
}
