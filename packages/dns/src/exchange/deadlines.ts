/**
 * One timer for many deadlines: a binary min-heap of items, each carrying its own heap index, and
 * a single `setTimeout` armed for the earliest one. Adding and removing cost O(log n) and allocate
 * nothing; no closure or Timeout object per exchange. When the earliest item is removed the armed
 * timer is left alone: it fires, finds nothing due, and re-arms for the new earliest item (under
 * load with one timeout value that is about one spurious wake-up per timeout period).
 */
import { performance } from 'node:perf_hooks';

export interface Timed {
  /** Absolute deadline on the queue's clock (milliseconds). */
  deadline: number;
  /** Position in the heap, -1 when not queued. Owned by the queue. */
  heapIndex: number;
  /** Called once when the deadline has passed; the item is no longer queued. */
  onDeadline(now: number): void;
}

export type Clock = () => number;

export const monotonicClock: Clock = () => performance.now();

export class DeadlineQueue {
  private readonly heap: Timed[] = [];
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;
  private closed = false;
  private readonly fire = (): void => this.onTimer();

  constructor(readonly clock: Clock = monotonicClock) {}

  get size(): number {
    return this.heap.length;
  }

  /** Queue `item` (or move it, when already queued) to fire at `deadline`. */
  add(item: Timed, deadline: number): void {
    if (item.heapIndex >= 0) this.remove(item);
    item.deadline = deadline;
    const h = this.heap;
    item.heapIndex = h.length;
    h.push(item);
    this.up(item.heapIndex);
    if (deadline < this.armedFor) this.arm(deadline);
  }

  /** Unqueue `item`; no-op when it is not queued. */
  remove(item: Timed): void {
    const i = item.heapIndex;
    if (i < 0) return;
    const h = this.heap;
    const last = h.pop()!;
    item.heapIndex = -1;
    if (i < h.length) {
      h[i] = last;
      last.heapIndex = i;
      this.down(i);
      this.up(last.heapIndex);
    }
  }

  /** Stop the timer and forget every item (their onDeadline is not called). */
  close(): void {
    this.closed = true;
    for (const item of this.heap) item.heapIndex = -1;
    this.heap.length = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
  }

  private arm(deadline: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    const delay = Math.max(1, Math.ceil(deadline - this.clock()));
    this.timer = setTimeout(this.fire, delay);
    this.armedFor = deadline;
  }

  private onTimer(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    const h = this.heap;
    // Timers fire on whole milliseconds; treat what is due within half a millisecond as due.
    const now = this.clock();
    while (h.length > 0 && h[0]!.deadline <= now + 0.5) {
      const item = h[0]!;
      this.remove(item);
      item.onDeadline(now);
    }
    if (h.length > 0 && h[0]!.deadline < this.armedFor) this.arm(h[0]!.deadline);
  }

  private up(i: number): void {
    const h = this.heap;
    const item = h[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p]!;
      if (parent.deadline <= item.deadline) break;
      h[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    h[i] = item;
    item.heapIndex = i;
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    const item = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && h[r]!.deadline < h[l]!.deadline ? r : l;
      const child = h[c]!;
      if (child.deadline >= item.deadline) break;
      h[i] = child;
      child.heapIndex = i;
      i = c;
    }
    h[i] = item;
    item.heapIndex = i;
  }
}
