/**
 * Public agent routes (api.md §2): the registration challenge, registration (a `registerAgent` workflow), list/get
 * (no tokens or secrets, ever) and the attestation chain.
 */
import { z } from 'zod';
import { normalizeRegistration, itaTokenOf } from '../../core/agents/registration-input';
import { isInsecureLocalEvidence } from '../../core/attestation/insecure-local';
import { verifyItaToken } from '../../core/attestation/ita-verify';
import { JwksCache } from '../../core/attestation/jwks';
import { mergeTrustedMrtds } from '../../core/attestation/policy';
import { bootstrapTokenHash } from '../../core/auth/bootstrap-token';
import { unseal } from '../../core/auth/seal';
import { parseJsonColumn, requireIso } from '../../core/db/tables';
import { HttpError, badRequest, conflict, notFound } from '../http/errors';
import { RATE_LIMITS } from '../../core/rate-limit';
import { getAgent } from '../../core/stores/agents';
import { AgentLists } from '../agent-list';
import { acceptsGzip } from '../agent-views';
import { NOT_MODIFIED, notModified, respondJson, weakEtag } from '../http/etag';
import { VERSION } from './health';
import { LISTS, nextCursorField, pageQuery, pageRequest } from '../http/pagination';
import { listTrustedMrtds } from '../../core/stores/trusted-mrtds';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';
import { decodeJwt } from 'jose';
import { ENV_INFO, HPKE_AEAD_ID, HPKE_KDF_ID, HPKE_KEM_ID } from '../../core/secrets/hpke-env';
import { SettingsSnapshot } from '../../core/settings/snapshot';
import { type ChallengeIssuer, challengeIssuer, challengeRoutes } from './challenge';
import { AgentIdParams, AgentSchema, EncryptionKeyResponse, RegisterBody, RegisterResponse } from './agent-schemas';

/** attestation.md §3.4: a display subset of the payload, decoded without verification. */
export function displayClaims(token: string | null): Record<string, unknown> | null {
  const part = token?.split('.')[1];
  if (!part) return null;
  try {
    const p = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
    const tdx = (p.tdx ?? {}) as Record<string, unknown>;
    const iso = (v: unknown) => (typeof v === 'number' ? new Date(v * 1000).toISOString() : undefined);
    const out: Record<string, unknown> = {
      attester_tcb_status: p.attester_tcb_status,
      attester_type: p.attester_type,
      token_expiry: iso(p.exp),
      token_issued: iso(p.iat),
      attester_held_data: p.attester_held_data,
      tdx_mrsigner: p.tdx_mrsigner ?? tdx.tdx_mrsigner,
      tdx_mrtd: p.tdx_mrtd ?? tdx.tdx_mrtd,
    };
    for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
    return Object.keys(out).length > 0 ? out : null;
  } catch {
    return null;
  }
}

export function replayedRegistration(agentId: string, vmName: string): string {
  return (
    `This registration request was already answered (agent ${agentId}); its control secret and tunnel token are ` +
    `returned only once. Request a fresh challenge (GET /api/v1/agents/challenge?vm_name=${vmName}) and register ` +
    'again with a new attestation'
  );
}

