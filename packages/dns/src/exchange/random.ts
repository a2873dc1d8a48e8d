/**
 * Crypto-quality randomness for query IDs, socket choice and server order, drawn from the kernel
 * in batches (one `randomFillSync` per 4 KiB) so that a 16-bit draw costs a buffer read.
 */
import { randomFillSync } from 'node:crypto';

export interface RandomSource {
  /** A uniformly random integer in [0, 65535]. */
  uint16(): number;
  /** A uniformly random integer in [0, n), n from 1 to 65536. */
  below(n: number): number;
}

const BATCH = 4096;

export class CryptoRandom implements RandomSource {
  private readonly buf = Buffer.allocUnsafe(BATCH);
  private pos = BATCH;

  uint16(): number {
    if (this.pos >= BATCH) {
      randomFillSync(this.buf);
      this.pos = 0;
    }
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  below(n: number): number {
    if (n <= 1) return 0;
    // Rejection sampling: no modulo bias.
    const limit = 65536 - (65536 % n);
    for (;;) {
      const v = this.uint16();
      if (v < limit) return v % n;
    }
  }
}

/** Fisher-Yates shuffle of `items` in place. */
export function shuffle<T>(items: T[], random: RandomSource): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.below(i + 1);
    const tmp = items[i]!;
    items[i] = items[j]!;
    items[j] = tmp;
  }
  return items;
}
