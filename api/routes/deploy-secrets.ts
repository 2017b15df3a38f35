/**
 * The encrypted fields of `POST /api/v1/deploy` (issue #17). Placement comes first: a client dry-runs to learn the
 * agent, picks the deployment id itself (a UUID), seals its env to that agent's attested key with
 * AAD = deployment id ‖ agent id (core/secrets/hpke-env.ts), then deploys pinned to that agent with that id. The
 * control plane checks shape and consistency only: it cannot open the envelope, stores it as it came and forwards
 * it to the agent, which is the one that refuses a ciphertext that is not for it.
 */
import { z } from 'zod';
import { MAX_ENV_CT_CHARS } from '../../core/secrets/hpke-env';
import { getDeployment } from '../../core/stores/deployments';
import type { AppDeps } from '../deps';
import { badRequest, conflict, unprocessable } from '../http/errors';

const B64URL = /^[A-Za-z0-9_-]+$/;

/** Fields merged into DeployBody. */
export const EncryptedDeployFields = {
  deployment_id: z
    .string()
    .regex(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      'deployment_id: a lower-case UUID',
    )
    .optional()
    .describe('Client-chosen id of the new deployment (needed to bind encrypted_env); must not exist yet'),
  encrypted_env: z
    .object({
      enc: z.string().length(43).regex(B64URL, 'enc: base64url').describe('HPKE encapsulated key (base64url)'),
      ct: z.string().min(22).max(MAX_ENV_CT_CHARS).regex(B64URL, 'ct: base64url').describe('Ciphertext (base64url)'),
    })
    .strict()
    .optional()
    .describe(
      'Env sealed with HPKE to agent_id’s key (GET /api/v1/agents/{agent_id}/encryption-key), info ' +
        '"easyenclave/env/v1", aad deployment_id ‖ 0x00 ‖ agent_id; needs agent_id and deployment_id',
    ),
};

export type EncryptedEnvInput = { enc: string; ct: string };

/**
 * Consistency of a real (not dry-run) deploy's encrypted fields: the ciphertext names its deployment and agent
 * through the AAD, so both must be pinned; the id must be new; the agent must have a key to open it with.
 */
export async function checkEncryptedDeploy(
  deps: AppDeps,
  body: { deployment_id?: string; encrypted_env?: EncryptedEnvInput; agent_id?: string | null },
): Promise<void> {
  if (body.encrypted_env && (!body.deployment_id || !body.agent_id)) {
    throw unprocessable(
      'encrypted_env needs agent_id and deployment_id: dry-run for the agent, choose the deployment id, encrypt ' +
        'to that agent for that id, then deploy with all three',
    );
  }
  if (body.deployment_id && (await getDeployment(deps.db, body.deployment_id))) {
    throw conflict(`Deployment ${body.deployment_id} already exists; choose a new deployment_id (and re-encrypt)`);
  }
  if (body.encrypted_env && body.agent_id) {
    const a = (await deps.db('agents').where({ agent_id: body.agent_id }).first('encryption_public_key')) as
      { encryption_public_key: string | null } | undefined;
    // Unknown agents are left to placement (its 404); a known one without a key could never open the envelope.
    if (a && !a.encryption_public_key) throw badRequest(`Agent ${body.agent_id} registered no encryption key`);
  }
}