export function agentRoutes(
  routes: Routes,
  deps: AppDeps,
  lists = new AgentLists(deps, VERSION),
  issueChallenge: ChallengeIssuer = challengeIssuer(deps, new SettingsSnapshot(() => deps.settings)),
): void {
  const views = lists.views;
  const jwks = new JwksCache();

  // Before `/api/v1/agents/:agent_id`, which its path would match too.
  challengeRoutes(routes, issueChallenge);

  routes.add(
    {
      method: 'post',
      path: '/api/v1/agents/register',
      summary: 'Attested registration: runs a registerAgent workflow (verify → policy → nonce → tunnel → persist)',
      tag: 'agents',
      auth: 'none',
      rateLimit: RATE_LIMITS.agentRegister,
      body: RegisterBody,
      responses: {
        200: { description: 'Registered; the secret is shown only here', schema: RegisterResponse },
        400: { description: 'Invalid input or nonce required' },
        403: { description: 'Attestation rejected' },
        409: { description: 'Re-registration drift, or a replay of an already answered registration request' },
        502: { description: 'Tunnel creation failed' },
      },
    },
    async ({ body }) => {
      const n = normalizeRegistration(body);
      if (!n.ok) throw badRequest(n.detail);
      const token = itaTokenOf(body.attestation);
      if (token === '' && !isInsecureLocalEvidence(body.attestation)) {
        throw badRequest('Registration requires Intel Trust Authority token');
      }
      const { result: r, rejoined } = await deps.workflows.agents.register({
        vmName: n.value.vm_name,
        nodeSize: n.value.node_size,
        datacenter: n.value.datacenter,
        version: body.version,
        attestation: body.attestation,
        bootstrapTokenHash: body.bootstrap_token?.trim()
          ? bootstrapTokenHash(deps.sealingKey, body.bootstrap_token)
          : null,
        ...(body.encryption_public_key ? { encryptionPublicKey: body.encryption_public_key } : {}),
      });
      if (!r.ok) throw new HttpError(r.status, r.detail);
      // The credentials are handed out once: a replayed request (same token, same body) learns only which agent
      // the first one registered — whoever holds a copy of the request gains nothing from sending it again.
      if (rejoined) throw conflict(replayedRegistration(r.agentId, n.value.vm_name));
      return {
        agent_id: r.agentId,
        poll_interval: r.pollInterval,
        agent_api_secret: unseal(deps.sealingKey, r.secret),
        tunnel_token: r.tunnelToken ? unseal(deps.sealingKey, r.tunnelToken) : null,
        hostname: r.hostname,
      };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/agents',
      summary: 'List agents (no tunnel tokens, ITA tokens or secrets)',
      tag: 'agents',
      auth: 'none',
      query: z.object({
        status: z.string().optional().describe('Exact status'),
        vm_name: z.string().optional().describe('Case-insensitive substring'),
        ...pageQuery(LISTS.agents),
      }),
      responses: {
        200: {
          description: 'Agents in registration order (weak ETag; 304 on a matching If-None-Match)',
          schema: z.object({ agents: z.array(AgentSchema), total: z.number(), next_cursor: nextCursorField }),
          links: {
            GetAgent: {
              operation: 'get /api/v1/agents/:agent_id',
              parameters: { agent_id: '$response.body#/agents/0/agent_id' },
              description: 'The first agent listed',
            },
            GetAgentAttestation: {
              operation: 'get /api/v1/agents/:agent_id/attestation',
              parameters: { agent_id: '$response.body#/agents/0/agent_id' },
            },
          },
        },
        304: { description: NOT_MODIFIED },
      },
    },
    async ({ query }, ctx) => {
      // Held bodies under the list version (api/agent-list.ts): a 304 or the held body after one O(1) read, a render
      // once per list change. The unpaginated list without a query is answered before Koa (agentListListener).
      const page = pageRequest(query);
      const a = await lists.answer(
        { filter: { status: query.status, vm_name: query.vm_name }, page },
        ctx.get('if-none-match') || undefined,
      );
      ctx.vary('Accept-Encoding');
      if (a.notModified) {
        ctx.set('ETag', a.etag);
        ctx.status = 304;
        return undefined;
      }
      if (a.list.etag) ctx.set('ETag', a.list.etag);
      ctx.type = 'application/json';
      if (acceptsGzip(ctx.get('accept-encoding'))) {
        ctx.set('Content-Encoding', 'gzip');
        ctx.body = a.list.gz ?? (await a.list.gzipped());
      } else ctx.body = a.list.body;
      return undefined;
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/agents/:agent_id',
      summary: 'One agent (no tunnel token, ITA token or secret)',
      tag: 'agents',
      auth: 'none',
      params: AgentIdParams,
      responses: {
        200: { description: 'Agent (weak ETag)', schema: AgentSchema },
        304: { description: NOT_MODIFIED },
        404: { description: 'Agent not found' },
      },
    },
    async ({ params }, ctx) => {
      const row = await getAgent(deps.db, params.agent_id);
      if (!row) throw notFound('Agent not found');
      const json = views.render(row);
      if (!notModified(ctx, weakEtag(json))) respondJson(ctx, json);
      return undefined;
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/agents/:agent_id/encryption-key',
      summary:
        'The agent’s HPKE public key for tenant secrets with the ITA token that binds it (REPORTDATA 32..64 = ' +
        'SHA-256 of the key); clients verify the binding themselves before encrypting',
      tag: 'agents',
      auth: 'none',
      params: AgentIdParams,
      responses: {
        200: { description: 'Key and evidence', schema: EncryptionKeyResponse },
        404: { description: 'Agent not found, or it registered no encryption key' },
      },
    },
    async ({ params }) => {
      const a = await getAgent(deps.db, params.agent_id);
      if (!a) throw notFound('Agent not found');
      if (!a.encryption_public_key) throw notFound('Agent registered no encryption key');
      let reportData: string | null = null;
      if (a.encryption_key_token) {
        try {
          const c = decodeJwt(a.encryption_key_token) as Record<string, unknown>;
          const rd = c.tdx_report_data ?? (c.tdx as Record<string, unknown> | undefined)?.tdx_report_data;
          reportData = typeof rd === 'string' ? rd.toLowerCase() : null;
        } catch {
          reportData = null;
        }
      }
      return {
        agent_id: a.agent_id,
        public_key: a.encryption_public_key,
        kem_id: HPKE_KEM_ID,
        kdf_id: HPKE_KDF_ID,
        aead_id: HPKE_AEAD_ID,
        info: ENV_INFO,
        aad: 'UTF-8(deployment_id) || 0x00 || UTF-8(agent_id)',
        attestation: {
          ita_token: a.encryption_key_token ?? null,
          mrtd: a.mrtd,
          report_data: reportData,
          verified: Boolean(a.verified),
        },
      };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/agents/:agent_id/attestation',
      summary: 'Attestation chain: stored measurements, trust type and a re-verification of the stored ITA token',
      tag: 'agents',
      auth: 'none',
      params: AgentIdParams,
      responses: {
        200: { description: 'Chain', schema: z.record(z.string(), z.unknown()) },
        404: { description: 'Agent not found' },
      },
    },
    async ({ params }) => {
      const a = await getAgent(deps.db, params.agent_id);
      if (!a) throw notFound('Agent not found');
      const trusted = mergeTrustedMrtds(deps.config.trustedMrtdEnv, await listTrustedMrtds(deps.db));
      let intelTaVerified = false;
      let details: unknown = null;
      if (a.intel_ta_token) {
        try {
          const [url, issuer, audience] = await Promise.all(
            (['intel_ta.jwks_url', 'intel_ta.issuer', 'intel_ta.audience'] as const).map((k) => deps.settings.get(k)),
          );
          const v = await verifyItaToken(a.intel_ta_token, { jwks: jwks.get(url!), issuer, audience });
          intelTaVerified = v.ok;
          details = v.ok ? v.claims : null;
        } catch (e) {
          details = { error: String(e) };
        }
      }
      return {
        agent_id: a.agent_id,
        vm_name: a.vm_name,
        mrtd: a.mrtd,
        rtmrs: parseJsonColumn<unknown>(a.rtmrs, null),
        verified: Boolean(a.verified),
        verification_error: a.verification_error,
        hostname: a.hostname,
        tunnel_id: a.tunnel_id,
        mrtd_type: trusted.get(a.mrtd.trim().toLowerCase()) ?? null,
        tcb_status: a.tcb_status,
        intel_ta_verified: intelTaVerified,
        intel_ta_details: details,
        intel_ta_claims: displayClaims(a.intel_ta_token),
        registered_at: requireIso(a.registered_at),
      };
    },
  );
}
