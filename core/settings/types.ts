import type { SettingGroup, SettingKey } from './registry';

export type SettingSource = 'db' | 'env' | 'default';

/** What consumers (activities, API handlers) need: the effective string value of a registered key. */
export interface SettingsReader {
  get(key: SettingKey): Promise<string>;
}

export interface SettingView {
  key: SettingKey;
  value: string;
  source: SettingSource;
  is_secret: boolean;
  description: string;
  group: SettingGroup;
  env_var: string;
  default: string;
}
