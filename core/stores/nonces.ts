/**
 * Registration challenges (table `agent_nonces`, spec/attestation.md §2). In the database, not process memory, so
 * any API replica can issue and any worker can check. One row per vm_name; issuing again replaces it.
 */
import type { Knex } from 'knex';
import { requireIso } from '../db/tables';

export interface StoredNonce {
  vm_name: string;
  nonce: string;
  issued_at: string;
  consumed_by: string | null;
}

type Db = Knex | Knex.Transaction;

export async function issueNonce(db: Db, vmName: string, nonce: string, issuedAt: string): Promise<void> {
  await db('agent_nonces')
    .insert({ vm_name: vmName, nonce, issued_at: issuedAt, consumed_by: null })
    .onConflict('vm_name')
    .merge(['nonce', 'issued_at', 'consumed_by']);
}

export async function getNonce(db: Db, vmName: string): Promise<StoredNonce | null> {
  const row = (await db('agent_nonces').where({ vm_name: vmName }).first()) as
    (Omit<StoredNonce, 'issued_at'> & { issued_at: Date | string }) | undefined;
  return row ? { ...row, issued_at: requireIso(row.issued_at), consumed_by: row.consumed_by ?? null } : null;
}

/**
 * One-time use: marks the challenge consumed by `by` (a registration workflow id) unless another consumer got there
 * first. A retry of the same consumer succeeds again, so an activity retry cannot reject its own registration.
 */
export async function consumeNonce(db: Db, vmName: string, nonce: string, by: string): Promise<boolean> {
  const n = await db('agent_nonces')
    .where({ vm_name: vmName, nonce })
    .andWhere((q) => q.whereNull('consumed_by').orWhere('consumed_by', by))
    .update({ consumed_by: by });
  return n > 0;
}

export async function deleteNonce(db: Db, vmName: string, nonce: string): Promise<void> {
  await db('agent_nonces').where({ vm_name: vmName, nonce }).delete();
}

/** Expired or consumed challenges older than `before` (housekeeping). */
export async function purgeNonces(db: Db, before: string): Promise<number> {
  return db('agent_nonces').where('issued_at', '<', before).delete();
}
