/** Value parsers used by setting consumers (spec/settings.md §3). Pure; no I/O. */

export function parseBool(value: string, fallback: boolean): boolean {
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  return fallback;
}

/** Base-10 integer with optional sign and surrounding whitespace; decimals are rejected. */
export function parseIntStrict(value: string, fallback: number): number {
  const v = value.trim();
  if (!/^[+-]?\d+$/.test(v)) return fallback;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : fallback;
}

export function parseFloatLoose(value: string, fallback: number): number {
  const v = value.trim();
  if (v === '' || !/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(v)) return fallback;
  return Number(v);
}

export function parseSet(value: string): Set<string> {
  return new Set(
    value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  );
}

/** Map a mode string onto one of `allowed`, using `fallback` for anything unknown. */
export function parseMode<T extends string>(value: string, allowed: readonly T[], fallback: T): T {
  const v = value.trim().toLowerCase() as T;
  return allowed.includes(v) ? v : fallback;
}
