/**
 * Typed reads of a setting: the string value parsed with the registry default (parsed the same way) as the
 * fallback, so callers neither repeat defaults nor re-implement parsing.
 */
import { parseBool, parseIntStrict } from './parse';
import { findSetting } from './registry';
import type { SettingsReader } from './types';

function defaultOf(key: string): string {
  const def = findSetting(key);
  if (!def) throw new Error(`Unknown setting: ${key}`);
  return def.default;
}

export async function settingInt(settings: SettingsReader, key: string): Promise<number> {
  return parseIntStrict(await settings.get(key), parseIntStrict(defaultOf(key), 0));
}

export async function settingBool(settings: SettingsReader, key: string): Promise<boolean> {
  return parseBool(await settings.get(key), parseBool(defaultOf(key), false));
}
