/**
 * One timer for many deadlines, and a single `setTimeout` armed for the earliest one; no closure or
 * Timeout object per exchange. When the earliest item is removed the armed timer is left alone: it
 * fires, finds nothing due, and re-arms for the new earliest item (under load with one timeout
 * value that is about one spurious wake-up per timeout period).
 *
 * Items live in one of two structures:
 * - FIFO lanes: doubly linked lists kept in deadline order. Most deadlines are "now + a fixed
 *   duration" (an exchange timeout, a query deadline, a grace period), so each arrives later than
 *   the last one of its kind: it is appended to the lane whose last deadline is the latest not
 *   after it. Adding, removing and finding the earliest cost O(1) (times the few lanes).
 * - a binary min-heap, each item carrying its own index, for deadlines that fit no lane when
 *   every lane is taken (O(log n)).
 */
import { performance } from 'node:perf_hooks';

export interface Timed {
  /** Absolute deadline on the queue's clock (milliseconds). */
  deadline: number;
  /** Position in the heap, -1 when not in the heap. Owned by the queue. */
  heapIndex: number;
  /** The lane holding the item, and its neighbours there. Owned by the queue (declare them
   *  initialised to undefined in classes, to keep object shapes stable). */
  lane?: Lane | undefined;
  lanePrev?: Timed | undefined;
  laneNext?: Timed | undefined;
  /** Called once when the deadline has passed; the item is no longer queued. */
  onDeadline(now: number): void;
}

/** A FIFO lane: items in nondecreasing deadline order. */
export class Lane {
  head: Timed | undefined = undefined;
  tail: Timed | undefined = undefined;
}

/** Lanes at most; deadlines that fit none go to the heap. */
const MAX_LANES = 8;

export type Clock = () => number;

/** Timers fire on whole milliseconds: what is due within this much of now counts as due. An item
 *  that re-queues itself from onDeadline(now) must treat `deadline <= now + DUE_SLACK_MS` as past. */
export const DUE_SLACK_MS = 0.5;

export const monotonicClock: Clock = () => performance.now();

export class DeadlineQueue {
  private readonly heap: Timed[] = [];
  private readonly lanes: Lane[] = [];
  private inLanes = 0;
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;
  private closed = false;
  private readonly fire = (): void => this.onTimer();

  constructor(readonly clock: Clock = monotonicClock) {}

  get size(): number {
    return this.heap.length + this.inLanes;
  }

  /** Queue `item` (or move it, when already queued) to fire at `deadline`. */
  add(item: Timed, deadline: number): void {
    if (item.heapIndex >= 0 || item.lane !== undefined) this.remove(item);
    item.deadline = deadline;
    // The lane whose last deadline is the latest not after this one (or an empty lane).
    const lanes = this.lanes;
    let lane: Lane | undefined;
    let laneTail = -Infinity;
    let empty: Lane | undefined;
    for (let i = 0; i < lanes.length; i++) {
      const l = lanes[i]!;
      const tail = l.tail;
      if (tail === undefined) {
        empty ??= l;
      } else if (tail.deadline <= deadline && tail.deadline > laneTail) {
        lane = l;
        laneTail = tail.deadline;
      }
    }
    if (lane === undefined) lane = empty;
    if (lane === undefined && lanes.length < MAX_LANES) {
      lane = new Lane();
      lanes.push(lane);
    }
    if (lane !== undefined) {
      const tail = lane.tail;
      item.lane = lane;
      item.lanePrev = tail;
      item.laneNext = undefined;
      if (tail === undefined) lane.head = item;
      else tail.laneNext = item;
      lane.tail = item;
      this.inLanes++;
    } else {
      const h = this.heap;
      item.heapIndex = h.length;
      h.push(item);
      this.up(item.heapIndex);
    }
    if (deadline < this.armedFor) this.arm(deadline);
  }

  /** Unqueue `item`; no-op when it is not queued. */
  remove(item: Timed): void {
    const lane = item.lane;
    if (lane !== undefined) {
      const prev = item.lanePrev;
      const next = item.laneNext;
      if (prev === undefined) lane.head = next;
      else prev.laneNext = next;
      if (next === undefined) lane.tail = prev;
      else next.lanePrev = prev;
      item.lane = undefined;
      item.lanePrev = undefined;
      item.laneNext = undefined;
      this.inLanes--;
      return;
    }
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
    for (const lane of this.lanes) {
      for (let item = lane.head; item !== undefined; ) {
        const next = item.laneNext;
        item.lane = undefined;
        item.lanePrev = undefined;
        item.laneNext = undefined;
        item = next;
      }
      lane.head = undefined;
      lane.tail = undefined;
    }
    this.inLanes = 0;
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
    const now = this.clock();
    for (;;) {
      const item = this.earliest();
      if (item === undefined || item.deadline > now + DUE_SLACK_MS) break;
      this.remove(item);
      item.onDeadline(now);
    }
    const next = this.earliest();
    if (next !== undefined && next.deadline < this.armedFor) this.arm(next.deadline);
  }

  /** The item with the earliest deadline: the heap's top or a lane's head. */
  private earliest(): Timed | undefined {
    let best: Timed | undefined = this.heap[0];
    const lanes = this.lanes;
    for (let i = 0; i < lanes.length; i++) {
      const head = lanes[i]!.head;
      if (head !== undefined && (best === undefined || head.deadline < best.deadline)) best = head;
    }
    return best;
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
