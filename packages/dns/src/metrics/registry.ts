/**
 * A small metrics registry: counters, gauges and histograms with labels, rendered in the
 * Prometheus text format. Cheap on the hot path: a labelled child is looked up once and kept;
 * incrementing it is a property add.
 *
 * Naming: `hoplite_dns_<stage>_<what>_total` for counters, the stage name as in the config.
 */

type Labels = Readonly<Record<string, string>>;

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  return keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(',');
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export class CounterChild {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

export class Counter {
  readonly type = 'counter';
  private readonly children = new Map<string, CounterChild>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  /** The child for these labels (create once, keep the reference on hot paths). */
  labels(labels: Labels = {}): CounterChild {
    const key = labelKey(labels);
    let c = this.children.get(key);
    if (!c) {
      c = new CounterChild();
      this.children.set(key, c);
    }
    return c;
  }
  inc(labels: Labels = {}, n = 1): void {
    this.labels(labels).inc(n);
  }
  get(labels: Labels = {}): number {
    return this.children.get(labelKey(labels))?.value ?? 0;
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, c] of this.children) lines.push(`${this.name}${k ? `{${k}}` : ''} ${c.value}`);
    return lines;
  }
}

export class Gauge {
  readonly type = 'gauge';
  private readonly values = new Map<string, number>();
  private readonly collectors: Array<() => void> = [];
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  set(value: number, labels: Labels = {}): void {
    this.values.set(labelKey(labels), value);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  /** Called before rendering, to sample a value (e.g. connections open). */
  collect(fn: () => void): void {
    this.collectors.push(fn);
  }
  render(): string[] {
    for (const fn of this.collectors) fn();
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    for (const [k, v] of this.values) lines.push(`${this.name}${k ? `{${k}}` : ''} ${v}`);
    return lines;
  }
}

/** Default buckets in seconds, tuned for a node-local resolver (100 us .. 10 s). */
export const DURATION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class HistogramChild {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(private readonly buckets: readonly number[]) {
    this.counts = new Array<number>(buckets.length).fill(0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}

export class Histogram {
  readonly type = 'histogram';
  private readonly children = new Map<string, HistogramChild>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[] = DURATION_BUCKETS,
  ) {}
  labels(labels: Labels = {}): HistogramChild {
    const key = labelKey(labels);
    let c = this.children.get(key);
    if (!c) {
      c = new HistogramChild(this.buckets);
      this.children.set(key, c);
    }
    return c;
  }
  observe(v: number, labels: Labels = {}): void {
    this.labels(labels).observe(v);
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, c] of this.children) {
      const sep = k ? ',' : '';
      let cum = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cum += c.counts[i]!;
        lines.push(`${this.name}_bucket{${k}${sep}le="${this.buckets[i]}"} ${cum}`);
      }
      lines.push(`${this.name}_bucket{${k}${sep}le="+Inf"} ${c.count}`);
      lines.push(`${this.name}_sum${k ? `{${k}}` : ''} ${c.sum}`);
      lines.push(`${this.name}_count${k ? `{${k}}` : ''} ${c.count}`);
    }
    return lines;
  }
}

type Metric = Counter | Gauge | Histogram;

export class Registry {
  private readonly metrics = new Map<string, Metric>();
  counter(name: string, help: string): Counter {
    return this.getOrAdd(name, () => new Counter(name, help));
  }
  gauge(name: string, help: string): Gauge {
    return this.getOrAdd(name, () => new Gauge(name, help));
  }
  histogram(name: string, help: string, buckets?: readonly number[]): Histogram {
    return this.getOrAdd(name, () => new Histogram(name, help, buckets));
  }
  private getOrAdd<T extends Metric>(name: string, make: () => T): T {
    const existing = this.metrics.get(name);
    if (existing) return existing as T;
    const m = make();
    this.metrics.set(name, m);
    return m;
  }
  /** Prometheus text exposition format. */
  render(): string {
    const lines: string[] = [];
    for (const m of this.metrics.values()) lines.push(...m.render());
    return lines.join('\n') + '\n';
  }
}
