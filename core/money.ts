/**
 * Money as integers (ARCHITECTURE.md "Money is integers"): every amount is a safe integer count of
 * micro-dollars, 1 USD = 1_000_000 micros. USD decimals exist only at the edges (API input/output).
 *
 * Pure: no I/O, no clock, no randomness — Temporal workflows import this file directly.
 * Exact arithmetic uses BigInt wherever a float could lose a unit.
 */

/** Integer micro-dollars (a JS safe integer). 1 USD = 1_000_000. */
export type Micros = number;

export const MICROS_PER_USD = 1_000_000;
export const MICROS_PER_CENT = 10_000;
/** Decimal places a micro-dollar amount carries when written in USD. */
export const USD_DECIMALS = 6;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** Bound on exponents in decimal input so "1e999999999" cannot build a gigantic BigInt. */
const MAX_EXPONENT = 400;
const DECIMAL_RE = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+))?$/;

/** An exact decimal value: `(negative ? -1 : 1) × digits / 10^scale`, scale ≥ 0, trailing zeros removed. */
export interface ExactDecimal {
  negative: boolean;
  digits: bigint;
  scale: number;
}

/**
 * Parse a decimal without any float step. Strings are trimmed and may carry a sign and an exponent
 * ("19.99", "-.5", "1e-3"); numbers are read through their shortest round-trip string (`String(n)`), so
 * `0.1` is exactly one tenth and `0.1 + 0.2` is 0.30000000000000004. Throws RangeError on anything else.
 */
export function toExactDecimal(input: string | number): ExactDecimal {
  let text: string;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) throw new RangeError(`not a finite number: ${String(input)}`);
    text = String(input);
  } else if (typeof input === 'string') {
    text = input.trim();
  } else {
    throw new RangeError(`not a decimal: ${String(input)}`);
  }
  const m = DECIMAL_RE.exec(text);
  if (!m) throw new RangeError(`not a decimal: ${JSON.stringify(text)}`);
  const [, sign = '', body = '', expText] = m;
  const exponent = expText === undefined ? 0 : Number(expText);
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > MAX_EXPONENT) {
    throw new RangeError(`exponent out of range: ${JSON.stringify(text)}`);
  }
  const dot = body.indexOf('.');
  const intPart = dot < 0 ? body : body.slice(0, dot);
  const fracPart = (dot < 0 ? '' : body.slice(dot + 1)).replace(/0+$/, '');
  let digits = BigInt((intPart + fracPart).replace(/^0+(?=\d)/, '') || '0');
  let scale = fracPart.length - exponent;
  if (scale < 0) {
    digits *= 10n ** BigInt(-scale);
    scale = 0;
  }
  // Normalise: drop trailing zeros that an exponent left in the integer digits (e.g. "1.50e1" → 15, scale 0).
  while (scale > 0 && digits % 10n === 0n && digits !== 0n) {
    digits /= 10n;
    scale -= 1;
  }
  if (digits === 0n) scale = 0;
  return { negative: sign === '-' && digits !== 0n, digits, scale };
}

function toSafeNumber(value: bigint, what: string): number {
  if (value > MAX_SAFE || value < -MAX_SAFE) throw new RangeError(`${what} exceeds the safe integer range`);
  const n = Number(value);
  return n === 0 ? 0 : n; // never -0
}

/**
 * USD → micros with exact decimal arithmetic: "19.99" → 19_990_000, 0.015 → 15_000.
 * Throws RangeError for non-numeric input, for more than 6 significant decimals ("0.0000001"; trailing zeros
 * such as "1.5000000" are fine because the value is still exact), and for results beyond the safe range.
 */
export function usdToMicros(input: string | number): Micros {
  const d = toExactDecimal(input);
  if (d.scale > USD_DECIMALS) {
    throw new RangeError(`more than ${USD_DECIMALS} decimals in a USD amount: ${String(input)}`);
  }
  const micros = d.digits * 10n ** BigInt(USD_DECIMALS - d.scale);
  return toSafeNumber(d.negative ? -micros : micros, 'USD amount');
}

/** Micros → USD float, for display and JSON responses only (never feed it back into arithmetic). */
export function microsToUsd(m: Micros): number {
  assertMicros(m);
  const usd = m / MICROS_PER_USD;
  return usd === 0 ? 0 : usd;
}

/**
 * Micros → USD text with 6 decimals, trailing zeros trimmed but at least 2 kept:
 * 19_990_000 → "19.99", 20_000_000 → "20.00", 15_000 → "0.015", 1 → "0.000001", -100_000 → "-0.10".
 */
