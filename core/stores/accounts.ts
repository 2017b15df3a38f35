/**
 * Billing accounts (table `accounts`). Balances are not stored here: they come from the ledger
 * (core/stores/ledger.ts). API keys live only as an argon2id hash + a 12-char lookup prefix.
 */
import type { Knex } from 'knex';
import { parseJsonColumn, requireIso, toIso, type AccountRow } from '../db/tables';
import { keysetPage, keyTime } from '../db/keyset';
import type { Page, PageRequest } from '../pagination';

export const ACCOUNT_TYPES = ['deployer', 'agent', 'contributor', 'launcher'] as const;
export type AccountType = (typeof ACCOUNT_TYPES)[number];

export interface Account {
  account_id: string;
  name: string;
  description: string;
  account_type: string;
  created_at: string;
  api_key_hash: string | null;
  api_key_prefix: string | null;
  github_login: string | null;
  github_org: string | null;
  linked_at: string | null;
  /** Orgs of the GitHub session that proved `github_login`, as of the link. */
  github_orgs: string[];
}

function toAccount(row: AccountRow): Account {
  return {
    account_id: row.account_id,
    name: row.name,
    description: row.description,
    account_type: row.account_type,
    created_at: requireIso(row.created_at),
    api_key_hash: row.api_key_hash,
    api_key_prefix: row.api_key_prefix,
    github_login: row.github_login,
    github_org: row.github_org,
    linked_at: toIso(row.linked_at),
    github_orgs: parseJsonColumn<string[]>(row.github_orgs, []),
  };
}

/**
 * The GitHub identities an account may act for (agent ownership, placement): its proven login, its proven org and the
 * orgs of the session that proved the login. Only proofs write these columns, so nothing here is self-asserted.
 */
export function accountIdentities(a: Account): string[] {
  return [a.github_login, a.github_org, ...a.github_orgs].filter((v): v is string => !!v);
}

export class AccountNameTakenError extends Error {
  constructor(readonly accountName: string) {
    super(`Account '${accountName}' already exists`);
    this.name = 'AccountNameTakenError';
  }
}

export async function insertAccount(
  db: Knex,
  a: Pick<
    Account,
    'account_id' | 'name' | 'description' | 'account_type' | 'created_at' | 'api_key_hash' | 'api_key_prefix'
  >,
): Promise<Account> {
  const existing = await db('accounts').where({ name: a.name }).first('account_id');
  if (existing) throw new AccountNameTakenError(a.name);
  try {
    await db('accounts').insert(a);
  } catch (err) {
    // The unique key on name is the real guard; the look-up above only gives the common case a clean error.
    if (/unique|duplicate/i.test(String((err as Error).message))) throw new AccountNameTakenError(a.name);
    throw err;
  }
  return (await getAccount(db, a.account_id))!;
}

export async function getAccount(db: Knex, accountId: string): Promise<Account | null> {
  const row = await db<AccountRow>('accounts').where({ account_id: accountId }).first();
  return row ? toAccount(row) : null;
}

/** The oldest deployer account linked (github_login or github_org, case-insensitive) to one of `identities`. */
export async function findDeployerLinkedTo(db: Knex, identities: readonly string[]): Promise<Account | null> {
  const lowered = identities.map((i) => i.toLowerCase());
  if (lowered.length === 0) return null;
  const row = await db<AccountRow>('accounts')
    .where({ account_type: 'deployer' })
    .andWhere((q) => {
      const marks = lowered.map(() => '?').join(', ');
      void q
        .whereRaw(`lower(github_org) in (${marks})`, lowered)
        .orWhereRaw(`lower(github_login) in (${marks})`, lowered);
    })
    .orderBy('created_at', 'asc')
    .first();
  return row ? toAccount(row) : null;
}

export async function findAccountsByKeyPrefix(db: Knex, prefix: string): Promise<Account[]> {
  const rows = await db<AccountRow>('accounts').where({ api_key_prefix: prefix });
  return rows.map(toAccount);
}

export interface AccountFilter {
  name?: string;
  accountType?: string;
}

function accountsQuery(db: Knex, filter: AccountFilter): Knex.QueryBuilder {
  const q = db<AccountRow>('accounts');
  if (filter.name) q.whereRaw('lower(name) like ?', [`%${filter.name.toLowerCase().replace(/[%_\\]/g, '\\$&')}%`]);
  if (filter.accountType) q.where({ account_type: filter.accountType });
  return q;
}

/** Creation order, served by the accounts_created_at_account_id index. */
const ACCOUNT_KEY = ['created_at', 'account_id'] as const;

export async function listAccounts(db: Knex, filter: AccountFilter): Promise<Account[]> {
  const rows = (await accountsQuery(db, filter).orderBy(ACCOUNT_KEY.map((column) => ({ column })))) as AccountRow[];
  return rows.map(toAccount);
}

/** One keyset page of `listAccounts`. */
export async function listAccountsPage(db: Knex, filter: AccountFilter, page: PageRequest): Promise<Page<Account>> {
  const p = await keysetPage<AccountRow>(accountsQuery(db, filter), ACCOUNT_KEY, 'asc', page, (r) => [
    keyTime(r.created_at),
    r.account_id,
  ]);
  return { items: p.items.map(toAccount), next: p.next };
}

/** Replaces hash + prefix in one statement: the old key stops working at once. False when the account is gone. */
export async function replaceApiKey(db: Knex, accountId: string, hash: string, prefix: string): Promise<boolean> {
  const n = await db('accounts')
    .where({ account_id: accountId })
    .update({ api_key_hash: hash, api_key_prefix: prefix });
  return n > 0;
}

/**
 * Replaces a verified legacy key hash with its HMAC form, only while the row still holds `fromHash` (a rotation in
 * between wins); false otherwise.
 */
export async function rehashApiKey(db: Knex, accountId: string, fromHash: string, toHash: string): Promise<boolean> {
  return (
    (await db('accounts').where({ account_id: accountId, api_key_hash: fromHash }).update({ api_key_hash: toHash })) > 0
  );
}

/** A proven identity link (see migration 20261201000000_identity_proofs): one of the two proofs. */
export type IdentityProof =
  | { kind: 'github_session'; login: string; githubId: number | null; orgs: string[] }
  | { kind: 'github_oidc'; org: string };

/** Records a proven link; the other identity column is left as it was. False when the account is gone. */
export async function linkProvenIdentity(
  db: Knex,
  accountId: string,
  proof: IdentityProof,
  linkedAt: string,
): Promise<boolean> {
  const update =
    proof.kind === 'github_session'
      ? {
          github_login: proof.login,
          github_id: proof.githubId,
          github_orgs: proof.orgs.length > 0 ? JSON.stringify(proof.orgs) : null,
          github_login_proof: proof.kind,
        }
      : { github_org: proof.org, github_org_proof: proof.kind };
  const n = await db('accounts')
    .where({ account_id: accountId })
    .update({ ...update, linked_at: toIso(linkedAt) });
  return n > 0;
}

export async function deleteAccount(db: Knex, accountId: string): Promise<boolean> {
  return (await db('accounts').where({ account_id: accountId }).delete()) > 0;
}
