/**
 * Checks a new setting value against the kind its default implies, so an admin cannot store a value every consumer
 * would silently replace with its fallback (core/settings/parse.ts): a boolean default takes only the words parseBool
 * reads, a numeric default only a decimal number, a rate-limit default only `<count>/<window>`. Everything else is
 * free text (URLs, ids, modes, lists), checked where it is used. Pure; no I/O.
 */
import { parseRate } from '../rate-limit';
import type { SettingDef } from './registry';

const BOOL_WORDS = ['1', 'true', 'yes', 'on', '0', 'false', 'no', 'off'];

/** null when `value` is acceptable for `def`, else the human reason (the 422 detail). */
export function settingValueProblem(def: SettingDef, value: string): string | null {
  const v = value.trim();
  // Empty means "fall back to env, then default" for every setting.
  if (v === '') return null;
  const d = def.default.trim().toLowerCase();
  if (d === 'true' || d === 'false') {
    return BOOL_WORDS.includes(v.toLowerCase()) ? null : `${def.key} must be a boolean (true or false)`;
  }
  // A numeric default: consumers read integers (parseIntStrict) or decimals (e.g. agent_stale_hours), so the check
  // is "a decimal number"; whole-number-only settings still fall back on a fraction where they are read.
  if (/^\d+(\.\d+)?$/.test(d)) {
    return /^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(v) ? null : `${def.key} must be a number`;
  }
  if (parseRate(d) !== null) {
    return parseRate(v) !== null ? null : `${def.key} must be a rate limit <count>/<window> (for example 60/1m)`;
  }
  return null;
}