export function formatUsd(m: Micros): string {
  assertMicros(m);
  const abs = Math.abs(m);
  const whole = Math.floor(abs / MICROS_PER_USD);
  let frac = String(abs % MICROS_PER_USD).padStart(USD_DECIMALS, '0');
  frac = frac.replace(/0+$/, '');
  if (frac.length < 2) frac = frac.padEnd(2, '0');
  return `${m < 0 ? '-' : ''}${whole}.${frac}`;
}

/** Integer cents → micros (1 cent = 10_000 micros). */
export function usdCentsToMicros(cents: number): Micros {
  if (!Number.isSafeInteger(cents)) throw new RangeError(`cents must be a safe integer: ${String(cents)}`);
  return toSafeNumber(BigInt(cents) * BigInt(MICROS_PER_CENT), 'cents amount');
}

/** Micros → integer cents; exact only (19_990_000 → 1999). Throws RangeError if not a whole number of cents. */
export function microsToCents(m: Micros): number {
  assertMicros(m);
  if (m % MICROS_PER_CENT !== 0) throw new RangeError(`${m} micros is not a whole number of cents`);
  const cents = m / MICROS_PER_CENT;
  return cents === 0 ? 0 : cents;
}

/** Throws unless `n` is a safe integer (a valid Micros value). Use at trust boundaries (DB rows, inputs). */
export function assertMicros(n: unknown, what = 'amount'): asserts n is Micros {
  if (typeof n !== 'number') throw new TypeError(`${what} must be a number of micros, got ${typeof n}`);
  if (!Number.isSafeInteger(n)) throw new RangeError(`${what} must be a safe integer of micros, got ${n}`);
}

/**
 * Exact integer form of a finite, non-negative double: `value = mantissa / 2^shift`.
 * Doubling a non-integer double is exact (it is below 2^52), and at most 1074 doublings reach an integer.
 */
function dyadic(value: number): { mantissa: bigint; shift: number } {
  let v = value;
  let shift = 0;
  while (!Number.isInteger(v)) {
    v *= 2;
    shift += 1;
  }
  return { mantissa: BigInt(v), shift };
}

/**
 * Split `total` into integer parts proportional to `weights` by the largest-remainder (Hamilton) method,
 * computed exactly (weights are read as exact binary values, quotients in BigInt).
 *
 * - The parts always sum to `total` exactly.
 * - Each part is floor(total × w / Σw) or one more; the leftover units go to the largest fractional
 *   remainders, ties to the lower index.
 * - Zero or negative weights count as 0 and always get 0; if no weight is positive → RangeError.
 * - A negative total is split symmetrically: split(−t, w) = −split(t, w).
 */
export function splitProportional(total: Micros, weights: readonly number[]): Micros[] {
  assertMicros(total, 'total');
  for (const w of weights) {
    if (typeof w !== 'number' || !Number.isFinite(w))
      throw new RangeError(`weights must be finite numbers, got ${String(w)}`);
  }
  const positive = weights.map((w) => (w > 0 ? dyadic(w) : null));
  const maxShift = positive.reduce((acc, d) => (d && d.shift > acc ? d.shift : acc), 0);
  const scaled = positive.map((d) => (d ? d.mantissa << BigInt(maxShift - d.shift) : 0n));
  const sumW = scaled.reduce((a, b) => a + b, 0n);
  if (sumW === 0n) throw new RangeError('splitProportional needs at least one positive weight');

  const negative = total < 0;
  const t = BigInt(Math.abs(total));
  const floors = scaled.map((w) => (t * w) / sumW);
  const rems = scaled.map((w) => (t * w) % sumW);
  let leftover = t - floors.reduce((a, b) => a + b, 0n); // 0 ≤ leftover < number of positive weights

  const order = scaled
    .map((_, i) => i)
    .filter((i) => (scaled[i] as bigint) > 0n)
    .sort((a, b) => {
      const ra = rems[a] as bigint;
      const rb = rems[b] as bigint;
      if (ra !== rb) return ra > rb ? -1 : 1;
      return a - b;
    });
  for (const i of order) {
    if (leftover === 0n) break;
    floors[i] = (floors[i] as bigint) + 1n;
    leftover -= 1n;
  }
  return floors.map((p) => {
    const n = Number(p);
    return negative && n !== 0 ? -n : n;
  });
}
