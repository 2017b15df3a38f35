/** MRTD (TDX build-time measurement) validation shared by the API and stores. Pure. */

export type MrtdType = 'agent' | 'proxy';
export const MRTD_TYPES: readonly MrtdType[] = ['agent', 'proxy'];

/** Trimmed, lower-cased form used as the trusted_mrtds key. */
export function normalizeMrtd(s: string): string {
  return s.trim().toLowerCase();
}

/** 48-byte SHA-384 measurement as 96 lowercase hex chars (normalize first). */
export function isValidMrtd(s: string): boolean {
  return /^[0-9a-f]{96}$/.test(s);
}

/** 'agent' | 'proxy' (case/space-insensitive), else null. */
export function normalizeMrtdType(s: string): MrtdType | null {
  const v = s.trim().toLowerCase();
  return (MRTD_TYPES as readonly string[]).includes(v) ? (v as MrtdType) : null;
}
