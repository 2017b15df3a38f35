/**
 * Typed reads of a setting: the string value parsed with the registry default (parsed the same way) as the
 * fallback, so callers neither repeat defaults nor re-implement parsing.
 */
import { parseBool, parseIntStrict } from './parse';
import { SETTING_REGISTRY, type SettingKey } from './registry';
import type { SettingsReader } from './types';

function defaultOf(key: SettingKey): string {
  // A cast key still fails loudly rather than read as an empty default.
  if (!Object.hasOwn(SETTING_REGISTRY, key)) throw new Error(`Unknown setting: ${key}`);
  return SETTING_REGISTRY[key].default;
}

export async function settingInt(settings: SettingsReader, key: SettingKey): Promise<number> {
  return parseIntStrict(await settings.get(key), parseIntStrict(defaultOf(key), 0));
}

export async function settingBool(settings: SettingsReader, key: SettingKey): Promise<boolean> {
  return parseBool(await settings.get(key), parseBool(defaultOf(key), false));
}
