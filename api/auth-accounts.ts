/**
 * Guards for account API keys, launcher keys and GitHub Actions OIDC tokens (attestation.md §8, §11), kept out of
 * api/auth.ts so that file stays a short list of schemes. Each guard sets ctx.state and throws the v1 401/403.
 */
import type { Context } from 'koa';
import { authenticateApiKey } from '../core/auth/api-keys';
import {
  githubOidcOptionsFromSettings,
  isJwtShaped,
  verifyGithubOidcToken,
  type GithubOidcClaims,
} from '../core/auth/github-oidc';
import { forbidden, serviceUnavailable, unauthorized } from './http/errors';
import type { Account } from '../core/stores/accounts';
import type { AppDeps } from './deps';
import { bearerToken } from './http/bearer';
import type { Guard } from './http/route';

declare module 'koa' {
  interface DefaultState {
    account?: Account;
    oidc?: GithubOidcClaims;
  }
}

/** A GitHub Actions OIDC token verified under the `github_oidc.*` settings, or the 401/503 a caller should get. */
export async function verifiedOidcClaims(deps: AppDeps, token: string): Promise<GithubOidcClaims> {
  const result = await verifyGithubOidcToken(token, {
    ...(await githubOidcOptionsFromSettings(deps.settings)),
    now: deps.now(),
  });
  if (!result.ok) {
    if (result.code === 'jwks') {
      deps.logger.warn(`GitHub OIDC keys unavailable: ${result.error}`);
      throw serviceUnavailable('Cannot verify GitHub OIDC tokens right now; retry later');
    }
    throw unauthorized(`Invalid GitHub OIDC token: ${result.error}`);
  }
  return result.claims;
}

export function createAccountGuards(deps: AppDeps): Record<'apiKey' | 'launcherKey' | 'oidc' | 'deployer', Guard> {
  const withKey = async (ctx: Context, key: string) => {
    const account = await authenticateApiKey(deps.db, deps.sealingKey, key, deps.now(), deps.credentialCache);
    if (!account) throw unauthorized('Invalid API key');
    ctx.state.account = account;
  };
  const withOidc = async (ctx: Context, token: string) => {
    ctx.state.oidc = await verifiedOidcClaims(deps, token);
  };
  const apiKey: Guard = (ctx) => withKey(ctx, bearerToken(ctx, 'api_key'));
  return {
    apiKey,
    launcherKey: async (ctx) => {
      await apiKey(ctx);
      if (ctx.state.account!.account_type.trim().toLowerCase() !== 'launcher') {
        throw forbidden('Launcher API key required');
      }
    },
    oidc: (ctx) => withOidc(ctx, bearerToken(ctx, 'token')),
    // Deploy: an `ee_live_` key or a GitHub Actions OIDC JWT; the shape of the credential picks the check.
    deployer: async (ctx) => {
      const token = bearerToken(ctx, 'api_key or GitHub OIDC token');
      if (isJwtShaped(token)) await withOidc(ctx, token);
      else await withKey(ctx, token);
    },
  };
}
