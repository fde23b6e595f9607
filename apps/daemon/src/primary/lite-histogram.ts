/**
 * A histogram without labels that costs a few additions per observation: the
 * chunk round trip and item duration are observed once per chunk, and
 * prom-client's own Histogram spends about 0.5 us each (it hashes its labels
 * and walks an object per call, measured). The counts live in a typed array
 * and become prom-client values only when the registry is scraped; the
 * exposition is prom-client's, so the text is the same as its Histogram's.
 * It counts from its creation; it joins a registry then or later (register()),
 * so the daemon need not load prom-client to start counting.
 */
import type { Metric, Registry } from 'prom-client';

export class LiteHistogram {
  readonly #name: string;
  readonly #help: string;
  readonly #bounds: readonly number[];
  /** Per bucket (the last is +Inf), observations that fell in it (not cumulative). */
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(o: { name: string; help: string; buckets: readonly number[]; registry?: Registry }) {
    this.#name = o.name;
    this.#help = o.help;
    this.#bounds = [...o.buckets].sort((a, b) => a - b);
    this.#counts = new Float64Array(this.#bounds.length + 1);
    if (o.registry !== undefined) this.register(o.registry);
  }

  /** Adds it to a registry: what it counted so far included. */
  register(registry: Registry): void {
    const [name, help] = [this.#name, this.#help];
    const metric = {
      name,
      help,
      type: 'histogram',
      aggregator: 'sum',
      get: () => Promise.resolve({ name, help, type: 'histogram', aggregator: 'sum', values: this.#values(name) }),
    };
    // The registry only reads name and get(); it needs no more of a Metric than that.
    registry.registerMetric(metric as unknown as Metric);
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.#counts[i]!++;
    this.#sum += value;
    this.#count++;
  }

  #values(name: string): { metricName: string; labels: Record<string, string | number>; value: number }[] {
    const out: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    let cumulative = 0;
    for (let i = 0; i <= this.#bounds.length; i++) {
      cumulative += this.#counts[i]!;
      out.push({ metricName: `${name}_bucket`, labels: { le: i < this.#bounds.length ? this.#bounds[i]! : '+Inf' }, value: cumulative });
    }
    out.push({ metricName: `${name}_sum`, labels: {}, value: this.#sum });
    out.push({ metricName: `${name}_count`, labels: {}, value: this.#count });
    return out;
  }
}
