/**
 * Trusted MRTDs added through the admin API (table `trusted_mrtds`). Callers validate with
 * core/mrtd.ts first; the store writes what it is given.
 */
import type { Knex } from 'knex';
import { normalizeMrtdType, type MrtdType } from '../mrtd';
import { nowIso, requireIso, type TrustedMrtdRow } from '../db/tables';

export interface TrustedMrtd {
  mrtd: string;
  type: MrtdType;
  note: string;
  added_at: string;
}

function toTrustedMrtd(row: TrustedMrtdRow): TrustedMrtd {
  return {
    mrtd: row.mrtd,
    type: normalizeMrtdType(row.mrtd_type) ?? 'agent',
    note: row.note,
    added_at: requireIso(row.added_at),
  };
}

/** Oldest first (added_at, then mrtd). */
export async function listTrustedMrtds(db: Knex | Knex.Transaction): Promise<TrustedMrtd[]> {
  const rows = await db<TrustedMrtdRow>('trusted_mrtds')
    .select('*')
    .orderBy([
      { column: 'added_at', order: 'asc' },
      { column: 'mrtd', order: 'asc' },
    ]);
  return rows.map(toTrustedMrtd);
}

export async function getTrustedMrtd(db: Knex | Knex.Transaction, mrtd: string): Promise<TrustedMrtd | undefined> {
  const row = await db<TrustedMrtdRow>('trusted_mrtds').where({ mrtd }).first();
  return row ? toTrustedMrtd(row) : undefined;
}

/**
 * Adds an MRTD or updates an existing one: the type is always replaced, the note only when
 * the new one is non-empty, and added_at keeps the first insertion time.
 */
export async function upsertTrustedMrtd(
  db: Knex | Knex.Transaction,
  m: { mrtd: string; type: MrtdType; note?: string },
): Promise<TrustedMrtd> {
  const note = m.note ?? '';
  await db('trusted_mrtds')
    .insert({ mrtd: m.mrtd, mrtd_type: m.type, note, added_at: nowIso() })
    .onConflict('mrtd')
    .merge(note !== '' ? ['mrtd_type', 'note'] : ['mrtd_type']);
  const row = await db<TrustedMrtdRow>('trusted_mrtds').where({ mrtd: m.mrtd }).first();
  if (!row) throw new Error(`trusted MRTD ${m.mrtd} vanished after upsert`);
  return toTrustedMrtd(row);
}

/** True when a row was removed. */
export async function deleteTrustedMrtd(db: Knex | Knex.Transaction, mrtd: string): Promise<boolean> {
  return (await db('trusted_mrtds').where({ mrtd }).delete()) > 0;
}
