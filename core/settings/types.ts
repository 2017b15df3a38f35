import type { SettingGroup } from './registry';

export type SettingSource = 'db' | 'env' | 'default';

/** What consumers (activities, API handlers) need: the effective string value of a registered key. */
export interface SettingsReader {
  get(key: string): Promise<string>;
}

export interface SettingView {
  key: string;
  value: string;
  source: SettingSource;
  is_secret: boolean;
  description: string;
  group: SettingGroup;
  env_var: string;
  default: string;
}
