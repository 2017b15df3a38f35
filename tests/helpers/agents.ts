/**
 * Shared set-up of the agent tests: a stack wired to the fake Intel Trust Authority and fake Cloudflare, a trusted
 * MRTD with an RTMR baseline, and helpers to challenge, mint tokens and register over HTTP.
 */
import { registrationAttempt } from '../../api/agent-gateway';
import { startFakeCloudflare, type FakeCloudflare } from '../fakes/cloudflare';
import {
  itaClaims,
  startFakeIntelTa,
  type FakeIntelTa,
  type ItaClaimsInput,
  type SignTokenOptions,
} from '../fakes/intel-ta';
import { adminLogin, http, startStack, type Stack, type StackOptions } from './stack';

export const MRTD = 'a1'.repeat(48);
export const UNTRUSTED_MRTD = 'c3'.repeat(48);
export const RTMRS = { rtmr0: 'b0'.repeat(48), rtmr1: 'b1'.repeat(48), rtmr2: 'b2'.repeat(48), rtmr3: '00'.repeat(48) };

export interface AgentWorld {
  stack: Stack;
  ita: FakeIntelTa;
  cf: FakeCloudflare;
  api: ReturnType<typeof http>;
  admin: string;
  close(): Promise<void>;
}

/**
 * The agent tests' world. Nonce enforcement is `optional` here unless `opts.env` says otherwise: most of these
 * tests are about other parts of the policy and mint tokens without a challenge. The default (`required`) is
 * tested as shipped in tests/integration/trust-attestation.test.ts.
 */
export async function startAgentWorld(
  opts: {
    cloudflare?: boolean;
    env?: Record<string, string>;
    tsmRoot?: string;
    eagerStart?: StackOptions['eagerStart'];
  } = {},
): Promise<AgentWorld> {
  const ita = await startFakeIntelTa();
  const cf = await startFakeCloudflare();
  const cfEnv: Record<string, string> =
    opts.cloudflare === false
      ? {}
      : {
          CLOUDFLARE_ACCOUNT_ID: cf.accountId,
          CLOUDFLARE_ZONE_ID: cf.zoneId,
          CLOUDFLARE_API_TOKEN: cf.apiToken,
          CLOUDFLARE_API_URL: cf.url,
        };
  const stack = await startStack({
    tsmRoot: opts.tsmRoot,
    eagerStart: opts.eagerStart,
    env: {
      ITA_JWKS_URL: ita.jwksUrl,
      ITA_ISSUER: ita.issuer,
      EASYENCLAVE_DOMAIN: cf.zoneName,
      TRUSTED_AGENT_MRTDS: MRTD,
      TRUSTED_AGENT_RTMRS: JSON.stringify(RTMRS),
      NONCE_ENFORCEMENT_MODE: 'optional',
      ...cfEnv,
      ...opts.env,
    },
  });
  const api = http(stack.url);
  const admin = await adminLogin(stack.url);
  return {
    stack,
    ita,
    cf,
    api,
    admin,
    async close() {
      await stack.close();
      await ita.close();
      await cf.close();
    },
  };
}

export async function setSetting(w: AgentWorld, key: string, value: string): Promise<void> {
  const r = await w.api.put(`/api/v1/admin/settings/${key}`, { token: w.admin, json: { value } });
  if (r.status !== 200) throw new Error(`setting ${key}: ${r.status} ${r.text}`);
}

export async function challenge(w: AgentWorld, vmName: string): Promise<string> {
  const r = await w.api.get(`/api/v1/agents/challenge?vm_name=${encodeURIComponent(vmName)}`);
  if (r.status !== 200) throw new Error(`challenge: ${r.status} ${r.text}`);
  return r.body.nonce as string;
}

export function token(w: AgentWorld, claims: ItaClaimsInput = {}, sign: SignTokenOptions = {}): Promise<string> {
  return w.ita.signToken(itaClaims({ mrtd: MRTD, rtmrs: RTMRS, ...claims }), sign);
}

export function registerBody(vmName: string, tok: string | undefined, over: Record<string, unknown> = {}) {
  return {
    vm_name: vmName,
    node_size: 'tiny',
    datacenter: 'gcp:us-central1-a',
    version: '2.0.0',
    attestation: { tdx: tok === undefined ? {} : { intel_ta_token: tok } },
    ...over,
  };
}

export function register(w: AgentWorld, vmName: string, tok: string | undefined, over: Record<string, unknown> = {}) {
  return w.api.post('/api/v1/agents/register', { json: registerBody(vmName, tok, over) });
}

/** The registration workflow id the API uses for `register(w, vmName, tok)`. */
export function registrationWorkflowId(vmName: string, tok: string): string {
  const b = registerBody(vmName, tok);
  return `register:${vmName}:${registrationAttempt({
    vmName,
    nodeSize: b.node_size,
    datacenter: b.datacenter,
    version: b.version,
    attestation: b.attestation,
  })}`;
}

export async function countAgents(w: AgentWorld, vmName?: string): Promise<number> {
  const q = w.stack.db('agents');
  if (vmName) q.where({ vm_name: vmName });
  const [{ n }] = (await q.count({ n: '*' })) as [{ n: number | string }];
  return Number(n);
}
