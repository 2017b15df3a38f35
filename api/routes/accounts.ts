/**
 * Billing accounts (api.md §8). Keys are shown once (create, rotate); only an HMAC-SHA-256 of each is kept (core/auth/secrets.ts).
 *
 * v2 decision on `POST /accounts/{id}/deposit`: admin-only. v1 let any key holder mint itself credit; real money
 * arrives through Stripe (billing), and an operator can still credit an account by hand with an admin session.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'koa';
import { z } from 'zod';
import { LISTS, cursorParam, nextCursor, nextCursorField, pageQuery, pageRequest } from '../http/pagination';
import { apiKeyCacheId, newApiKey } from '../../core/auth/api-keys';
import { badRequest, conflict, forbidden, notFound } from '../http/errors';
import { microsToUsd, usdToMicros } from '../../core/money';
import { RATE_LIMITS } from '../../core/rate-limit';
import {
  ACCOUNT_TYPES,
  AccountNameTakenError,
  deleteAccount,
  getAccount,
  insertAccount,
  listAccounts,
  listAccountsPage,
  replaceApiKey,
  linkProvenIdentity,
  type Account,
} from '../../core/stores/accounts';
import {
  AccountNotFoundError,
  BalanceOverflowError,
  appendLedgerEntry,
  countTransactions,
  getBalance,
  getBalances,
  listTransactions,
  listTransactionsPage,
} from '../../core/stores/ledger';
import type { LedgerEntry } from '../../core/stores/ledger';
import { countActiveDeployments } from '../../core/stores/deployments';
import type { AppDeps } from '../deps';
import { IdentityBody, proveIdentity } from '../identity-proof';
import type { Routes } from '../http/route';

const AccountView = z.object({
  account_id: z.string(),
  name: z.string(),
  description: z.string(),
  account_type: z.string(),
  github_login: z.string().nullable(),
  github_org: z.string().nullable(),
  balance: z.number().describe('USD'),
  created_at: z.string(),
});
export const TransactionView = z.object({
  transaction_id: z.string(),
  account_id: z.string(),
  amount: z.number().describe('USD, signed'),
  balance_after: z.number().describe('USD'),
  tx_type: z.string(),
  description: z.string(),
  reference_id: z.string().nullable(),
  created_at: z.string(),
});
const IdParam = z.object({ account_id: z.string() });
const KEY_WARNING = 'Save this API key now. It will never be shown again.';

function view(a: Account, balanceMicros: number): z.infer<typeof AccountView> {
  return {
    account_id: a.account_id,
    name: a.name,
    description: a.description,
    account_type: a.account_type,
    github_login: a.github_login,
    github_org: a.github_org,
    balance: microsToUsd(balanceMicros),
    created_at: a.created_at,
  };
}

export function txView(t: LedgerEntry): z.infer<typeof TransactionView> {
  return {
    transaction_id: t.transaction_id,
    account_id: t.account_id,
    amount: microsToUsd(t.amount),
    balance_after: microsToUsd(t.balance_after),
    tx_type: t.tx_type,
    description: t.description,
    reference_id: t.reference_id,
    created_at: t.created_at,
  };
}

/** api-key(self): the path id must be the key's own account (403 with the route's message). */
function requireSelf(ctx: Context, accountId: string, message: string): Account {
  const me = ctx.state.account!;
  if (me.account_id !== accountId) throw forbidden(message);
  return me;
}

