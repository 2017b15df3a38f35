/**
 * Test fixtures written straight into the database, for tests whose subject is not how
 * these rows came to be (a billing test needs running deployments, not a deploy).
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { hashPassword, randomToken, tokenPrefix } from '../../core/auth/secrets';

const now = () => new Date().toISOString();

export async function seedAgent(
  db: Knex,
  over: Record<string, unknown> = {},
): Promise<{ agent_id: string; vm_name: string }> {
  const agent_id = (over.agent_id as string) ?? randomUUID();
  const row = {
    agent_id,
    vm_name: `vm-${agent_id.slice(0, 8)}`,
    status: 'undeployed',
    mrtd: 'a'.repeat(96),
    hostname: `agent-${agent_id}.example.com`,
    health_status: 'healthy',
    registered_at: now(),
    last_heartbeat: now(),
    verified: true,
    node_size: 'tiny',
    datacenter: 'gcp:us-central1-a',
    ...over,
  };
  await db('agents').insert(row);
  return { agent_id, vm_name: row.vm_name };
}

/**
 * An agent control credential stored as releases before HMAC hashing stored it (argon2id); returns the clear secret
 * the agent would hold. Its first authenticated call migrates the hash (core/auth/agent-secrets.ts).
 */
export async function seedAgentSecret(db: Knex, agentId: string): Promise<string> {
  const secret = randomToken(48);
  await db('agent_control_credentials').insert({
    agent_id: agentId,
    api_secret_hash: await hashPassword(secret),
    api_secret_prefix: tokenPrefix(secret),
    created_at: now(),
    updated_at: now(),
  });
  return secret;
}

export async function seedAccount(
  db: Knex,
  over: Record<string, unknown> = {},
): Promise<{ account_id: string; name: string }> {
  const account_id = (over.account_id as string) ?? randomUUID();
  const row = {
    account_id,
    name: `acct-${account_id.slice(0, 8)}`,
    account_type: 'deployer',
    created_at: now(),
    ...over,
  };
  await db('accounts').insert(row);
  return { account_id, name: row.name as string };
}

/**
 * A deployment row. Without an explicit `agent_id` it gets its own agent that holds it (`deployed`, current
 * deployment = this one), as a real placement leaves it: billing charges only deployments whose agent still exists
 * and holds nothing else.
 */
export async function seedDeployment(db: Knex, over: Record<string, unknown> = {}): Promise<{ deployment_id: string }> {
  const deployment_id = (over.deployment_id as string) ?? randomUUID();
  const agent_id = (over.agent_id as string | undefined) ?? randomUUID();
  if (over.agent_id === undefined) {
    await seedAgent(db, { agent_id, status: 'deployed', current_deployment_id: deployment_id });
  }
  await db('deployments').insert({
    deployment_id,
    compose: Buffer.from('services:\n  app:\n    image: nginx\n').toString('base64'),
    config: '{}',
    agent_id,
    status: 'running',
    created_at: now(),
    ...over,
  });
  return { deployment_id };
}
