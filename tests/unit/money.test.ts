import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../helpers/prng';
import {
  assertMicros,
  formatUsd,
  microsToCents,
  microsToUsd,
  splitProportional,
  toExactDecimal,
  usdCentsToMicros,
  usdToMicros,
} from '../../core/money';

describe('usdToMicros', () => {
  it.each([
    ['19.99', 19_990_000],
    [19.99, 19_990_000], // String(19.99) === "19.99": no float multiply (19.99 * 1e6 = 19989999.999999996)
    ['0.29', 290_000],
    [0.29, 290_000],
    ['0.000001', 1],
    ['0.015', 15_000],
    [0.005, 5_000],
    ['50', 50_000_000],
    [50, 50_000_000],
    ['-10', -10_000_000],
    ['+1.5', 1_500_000],
    ['.5', 500_000],
    ['5.', 5_000_000],
    ['  2.25  ', 2_250_000],
    ['1e3', 1_000_000_000],
    ['2.5e-5', 25],
    [1e-6, 1], // String(1e-6) === "0.000001"
  ] as const)('%j → %d', (input, expected) => {
    expect(usdToMicros(input)).toBe(expected);
  });

  it('accepts trailing zeros past the 6th decimal (the value is still exact)', () => {
    expect(usdToMicros('1.5000000')).toBe(1_500_000);
    expect(usdToMicros('0.1234560000')).toBe(123_456);
    expect(usdToMicros('25000000e-7')).toBe(2_500_000);
  });

  it('never returns -0', () => {
    expect(Object.is(usdToMicros('-0'), 0)).toBe(true);
    expect(Object.is(usdToMicros(-0), 0)).toBe(true);
    expect(Object.is(usdToMicros('-0.000000'), 0)).toBe(true);
  });

  it.each([
    ['1.1234567'],
    ['0.0000001'],
    ['1.5e-6'],
    [1e-7],
    [0.1 + 0.2], // String() is "0.30000000000000004": 17 decimals
    [''],
    ['   '],
    ['abc'],
    ['1..2'],
    ['0x10'],
    ['1,5'],
    ['NaN'],
    ['Infinity'],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    ['1e400'],
    ['9007199255'], // 9_007_199_255 USD × 1e6 > MAX_SAFE_INTEGER
    [1e21],
  ] as const)('rejects %j with a RangeError', (input) => {
    expect(() => usdToMicros(input)).toThrow(RangeError);
  });
});

describe('toExactDecimal', () => {
  it('normalises digits and scale', () => {
    expect(toExactDecimal('19.990')).toEqual({ negative: false, digits: 1999n, scale: 2 });
    expect(toExactDecimal('1.50e1')).toEqual({ negative: false, digits: 15n, scale: 0 });
    expect(toExactDecimal('-0.0')).toEqual({ negative: false, digits: 0n, scale: 0 });
    expect(toExactDecimal(1e-7)).toEqual({ negative: false, digits: 1n, scale: 7 });
    expect(toExactDecimal('-12e2')).toEqual({ negative: true, digits: 1200n, scale: 0 });
  });
});

describe('cents', () => {
  it('$19.99 → 19_990_000 micros → 1999 cents (v1 float truncation gave 1998)', () => {
    expect(microsToCents(usdToMicros('19.99'))).toBe(1999);
    expect(microsToCents(usdToMicros(19.99))).toBe(1999);
    expect(usdCentsToMicros(1999)).toBe(19_990_000);
  });

  it('$0.29 → 29 cents (v1 gave 28)', () => {
    expect(microsToCents(usdToMicros(0.29))).toBe(29);
  });

  it('round-trips and signs', () => {
    expect(usdCentsToMicros(0)).toBe(0);
    expect(usdCentsToMicros(-250)).toBe(-2_500_000);
    expect(microsToCents(-2_500_000)).toBe(-250);
    expect(Object.is(microsToCents(-0), 0)).toBe(true);
  });

  it('throws when not a whole number of cents or not an integer', () => {
    expect(() => microsToCents(1)).toThrow(RangeError);
    expect(() => microsToCents(19_995_000)).toThrow(RangeError);
    expect(() => microsToCents(1.5)).toThrow(RangeError);
    expect(() => usdCentsToMicros(1.5)).toThrow(RangeError);
    expect(() => usdCentsToMicros(Number.MAX_SAFE_INTEGER)).toThrow(RangeError);
  });
});

describe('display', () => {
  it.each([
    [19_990_000, '19.99'],
    [20_000_000, '20.00'],
    [100_000, '0.10'],
    [15_000, '0.015'],
    [1, '0.000001'],
    [0, '0.00'],
    [-100_000, '-0.10'],
    [-1, '-0.000001'],
    [69_999, '0.069999'],
    [123_456_789_012, '123456.789012'],
    [Number.MAX_SAFE_INTEGER, '9007199254.740991'],
  ] as const)('formatUsd(%d) = %s', (m, s) => {
    expect(formatUsd(m)).toBe(s);
  });

  it('microsToUsd divides for display', () => {
    expect(microsToUsd(19_990_000)).toBe(19.99);
    expect(microsToUsd(100_000)).toBe(0.1);
    expect(Object.is(microsToUsd(-0), 0)).toBe(true);
  });
});

