/**
 * App revenue-share rules (table `app_revenue_shares`, spec/api.md §6, billing.md §4.2/§4.4) and the contributor
 * resolution used by hourly charging: explicit rules first, else the app's maintainers linked to accounts.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { maintainerAutoShares, type ContributorShare } from '../pricing';
import { isPostgres } from '../db/connection';
import { nowIso, parseJsonColumn, requireIso, type AppRevenueShareRow } from '../db/tables';

export const MAX_TOTAL_BPS = 10_000;
const SHARE_ACCOUNT_TYPES = ['contributor', 'agent'];

export interface RevenueShare {
  share_id: string;
  app_name: string;
  account_id: string;
  account_name: string | null;
  github_login: string | null;
  share_bps: number;
  share_percent: number;
  label: string;
  created_at: string;
}

export type CreateShareError =
  | { error: 'app_not_found' }
  | { error: 'account_not_found' }
  | { error: 'bad_account_type' }
  | { error: 'over_total'; current: number; requested: number };

export const percent = (bps: number) => Math.round((bps / 100) * 10_000) / 10_000;

type Db = Knex | Knex.Transaction;

export async function appExists(db: Db, appName: string): Promise<boolean> {
  return (await db('apps').where({ name: appName }).first('name')) !== undefined;
}

/** Rules of one app, created_at ascending, with the account's name/login (null when the account is gone). */
export async function listRevenueShares(db: Db, appName: string): Promise<RevenueShare[]> {
  const rows = (await db('app_revenue_shares as s')
    .leftJoin('accounts as a', 'a.account_id', 's.account_id')
    .where('s.app_name', appName)
    .orderBy([
      { column: 's.created_at', order: 'asc' },
      { column: 's.share_id', order: 'asc' },
    ])
    .select('s.*', 'a.name as account_name', 'a.github_login as github_login')) as (AppRevenueShareRow & {
    account_name: string | null;
    github_login: string | null;
  })[];
  return rows.map((r) => ({
    share_id: r.share_id,
    app_name: r.app_name,
    account_id: r.account_id,
    account_name: r.account_name ?? null,
    github_login: r.github_login ?? null,
    share_bps: Number(r.share_bps),
    share_percent: percent(Number(r.share_bps)),
    label: r.label,
    created_at: requireIso(r.created_at),
  }));
}

/**
 * Adds a rule when the app and account exist, the account is a contributor/agent and the app's total stays within
 * 10000 bps. The total is checked under a lock on the app row so two concurrent creates cannot both pass.
 */
export async function createRevenueShare(
  db: Knex,
  input: { appName: string; accountId: string; shareBps: number; label: string },
): Promise<RevenueShare | CreateShareError> {
  const shareId = randomUUID();
  const outcome = await db.transaction(async (trx): Promise<CreateShareError | null> => {
    const appQuery = trx('apps').where({ name: input.appName }).first('name');
    if (!(isPostgres(trx) ? await appQuery.forUpdate() : await appQuery)) return { error: 'app_not_found' };
    const account = (await trx('accounts').where({ account_id: input.accountId }).first('account_type')) as
      { account_type: string } | undefined;
    if (!account) return { error: 'account_not_found' };
    if (!SHARE_ACCOUNT_TYPES.includes(account.account_type)) return { error: 'bad_account_type' };
    const current = await totalBps(trx, input.appName);
    if (current + input.shareBps > MAX_TOTAL_BPS) {
      return { error: 'over_total', current, requested: input.shareBps };
    }
    await trx('app_revenue_shares').insert({
      share_id: shareId,
      app_name: input.appName,
      account_id: input.accountId,
      share_bps: input.shareBps,
      label: input.label,
      created_at: nowIso(),
    });
    return null;
  });
  if (outcome) return outcome;
  return (await listRevenueShares(db, input.appName)).find((s) => s.share_id === shareId)!;
}

export async function totalBps(db: Db, appName: string): Promise<number> {
  const row = await db('app_revenue_shares').where({ app_name: appName }).sum({ total: 'share_bps' }).first();
  return Number(row?.total ?? 0);
}

/** Deletes a rule of this app; false when it does not exist or belongs to another app. */
export async function deleteRevenueShare(db: Db, appName: string, shareId: string): Promise<boolean> {
  return (await db('app_revenue_shares').where({ share_id: shareId, app_name: appName }).delete()) > 0;
}

/**
 * Contributor rules for charging (billing.md §4.2): the app's explicit rules in created_at order; else its
 * maintainers, each mapped to the first (oldest) account with that exact github_login whose type is
 * contributor/agent, split evenly (maintainer-auto). Rules whose account no longer exists are dropped, so their
 * share stays with the platform instead of failing the charge.
 */
export async function resolveContributorShares(db: Db, appName: string): Promise<ContributorShare[]> {
  if (!appName) return [];
  const explicit = (await db('app_revenue_shares as s')
    .join('accounts as a', 'a.account_id', 's.account_id')
    .where('s.app_name', appName)
    .orderBy([
      { column: 's.created_at', order: 'asc' },
      { column: 's.share_id', order: 'asc' },
    ])
    .select('s.account_id', 's.share_bps', 's.label')) as { account_id: string; share_bps: number; label: string }[];
  const anyRules =
    explicit.length > 0 || (await db('app_revenue_shares').where({ app_name: appName }).first('share_id'));
  if (anyRules) {
    return explicit.map((r) => ({ accountId: r.account_id, shareBps: Number(r.share_bps), label: r.label }));
  }
  const app = (await db('apps').where({ name: appName }).first('maintainers')) as { maintainers: string } | undefined;
  if (!app) return [];
  const logins = parseJsonColumn<unknown>(app.maintainers, []);
  const wanted = (Array.isArray(logins) ? (logins as unknown[]) : [])
    .filter((l): l is string => typeof l === 'string')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (wanted.length === 0) return [];
  const accounts = (await db('accounts')
    .whereIn('github_login', [...new Set(wanted)])
    .orderBy([
      { column: 'created_at', order: 'asc' },
      { column: 'account_id', order: 'asc' },
    ])
    .select('account_id', 'github_login', 'account_type')) as {
    account_id: string;
    github_login: string;
    account_type: string;
  }[];
  const ids: string[] = [];
  for (const login of wanted) {
    const first = accounts.find((a) => a.github_login === login);
    if (first && SHARE_ACCOUNT_TYPES.includes(first.account_type)) ids.push(first.account_id);
  }
  return maintainerAutoShares(ids);
}
