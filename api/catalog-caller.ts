/**
 * Who is calling a catalog or log route, as proven by its credential (guard `catalog`): a deployer API key's
 * account (its id always counts; `github_login`/`github_org` only as proven by account linking), a GitHub Actions
 * OIDC token's `repository_owner`, or a GitHub/admin session. Used for app maintainership and owner-scoped logs.
 */
import type { Context } from 'koa';
import { sessionIdentities } from '../core/auth/admin-sessions';
import { normalizeGithubLogin, ownerIdentities } from '../core/auth/github-oidc';
import type { App } from '../core/stores/apps';

export interface CatalogCaller {
  isAdmin: boolean;
  /** Account of an API key, else null. */
  accountId: string | null;
  accountType: string | null;
  /** Proven GitHub identities (logins/orgs), normalized. */
  identities: string[];
  kind: 'api_key' | 'oidc' | 'session';
  label: string;
}

export function catalogCaller(ctx: Context): CatalogCaller {
  const { account, oidc, session } = ctx.state;
  if (oidc) {
    return {
      isAdmin: false,
      accountId: null,
      accountType: null,
      identities: ownerIdentities(oidc),
      kind: 'oidc',
      label: `repository_owner '${oidc.repository_owner}'`,
    };
  }
  if (account) {
    return {
      isAdmin: false,
      accountId: account.account_id,
      accountType: account.account_type,
      identities: [account.github_login, account.github_org]
        .filter((v): v is string => !!v)
        .map(normalizeGithubLogin)
        .filter(Boolean),
      kind: 'api_key',
      label: `account '${account.name}'`,
    };
  }
  return {
    isAdmin: ctx.state.isAdmin === true,
    accountId: null,
    accountType: null,
    identities: session ? sessionIdentities(session).map(normalizeGithubLogin).filter(Boolean) : [],
    kind: 'session',
    label: session?.github_login ? `GitHub user '${session.github_login}'` : 'admin session',
  };
}

export function maintains(app: Pick<App, 'maintainers' | 'maintainer_accounts'>, c: CatalogCaller): boolean {
  if (c.isAdmin) return true;
  if (c.accountId && app.maintainer_accounts.includes(c.accountId)) return true;
  const logins = new Set(app.maintainers.map(normalizeGithubLogin));
  return c.identities.some((id) => logins.has(id));
}
