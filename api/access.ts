/**
 * Who may see or act on what, for any of the user credentials (session, API key, GitHub Actions OIDC), decided in
 * one place (trust issue items 3 and 4):
 * - a deployment's private fields (compose, config) belong to its account, its OIDC owner and admins;
 * - an agent's logs and stats belong to its owner (github_owner among the caller's proven identities), the
 *   deployer of its current deployment, and admins.
 */
import type { Context } from 'koa';
import { sessionIdentities } from '../core/auth/admin-sessions';
import { isOwnedBy, normalizeGithubLogin, ownerIdentities } from '../core/auth/github-oidc';
import { accountIdentities } from '../core/stores/accounts';

export interface Viewer {
  isAdmin: boolean;
  /** Account of an API key. */
  accountId: string | null;
  /** Verified repository_owner of an OIDC token. */
  oidcOwner: string | null;
  /** Proven GitHub identities (session login + orgs, OIDC owner, an account's proven links). */
  identities: string[];
}

/** The authenticated caller of a `caller`/`viewer` route; null when anonymous. */
export function viewerOf(ctx: Context): Viewer | null {
  const { session, account, oidc } = ctx.state;
  if (session) {
    return {
      isAdmin: ctx.state.isAdmin === true,
      accountId: null,
      oidcOwner: null,
      identities: sessionIdentities(session),
    };
  }
  if (account) {
    return { isAdmin: false, accountId: account.account_id, oidcOwner: null, identities: accountIdentities(account) };
  }
  if (oidc) {
    return { isAdmin: false, accountId: null, oidcOwner: oidc.repository_owner, identities: ownerIdentities(oidc) };
  }
  return null;
}

export interface DeploymentParties {
  account_id: string | null;
  github_owner: string | null;
}

/** The deployment's own account, its OIDC owner, or an admin. */
export function isDeploymentParty(v: Viewer | null, d: DeploymentParties): boolean {
  if (!v) return false;
  if (v.isAdmin) return true;
  if (v.accountId && d.account_id === v.accountId) return true;
  return (
    !!v.oidcOwner && !!d.github_owner && normalizeGithubLogin(v.oidcOwner) === normalizeGithubLogin(d.github_owner)
  );
}

/** The agent's owner, the deployer of its current deployment (`current`), or an admin. */
export function mayReadAgent(
  v: Viewer | null,
  agent: { github_owner: string | null },
  current: DeploymentParties | null,
): boolean {
  if (!v) return false;
  if (v.isAdmin || isOwnedBy(v.identities, agent.github_owner)) return true;
  return current !== null && isDeploymentParty({ ...v, isAdmin: false }, current);
}
