/**
 * Per-server health that forgets (the reference counted failures forever). Pure state: every
 * method takes `now` (milliseconds on any monotonic clock), so unit tests drive it with numbers.
 *
 * - A failure (timeout, network error, REFUSED) adds 1 to a failure score that decays
 *   exponentially (half-life `failureHalfLife`); the score ranks healthy servers (fewer recent
 *   failures first).
 * - `maxFails` consecutive failures mark the server down. A success resets the consecutive count.
 * - A down server gets no queries. Probes (a cheap query) are due after `probeInterval`, doubling
 *   with each failed probe and with each recent down episode (flap damping), capped at
 *   `probeMaxInterval`. A successful probe, or any success, brings it back up.
 */

export interface HealthOptions {
  /** Consecutive failures that mark a server down. Default 3. */
  readonly maxFails: number;
  /** Half-life of the failure score and of the down-episode count, ms. Default 30000. */
  readonly failureHalfLife: number;
  /** Delay before the first probe of a down server, ms. Default 500. */
  readonly probeInterval: number;
  /** Cap on the probe backoff, ms. Default 10000. */
  readonly probeMaxInterval: number;
  /** Name the probe asks. Default `.` (the root). */
  readonly probeName: string;
  /** Type the probe asks (a number or a name: A, AAAA, NS, SOA, TXT). Default NS. */
  readonly probeType: string;
}

export const HEALTH_DEFAULTS: HealthOptions = Object.freeze({
  maxFails: 3,
  failureHalfLife: 30_000,
  probeInterval: 500,
  probeMaxInterval: 10_000,
  probeName: '.',
  probeType: 'NS',
});

export type HealthState = 'up' | 'down';

/** Exponentially decaying counter. */
class Decaying {
  private value = 0;
  private at = 0;
  constructor(private readonly halfLife: number) {}
  get(now: number): number {
    if (this.value === 0) return 0;
    const dt = now - this.at;
    if (dt <= 0) return this.value;
    const v = this.value * Math.pow(0.5, dt / this.halfLife);
    if (v < 1e-3) {
      this.value = 0;
      return 0;
    }
    return v;
  }
  add(n: number, now: number): number {
    this.value = this.get(now) + n;
    this.at = now;
    return this.value;
  }
}

export class ServerHealth {
  state: HealthState = 'up';
  consecutiveFailures = 0;
  /** Failed probes in the current down period. */
  probeFailures = 0;
  /** When the next probe is due (Infinity when up). */
  nextProbeAt = Infinity;
  downSince = 0;
  private readonly score: Decaying;
  private readonly episodes: Decaying;
  private episodesNow = 0;

  constructor(readonly options: HealthOptions = HEALTH_DEFAULTS) {
    this.score = new Decaying(options.failureHalfLife);
    this.episodes = new Decaying(options.failureHalfLife);
  }

  get up(): boolean {
    return this.state === 'up';
  }

  /** Recent failures, decayed: 0 for a clean server, about 1 per failure in the last half-life. */
  failureScore(now: number): number {
    return this.score.get(now);
  }

  /** A good reply. Returns true when this brought the server back up. */
  success(_now: number): boolean {
    this.consecutiveFailures = 0;
    if (this.state === 'up') return false;
    this.markUp();
    return true;
  }

  /** A timeout, network error or refusal. Returns true when this marked the server down. */
  failure(now: number): boolean {
    this.score.add(1, now);
    this.consecutiveFailures++;
    if (this.state === 'down' || this.consecutiveFailures < this.options.maxFails) return false;
    this.state = 'down';
    this.downSince = now;
    this.probeFailures = 0;
    this.episodesNow = this.episodes.add(1, now);
    this.nextProbeAt = now + this.probeDelay();
    return true;
  }

  /** The outcome of a probe. Returns true when the server came back up. */
  probeResult(ok: boolean, now: number): boolean {
    if (ok) return this.success(now);
    if (this.state === 'up') return false;
    this.probeFailures++;
    this.nextProbeAt = now + this.probeDelay();
    return false;
  }

  /** Probe backoff: probeInterval * 2^(failed probes + recent episodes - 1), capped. */
  probeDelay(): number {
    const o = this.options;
    const exp = Math.max(0, this.probeFailures + this.episodesNow - 1);
    return Math.min(o.probeInterval * Math.pow(2, exp), o.probeMaxInterval);
  }

  private markUp(): void {
    this.state = 'up';
    this.probeFailures = 0;
    this.nextProbeAt = Infinity;
  }
}
