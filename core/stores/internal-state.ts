/**
 * Install-wide values the platform generates once and every replica must share (a generated
 * admin password hash). Kept in the settings table under `internal.*` keys, which the registry
 * does not list, so the admin API never shows them. Never the sealing key: it must not sit beside
 * what it seals (bin/lib/sealing-key.ts moves an old `internal.sealing_key` out).
 */
import type { Knex } from 'knex';
import { nowIso } from '../db/tables';

export const INTERNAL_PREFIX = 'internal.';

/**
 * Returns the stored value of `key`, creating it with `create()` only when absent (so a
 * costly candidate, like an argon2 hash, is not computed on every start). The first
 * writer wins under concurrency (insert … on conflict do nothing), so every replica ends
 * up with the same value; `created` tells whether this call's value was the one stored.
 */
export async function getOrCreateInternalValue(
  db: Knex,
  key: string,
  create: () => string | Promise<string>,
): Promise<{ value: string; created: boolean }> {
  const fullKey = `${INTERNAL_PREFIX}${key}`;
  const read = () => db('settings').where({ key: fullKey }).first<{ value: string } | undefined>();
  const existing = await read();
  if (existing) return { value: existing.value, created: false };
  const candidate = await create();
  await db('settings')
    .insert({ key: fullKey, value: candidate, is_secret: true, updated_at: nowIso() })
    .onConflict('key')
    .ignore();
  const row = await read();
  if (!row) throw new Error(`internal value ${fullKey} missing after insert`);
  return { value: row.value, created: row.value === candidate };
}
