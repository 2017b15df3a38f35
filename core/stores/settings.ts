/** DB overrides of registered settings (table `settings`). Caching lives in the settings service. */
import type { Knex } from 'knex';
import { nowIso, requireIso, toBool, type SettingRow } from '../db/tables';

export interface SettingRecord {
  key: string;
  value: string;
  is_secret: boolean;
  updated_at: string;
}

function toRecord(row: SettingRow): SettingRecord {
  return { key: row.key, value: row.value, is_secret: toBool(row.is_secret), updated_at: requireIso(row.updated_at) };
}

export async function listSettingRows(db: Knex | Knex.Transaction): Promise<SettingRecord[]> {
  const rows = await db<SettingRow>('settings').select('*').orderBy('key');
  return rows.map(toRecord);
}

export async function getSettingRow(db: Knex | Knex.Transaction, key: string): Promise<SettingRecord | undefined> {
  const row = await db<SettingRow>('settings').where({ key }).first();
  return row ? toRecord(row) : undefined;
}

/** Insert or overwrite one key; `isSecret` is copied from the registry on every write. */
export async function upsertSetting(
  db: Knex | Knex.Transaction,
  s: { key: string; value: string; isSecret: boolean },
): Promise<SettingRecord> {
  const row = { key: s.key, value: s.value, is_secret: s.isSecret, updated_at: nowIso() };
  await db('settings').insert(row).onConflict('key').merge(['value', 'is_secret', 'updated_at']);
  return { key: row.key, value: row.value, is_secret: row.is_secret, updated_at: row.updated_at };
}

/** True when a row was removed. */
export async function deleteSetting(db: Knex | Knex.Transaction, key: string): Promise<boolean> {
  return (await db('settings').where({ key }).delete()) > 0;
}