describe('assertMicros', () => {
  it('accepts safe integers', () => {
    expect(() => assertMicros(0)).not.toThrow();
    expect(() => assertMicros(-5)).not.toThrow();
    expect(() => assertMicros(Number.MAX_SAFE_INTEGER)).not.toThrow();
  });
  it('rejects everything else', () => {
    expect(() => assertMicros(1.5)).toThrow(RangeError);
    expect(() => assertMicros(Number.NaN)).toThrow(RangeError);
    expect(() => assertMicros(2 ** 53)).toThrow(RangeError);
    expect(() => assertMicros('5')).toThrow(TypeError);
    expect(() => assertMicros(5n)).toThrow(TypeError);
  });
});

describe('splitProportional', () => {
  it.each([
    // 100 / 3 = 33 r1 each; the one leftover unit goes to index 0 (tie → lower index)
    [100, [1, 1, 1], [34, 33, 33]],
    [-100, [1, 1, 1], [-34, -33, -33]],
    // 2 over three equal weights: quotas 0.667 each → floors 0, leftover 2 → indices 0 and 1
    [2, [1, 1, 1], [1, 1, 0]],
    // zero weight gets nothing
    [10, [0, 1, 1], [0, 5, 5]],
    [1, [0, 0, 5], [0, 0, 1]],
    // negative weights count as 0
    [9, [-4, 1, 2], [0, 3, 6]],
    // 7 × (0.5, 0.25, 0.25) = 3.5, 1.75, 1.75 → floors 3, 1, 1 (5); leftover 2 → largest remainders .75, .75 → [3, 2, 2]
    [7, [0.5, 0.25, 0.25], [3, 2, 2]],
    // 10 × (7000, 2000, 1000)/10000 exact
    [10, [7000, 2000, 1000], [7, 2, 1]],
    // 1 × (1, 2): quotas 0.333, 0.667 → the unit goes to the larger remainder, index 1
    [1, [1, 2], [0, 1]],
    [0, [1, 2, 3], [0, 0, 0]],
    [5, [3], [5]],
    // 0.1 is read as its exact binary value; 1 × (0.1, 0.2): remainders 1/3 vs 2/3 → index 1
    [1, [0.1, 0.2], [0, 1]],
  ] as const)('split(%d, %j) = %j', (total, weights, expected) => {
    expect(splitProportional(total, weights)).toEqual(expected);
  });

  it('never returns -0', () => {
    const parts = splitProportional(-1, [1, 1]);
    expect(parts).toEqual([-1, 0]);
    expect(Object.is(parts[1], 0)).toBe(true);
  });

  it('throws when no weight is positive or inputs are bad', () => {
    expect(() => splitProportional(10, [])).toThrow(RangeError);
    expect(() => splitProportional(10, [0, 0])).toThrow(RangeError);
    expect(() => splitProportional(10, [-1, 0])).toThrow(RangeError);
    expect(() => splitProportional(0, [0])).toThrow(RangeError);
    expect(() => splitProportional(10, [1, Number.NaN])).toThrow(RangeError);
    expect(() => splitProportional(10, [1, Number.POSITIVE_INFINITY])).toThrow(RangeError);
    expect(() => splitProportional(1.5, [1])).toThrow(RangeError);
  });

  it('is exact at the edge of the safe range', () => {
    const total = Number.MAX_SAFE_INTEGER;
    const parts = splitProportional(total, [1, 2, 3, 1e-300, 1e300]);
    expect(parts.reduce((a, b) => a + b, 0)).toBe(total);
    expect(parts.every((p) => Number.isSafeInteger(p))).toBe(true);
  });

  it('1000 seeded cases: parts sum to total, each is floor or ceil of the exact quota, zero weights get 0, sign symmetric', () => {
    const rand = mulberry32(0xeeb111);
    for (let c = 0; c < 1000; c++) {
      const n = 1 + Math.floor(rand() * 8);
      // Weights are integers or multiples of 1/1024, so × 1024 gives their exact integer form for the check below.
      const weights: number[] = [];
      for (let i = 0; i < n; i++) {
        const r = rand();
        if (r < 0.15) weights.push(0);
        else if (r < 0.2) weights.push(-Math.floor(rand() * 100));
        else if (r < 0.6) weights.push(1 + Math.floor(rand() * 10_000));
        else weights.push(Math.floor(rand() * 1_000_000) / 1024);
      }
      if (!weights.some((w) => w > 0)) weights.push(1);
      const magnitude = [10, 1_000, 1_000_000, 1e12, Number.MAX_SAFE_INTEGER][Math.floor(rand() * 5)] as number;
      const total = Math.floor(rand() * magnitude) * (rand() < 0.3 ? -1 : 1) || 0; // || 0: no -0

      const parts = splitProportional(total, weights);
      expect(parts).toHaveLength(weights.length);
      expect(parts.reduce((a, b) => a + b, 0)).toBe(total);
      expect(splitProportional(-total, weights)).toEqual(parts.map((p) => (p === 0 ? 0 : -p)));

      const exact = weights.map((w) => (w > 0 ? BigInt(w * 1024) : 0n));
      const sumW = exact.reduce((a, b) => a + b, 0n);
      const t = BigInt(Math.abs(total));
      parts.forEach((p, i) => {
        const w = exact[i] as bigint;
        if (w === 0n) {
          expect(p).toBe(0);
          return;
        }
        const floor = (t * w) / sumW;
        const hasRemainder = (t * w) % sumW !== 0n;
        const got = BigInt(Math.abs(p));
        expect(got === floor || (hasRemainder && got === floor + 1n)).toBe(true);
        expect(p === 0 || Math.sign(p) === Math.sign(total)).toBe(true);
      });
    }
  });
});