export function accountRoutes(routes: Routes, deps: AppDeps): void {
  const load = async (id: string) => {
    const a = await getAccount(deps.db, id);
    if (!a) throw notFound('Account not found');
    return a;
  };
  const forget = (a: Account) => {
    if (a.api_key_hash) deps.credentialCache.forgetId(apiKeyCacheId(a.account_id, a.api_key_hash));
  };

  routes.add(
    {
      method: 'post',
      path: '/api/v1/accounts',
      summary: 'Create a billing account; the API key is returned once',
      tag: 'accounts',
      auth: 'none',
      rateLimit: RATE_LIMITS.accountCreate,
      body: z
        .object({
          name: z.string().max(255).regex(/\S/, 'Account name is required'),
          description: z.string().max(4096).optional().default(''),
          account_type: z.enum(ACCOUNT_TYPES, {
            error: "account_type must be 'deployer', 'agent', 'contributor', or 'launcher'",
          }),
        })
        .meta({ example: { name: 'acme-ci', description: 'Deploys from GitHub Actions', account_type: 'deployer' } }),
      responses: {
        200: {
          description: 'Created',
          schema: AccountView.omit({ github_login: true, github_org: true }).extend({
            api_key: z.string(),
            warning: z.string(),
          }),
          links: {
            GetAccount: {
              operation: 'get /api/v1/accounts/:account_id',
              parameters: { account_id: '$response.body#/account_id' },
              description: 'The new account (authenticate with the api_key of this answer)',
            },
          },
        },
        409: { description: 'Name taken' },
      },
    },
    async ({ body }) => {
      const name = body.name.trim();
      const { key, hash, prefix } = newApiKey(deps.sealingKey);
      try {
        const a = await insertAccount(deps.db, {
          account_id: randomUUID(),
          name,
          description: body.description,
          account_type: body.account_type,
          created_at: deps.now().toISOString(),
          api_key_hash: hash,
          api_key_prefix: prefix,
        });
        return {
          account_id: a.account_id,
          name: a.name,
          description: a.description,
          account_type: a.account_type,
          balance: 0,
          created_at: a.created_at,
          api_key: key,
          warning: KEY_WARNING,
        };
      } catch (err) {
        if (err instanceof AccountNameTakenError) throw conflict(err.message);
        throw err;
      }
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/accounts',
      summary: 'List accounts with balances (admin)',
      tag: 'accounts',
      auth: 'admin',
      etag: true,
      query: z.object({
        name: z.string().optional().describe('Case-insensitive substring'),
        account_type: z.string().optional(),
        ...pageQuery(LISTS.accounts),
      }),
      responses: {
        200: {
          description: 'Accounts in creation order',
          schema: z.object({ accounts: z.array(AccountView), total: z.number(), next_cursor: nextCursorField }),
          links: {
            GetAccount: {
              operation: 'get /api/v1/accounts/:account_id',
              parameters: { account_id: '$response.body#/accounts/0/account_id' },
              description: 'The first account listed (read with that account’s API key)',
            },
            ListAccountTransactions: {
              operation: 'get /api/v1/accounts/:account_id/transactions',
              parameters: { account_id: '$response.body#/accounts/0/account_id' },
            },
          },
        },
      },
    },
    async ({ query }) => {
      const filter = { name: query.name, accountType: query.account_type };
      const page = pageRequest(query);
      const p = page ? await listAccountsPage(deps.db, filter, page) : null;
      const accounts = p ? p.items : await listAccounts(deps.db, filter);
      const balances = await getBalances(
        deps.db,
        accounts.map((a) => a.account_id),
      );
      const out = { accounts: accounts.map((a) => view(a, balances.get(a.account_id) ?? 0)), total: accounts.length };
      return p ? { ...out, next_cursor: nextCursor(LISTS.accounts, p) } : out;
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/accounts/:account_id',
      summary: 'The key owner’s account with its balance',
      tag: 'accounts',
      auth: 'apiKey',
      params: IdParam,
      responses: { 200: { description: 'Account', schema: AccountView }, 403: { description: 'Other account' } },
    },
    async ({ params }, ctx) => {
      requireSelf(ctx, params.account_id, 'Cannot access other accounts');
      const a = await load(params.account_id);
      return view(a, await getBalance(deps.db, a.account_id));
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/accounts/:account_id/identity',
      summary:
        'Link a PROVEN GitHub identity: a GitHub Actions OIDC token links its repository_owner as github_org; a ' +
        'GitHub login session token (from /auth/github/callback) links its login (and records its orgs)',
      tag: 'accounts',
      auth: 'apiKey',
      params: IdParam,
      body: IdentityBody,
      responses: {
        200: { description: 'Account', schema: AccountView },
        401: { description: 'Proof invalid (token not verified / session unknown or expired)' },
        403: { description: 'Other account' },
        422: { description: 'No proof, or bare github_login / github_org (names are never taken on trust)' },
      },
    },
    async ({ params, body }, ctx) => {
      requireSelf(ctx, params.account_id, 'Cannot edit identity for other accounts');
      const proof = await proveIdentity(deps, body);
      if (!(await linkProvenIdentity(deps.db, params.account_id, proof, deps.now().toISOString()))) {
        throw notFound('Account not found');
      }
      const a = await load(params.account_id);
      return view(a, await getBalance(deps.db, a.account_id));
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/accounts/:account_id/api-key/rotate',
      summary: 'Replace the API key; the old key stops working at once',
      tag: 'accounts',
      auth: 'apiKey',
      params: IdParam,
      responses: {
        200: {
          description: 'New key (shown once)',
          schema: z.object({
            account_id: z.string(),
            api_key: z.string(),
            rotated_at: z.string(),
            warning: z.string(),
          }),
        },
      },
    },
    async ({ params }, ctx) => {
      const me = requireSelf(ctx, params.account_id, 'Cannot rotate API key for other accounts');
      const { key, hash, prefix } = newApiKey(deps.sealingKey);
      if (!(await replaceApiKey(deps.db, me.account_id, hash, prefix))) throw notFound('Account not found');
      forget(me);
      return {
        account_id: me.account_id,
        api_key: key,
        rotated_at: deps.now().toISOString(),
        warning: 'Save this API key now. Previous key has been revoked.',
      };
    },
  );

  routes.add(
    {
      method: 'delete',
      path: '/api/v1/accounts/:account_id',
      summary: 'Delete the account (only with a zero balance); its ledger entries remain',
      tag: 'accounts',
      auth: 'apiKey',
      params: IdParam,
      responses: {
        200: { description: 'Deleted', schema: z.object({ status: z.literal('deleted'), account_id: z.string() }) },
        400: { description: 'Non-zero balance' },
        409: { description: 'The account has a pending, deploying or running deployment' },
      },
    },
    async ({ params }, ctx) => {
      const me = requireSelf(ctx, params.account_id, 'Cannot delete other accounts');
      await load(me.account_id);
      const active = await countActiveDeployments(deps.db, me.account_id);
      if (active > 0) {
        throw conflict(
          `Cannot delete account with ${active} active deployment${active === 1 ? '' : 's'} ` +
            '(pending, deploying or running): undeploy first',
        );
      }
      const balance = await getBalance(deps.db, me.account_id);
      if (balance !== 0) {
        throw badRequest(`Cannot delete account with non-zero balance (${microsToUsd(balance).toFixed(2)})`);
      }
      if (!(await deleteAccount(deps.db, me.account_id))) throw notFound('Account not found');
      forget(me);
      return { status: 'deleted' as const, account_id: me.account_id };
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/accounts/:account_id/deposit',
      summary: 'Manual credit (admin only in v2: an account key cannot mint itself credit)',
      tag: 'accounts',
      auth: 'admin',
      params: IdParam,
      body: z
        .object({
          amount: z
            .number()
            .min(0.000001)
            .max(1_000_000_000)
            .describe('USD, from one micro-dollar; rounded to 6 decimals (micro-dollars)'),
          description: z.string().optional().default(''),
        })
        .meta({ example: { amount: 25, description: 'Manual top-up' } }),
      responses: {
        200: { description: 'Ledger entry', schema: TransactionView },
        409: { description: 'The balance would exceed the largest amount the ledger holds exactly' },
      },
    },
    async ({ params, body }) => {
      // toFixed(6): the decimal text of the amount in micro-dollars, exact for any amount the schema allows.
      const micros = usdToMicros(body.amount.toFixed(6));
      try {
        const t = await appendLedgerEntry(deps.db, {
          accountId: params.account_id,
          amount: micros,
          txType: 'deposit',
          description: body.description || 'Deposit',
        });
        return txView(t);
      } catch (err) {
        if (err instanceof AccountNotFoundError) throw notFound('Account not found');
        if (err instanceof BalanceOverflowError) throw conflict('Deposit refused: the balance would be out of range');
        throw err;
      }
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/accounts/:account_id/transactions',
      summary: 'Ledger entries of the account, newest first',
      tag: 'accounts',
      auth: 'apiKey',
      params: IdParam,
      etag: true,
      query: z.object({
        // v1's bounds (at most 200, default 50; <= 0 lists nothing) stay, for v1 clients; giving it is cursor mode.
        limit: z.coerce
          .number()
          .int()
          .max(200)
          .optional()
          .describe('Page size (at most 200; default 50); with limit or cursor the response carries next_cursor'),
        offset: z.coerce.number().int().min(0).optional().default(0).describe('Entries to skip (after the cursor)'),
        cursor: cursorParam(LISTS.transactions),
      }),
      responses: {
        200: {
          description: 'Entries, newest first; total counts every entry of the account',
          schema: z.object({ transactions: z.array(TransactionView), total: z.number(), next_cursor: nextCursorField }),
        },
      },
    },
    async ({ params, query }, ctx) => {
      requireSelf(ctx, params.account_id, 'Cannot access other account transactions');
      await load(params.account_id);
      const limit = Math.max(0, query.limit ?? 50);
      const total = await countTransactions(deps.db, params.account_id);
      const page = pageRequest(query, 50);
      if (!page) {
        const rows = await listTransactions(deps.db, params.account_id, query.offset + limit);
        return { transactions: rows.slice(query.offset).map(txView), total };
      }
      if (limit === 0) return { transactions: [], total, next_cursor: null };
      const p = await listTransactionsPage(deps.db, params.account_id, { ...page, limit }, query.offset);
      return { transactions: p.items.map(txView), total, next_cursor: nextCursor(LISTS.transactions, p) };
    },
  );
}
