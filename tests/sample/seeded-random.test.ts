import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/sample/seeded-random.js';

const take = (next: () => number, count: number) => Array.from({ length: count }, () => next());

describe('seededRandom', () => {
  it('gives the same numbers for the same seed, and others for another seed', () => {
    const first = take(seededRandom(42), 50);
    expect(take(seededRandom(42), 50)).toEqual(first);
    expect(take(seededRandom(43), 50)).not.toEqual(first);
  });

  it('stays in [0, 1) and spreads over it', () => {
    const values = take(seededRandom(7), 10_000);
    expect(values.every((value) => value >= 0 && value < 1)).toBe(true);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
    // Every tenth of the interval gets its share (1,000 expected each).
    for (let tenth = 0; tenth < 10; tenth++) {
      const inside = values.filter((value) => Math.floor(value * 10) === tenth).length;
      expect(inside).toBeGreaterThan(850);
      expect(inside).toBeLessThan(1150);
    }
  });
});
