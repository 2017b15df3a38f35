/**
 * Proofs behind `POST /api/v1/accounts/{id}/identity` (trust issue, item 1). A GitHub name is linked to an account
 * only when the caller proves it: a GitHub Actions OIDC token (verified exactly like a deploy token) proves its
 * `repository_owner`, a GitHub login session (created by /auth/github/callback after the OAuth code exchange)
 * proves its login and orgs. A typed name proves nothing and is refused.
 */
import { z } from 'zod';
import { authenticateSession } from '../core/auth/admin-sessions';
import { unauthorized, unprocessable } from './http/errors';
import type { IdentityProof } from '../core/stores/accounts';
import { verifiedOidcClaims } from './auth-accounts';
import type { AppDeps } from './deps';

export const IdentityBody = z.object({
  github_oidc_token: z.string().min(1).optional().describe('GitHub Actions OIDC JWT: links github_org'),
  github_session_token: z
    .string()
    .min(1)
    .optional()
    .describe('Session token from /auth/github/callback: links github_login (and records its orgs)'),
  github_login: z.unknown().optional().describe('Refused: a name alone proves nothing'),
  github_org: z.unknown().optional().describe('Refused: a name alone proves nothing'),
});

export const PROOF_REQUIRED =
  'A proof is required: send github_oidc_token (a GitHub Actions OIDC token of the org) or github_session_token ' +
  '(a session from GitHub login); github_login / github_org are never taken on trust';

/** Verifies the one proof in `body`; throws 422 without one, 401 when it does not verify. */
export async function proveIdentity(deps: AppDeps, body: z.output<typeof IdentityBody>): Promise<IdentityProof> {
  const named = (body.github_login ?? null) !== null || (body.github_org ?? null) !== null;
  const proofs = [body.github_oidc_token, body.github_session_token].filter((v) => v !== undefined);
  if (named || proofs.length !== 1) throw unprocessable(PROOF_REQUIRED);
  if (body.github_oidc_token !== undefined) {
    const claims = await verifiedOidcClaims(deps, body.github_oidc_token);
    return { kind: 'github_oidc', org: claims.repository_owner };
  }
  const r = await authenticateSession(
    deps.db,
    deps.sealingKey,
    body.github_session_token!,
    deps.now(),
    deps.credentialCache,
  );
  if (!r.ok) throw unauthorized(`Invalid GitHub session token: ${r.detail}`);
  const s = r.session;
  if (s.auth_method !== 'github_oauth' || !s.github_login) {
    throw unauthorized('Invalid GitHub session token: not a GitHub login session');
  }
  return { kind: 'github_session', login: s.github_login, githubId: s.github_id, orgs: s.github_orgs };
}
