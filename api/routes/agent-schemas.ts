/** Request/response shapes of the agent routes, declared once (validation + OpenAPI). */
import { z } from 'zod';
import { DATACENTER_INPUT_RE, NODE_SIZE_INPUT_RE } from '../../core/agents/registration-input';

const ts = z.string().nullable();

/** data-model.md §2.1 minus tunnel_token and intel_ta_token (never served). */
export const AgentSchema = z.object({
  agent_id: z.string(),
  vm_name: z.string(),
  status: z.string(),
  attestation: z.unknown().describe('Last attestation blob, tokens removed'),
  mrtd: z.string(),
  rtmrs: z.record(z.string(), z.string()).nullable(),
  tunnel_id: z.string().nullable(),
  hostname: z.string().nullable(),
  current_deployment_id: z.string().nullable(),
  service_url: z.string().nullable(),
  health_endpoint: z.string(),
  health_status: z.string(),
  last_health_check: ts,
  unhealthy_since: ts,
  stats: z.unknown(),
  registered_at: z.string(),
  last_heartbeat: z.string(),
  version: z.string(),
  verified: z.boolean(),
  verification_error: z.string().nullable(),
  tunnel_error: z.string().nullable(),
  last_attestation_check: ts,
  attestation_valid: z.boolean(),
  attestation_error: z.string().nullable(),
  account_id: z.string().nullable(),
  sla_tiers: z.array(z.unknown()),
  machine_sizes: z.array(z.unknown()),
  tcb_status: z.string().nullable(),
  tcb_verified_at: ts,
  node_size: z.string(),
  datacenter: z.string(),
  github_owner: z.string().nullable(),
  deployed_app: z.string().nullable(),
});

export const AgentIdParams = z.object({
  agent_id: z.string().meta({ example: '00000000-0000-4000-8000-000000000001' }),
});
/** Largest attestation blob accepted (serialized JSON bytes): a quote plus tokens is a few KiB. */
export const ATTESTATION_MAX_BYTES = 64 * 1024;
const withinCap = (v: unknown) => Buffer.byteLength(JSON.stringify(v), 'utf8') <= ATTESTATION_MAX_BYTES;
const capMessage = { message: `attestation exceeds ${ATTESTATION_MAX_BYTES} bytes` };
const Attestation = z.record(z.string(), z.unknown()).refine(withinCap, capMessage);

/** An Intel Trust Authority token in `attestation.tdx.intel_ta_token` (the v1 agent's shape). */
const ItaEvidence = z
  .object({
    tdx: z
      .object({ intel_ta_token: z.string().regex(/\S/, 'Registration requires Intel Trust Authority token') })
      .passthrough(),
  })
  .passthrough();
/** Development evidence of `npm run agent -- --local` (core/attestation/insecure-local.ts); refused by default. */
const InsecureLocalEvidence = z
  .object({ provider: z.literal('insecure-local'), tdx: z.object({ quote_b64: z.string().min(1) }).passthrough() })
  .passthrough();

export const RegisterBody = z
  .object({
    attestation: z
      .union([ItaEvidence, InsecureLocalEvidence], {
        error: 'Registration requires attestation with tdx.intel_ta_token (or insecure-local development evidence)',
      })
      .refine(withinCap, capMessage),
    vm_name: z.string().max(255).regex(/\S/, 'Registration requires vm_name'),
    version: z.string().max(64).default('1.0.0'),
    node_size: z
      .string()
      .regex(NODE_SIZE_INPUT_RE, 'Registration requires node_size: a lowercase token like tiny, standard, llm'),
    datacenter: z
      .string()
      .regex(DATACENTER_INPUT_RE, "Registration requires datacenter: '<cloud>:<zone>' (for example gcp:us-central1-a)"),
    bootstrap_token: z
      .string()
      .min(1)
      .max(256)
      .optional()
      .describe('One-time launch-order bootstrap token (VMs launched for a capacity order); checked and consumed'),
    encryption_public_key: z
      .string()
      .regex(/^[A-Za-z0-9_-]{43}$/, 'encryption_public_key must be base64url of a 32-byte X25519 public key')
      .optional()
      .describe('HPKE public key for tenant secrets; its SHA-256 must be REPORTDATA bytes 32..64 of the quote'),
  })
  .passthrough();

/** GET /api/v1/agents/{agent_id}/encryption-key (issue #17): the key and the evidence a client verifies itself. */
export const EncryptionKeyResponse = z.object({
  agent_id: z.string(),
  public_key: z.string().describe('base64url of the raw 32-byte X25519 public key'),
  kem_id: z.number().int().describe('RFC 9180 KEM id: 0x0020 DHKEM(X25519, HKDF-SHA256)'),
  kdf_id: z.number().int().describe('RFC 9180 KDF id: 0x0001 HKDF-SHA256'),
  aead_id: z.number().int().describe('RFC 9180 AEAD id: 0x0002 AES-256-GCM'),
  info: z.string().describe('HPKE info string of env envelopes'),
  aad: z.string().describe('How the associated data is formed'),
  attestation: z.object({
    ita_token: z
      .string()
      .nullable()
      .describe('The registration ITA token (its nonce is consumed); null for insecure-local agents'),
    mrtd: z.string().describe('MRTD the control plane recorded (verify it in the token yourself)'),
    report_data: z
      .string()
      .nullable()
      .describe('tdx_report_data of the token (hex): bytes 32..64 must be SHA-256 of public_key'),
    verified: z.boolean().describe('Whether the control plane considers the agent verified (not a proof)'),
  }),
});

export const RegisterResponse = z.object({
  agent_id: z.string(),
  poll_interval: z.number(),
  agent_api_secret: z.string(),
  tunnel_token: z.string().nullable(),
  hostname: z.string().nullable(),
});

export const HeartbeatBody = z
  .object({
    vm_name: z.string(),
    attestation: Attestation,
    status: z.string().nullable().default(null),
    deployment_id: z.string().nullable().default(null),
  })
  .passthrough();

export const StatusBody = z
  .object({ status: z.string(), deployment_id: z.string(), error: z.string().nullable().default(null) })
  .passthrough();

export const DeployedBody = z
  .object({ deployment_id: z.string(), service_id: z.string(), attestation: Attestation })
  .passthrough();

export const Ok = z.object({ status: z.literal('ok') });
