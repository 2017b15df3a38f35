/**
 * Activities of the registration workflow (spec/attestation.md §5, with v1's defects fixed). Each is idempotent
 * under the registration's own keys: the nonce is consumed *by* the workflow id (a retry of the same run passes
 * again), the agent id is chosen by the workflow (deterministic on replay), the tunnel is found by its
 * deterministic name, and the persist step is one transaction whose last completed attempt is the one reported.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Knex } from 'knex';
import {
  ALLOW_INSECURE_LOCAL_SETTING,
  evaluateInsecureLocal,
  isInsecureLocalEvidence,
  UNVERIFIED_DEV,
} from '../core/attestation/insecure-local';
import { nonceFromReportData, reportDataBinding } from '../core/attestation/report-data';
import { keyBindingHex, parsePublicKey } from '../core/secrets/hpke-env';
import { checkNonce, normalizeNonceMode } from '../core/attestation/policy';
import { seal, unseal } from '../core/auth/seal';
import { hashToken, randomToken, tokenPrefix } from '../core/auth/secrets';
import { nowIso } from '../core/db/tables';
import { settingBool, settingInt } from '../core/settings/read';
import type { SettingsReader } from '../core/settings/types';
import { getAgentByVmName, upsertCredential, type AgentDbRow } from '../core/stores/agents';
import { findOrderAwaitingVm } from '../core/stores/capacity';
import { consumeNonce, deleteNonce, getNonce } from '../core/stores/nonces';
import type { Rejection, SealedValue } from '../workflows/contracts/agents';
import { TrustFailure } from '../workflows/contracts/failures';
import type { AttestationVerifier, SignedMeasurements, TrustVerdict } from './attestation';
import type { CloudflareActivities } from './cloudflare';
import type { KeyRing } from '../core/auth/keyring';

export interface RegistrationDeps {
  db: Knex;
  settings: SettingsReader;
  sealingKey: KeyRing;
  verifier: AttestationVerifier;
  cloudflare: CloudflareActivities;
}

export interface AgentFields {
  vmName: string;
  nodeSize: string;
  datacenter: string;
  version: string;
  attestation: Record<string, unknown>;
  /** base64url HPKE public key, already checked against the signed REPORTDATA by verifyAgentAttestation. */
  encryptionPublicKey?: string | null;
}

export interface RegistrationPlan {
  ok: true;
  agentId: string;
  /** v1's "verified fast path": an existing verified agent keeps its row and status. */
  fastPath: boolean;
  existed: boolean;
  /** The existing row's hostname (reported when Cloudflare is not configured). */
  hostname: string | null;
}

/** What `admitRegistration` decided past the nonce: the plan, whether an order is involved, whether to tunnel. */
export type RegistrationAdmission = RegistrationPlan & {
  /** A bootstrap token was presented: the workflow asks its order (consumeBootstrapToken) before writing anything. */
  orderBound: boolean;
  /** Cloudflare is configured: the registration provisions the agent's tunnel + CNAME. */
  tunnel: boolean;
};

export interface ProvisionedTunnel {
  tunnelId: string;
  hostname: string;
  tunnelToken: SealedValue;
}

const tokenOf = (a: Record<string, unknown>) =>
  String((a.tdx as { intel_ta_token?: unknown } | undefined)?.intel_ta_token ?? '').trim();

/**
 * The agent's HPKE key and the evidence served with it: the registration's own ITA token, whose challenge nonce this
 * registration consumed, so publishing it lets nobody register with it (heartbeat tokens are never served: their
 * challenge may still be outstanding).
 */
const keyColumns = (f: AgentFields) => ({
  encryption_public_key: f.encryptionPublicKey ?? null,
  encryption_key_token: f.encryptionPublicKey ? tokenOf(f.attestation) || null : null,
});

/** A fresh row's columns (every other column takes its default). */
function freshRow(agentId: string, f: AgentFields, m: SignedMeasurements, now: string): Partial<AgentDbRow> {
  return {
    ...keyColumns(f),
    agent_id: agentId,
    vm_name: f.vmName,
    attestation: JSON.stringify(f.attestation),
    mrtd: m.mrtd,
    rtmrs: m.rtmrs ? JSON.stringify(m.rtmrs) : null,
    intel_ta_token: tokenOf(f.attestation),
    version: f.version,
    node_size: f.nodeSize,
    datacenter: f.datacenter,
    tcb_status: m.tcbStatus,
    tcb_verified_at: now,
    registered_at: now,
    last_heartbeat: now,
    last_contact_at: now,
    last_attestation_check: now,
  };
}

async function replaceRow(db: Knex, vmName: string, row: Partial<AgentDbRow>): Promise<void> {
  await db.transaction(async (trx) => {
    await trx('agents').where({ vm_name: vmName }).delete();
    await trx('agents').insert(row);
  });
}

export function createRegistrationActivities(deps: RegistrationDeps) {
  const { db, settings, sealingKey } = deps;
  /** ITA + TCB + MRTD trust + RTMR baseline on the signed claims, or insecure-local evidence when allowed. */
  async function verifyEvidence(input: {
    token: string;
    nodeSize: string;
    attestation?: Record<string, unknown>;
  }): Promise<TrustVerdict> {
    if (isInsecureLocalEvidence(input.attestation)) {
      // Development evidence (core/attestation/insecure-local.ts): no ITA, no MRTD trust; only when allowed.
      const v = evaluateInsecureLocal(input.attestation, await settingBool(settings, ALLOW_INSECURE_LOCAL_SETTING));
      if (!v.ok) return { ...v, code: TrustFailure.InsecureLocal, untrusted: false, signed: null };
      return {
        ok: true,
        mrtdType: 'agent',
        warnings: [UNVERIFIED_DEV],
        mrtd: v.mrtd,
        rtmrs: null,
        tcbStatus: UNVERIFIED_DEV,
        reportData: v.reportData,
      };
    }
    return deps.verifier.evaluate(input.token, input.nodeSize);
  }

  async function checkRegistrationNonce(input: {
    vmName: string;
    reportData: string | null;
    consumer: string;
  }): Promise<{ ok: true; warning?: string } | Rejection> {
    const [modeRaw, ttlSeconds] = await Promise.all([
      settings.get('operational.nonce_enforcement_mode'),
      settingInt(settings, 'operational.nonce_ttl_seconds'),
    ]);
    const stored = await getNonce(db, input.vmName);
    // A challenge consumed by another registration is gone as far as this one is concerned.
    const usable = stored && (stored.consumed_by === null || stored.consumed_by === input.consumer) ? stored : null;
    const nowMs = Date.now();
    const r = checkNonce({
      mode: normalizeNonceMode(modeRaw),
      presented: nonceFromReportData(input.reportData),
      expected: usable ? { nonce: usable.nonce, issuedAtMs: Date.parse(usable.issued_at) } : null,
      nowMs,
      ttlSeconds,
      vmName: input.vmName,
    });
    if (r.consume && usable) {
      const expired = nowMs - Date.parse(usable.issued_at) > ttlSeconds * 1000;
      if (expired) await deleteNonce(db, input.vmName, usable.nonce);
      else if (!(await consumeNonce(db, input.vmName, usable.nonce, input.consumer)) && r.ok) {
        return {
          ok: false,
          status: 403,
          detail: `Nonce verification failed: No nonce challenge found for ${input.vmName}`,
        };
      }
    }
    if (!r.ok) return { ok: false, status: r.status, detail: r.detail };
    return r.warning ? { ok: true, warning: r.warning } : { ok: true };
  }

  async function plan(input: {
    vmName: string;
    mrtd: string;
    nodeSize: string;
    datacenter: string;
    candidateAgentId: string;
  }): Promise<RegistrationPlan | Rejection> {
    const existing = await getAgentByVmName(db, input.vmName);
    if (!existing)
      return { ok: true, agentId: input.candidateAgentId, fastPath: false, existed: false, hostname: null };
    const verified = Boolean(existing.verified) && existing.status !== 'attestation_failed';
    if (verified) {
      const drift = (what: string, a: string, b: string) => ({
        ok: false as const,
        status: 409,
        detail: `Re-registration rejected: ${what} changed for existing vm_name ('${a}' -> '${b}')`,
      });
      const oldMrtd = existing.mrtd.trim().toLowerCase();
      if (oldMrtd && oldMrtd !== input.mrtd)
        return drift('MRTD', `${oldMrtd.slice(0, 16)}...`, `${input.mrtd.slice(0, 16)}...`);
      const ns = existing.node_size.trim().toLowerCase();
      if (ns && ns !== input.nodeSize) return drift('node_size', ns, input.nodeSize);
      const dc = existing.datacenter.trim().toLowerCase();
      if (dc && dc !== input.datacenter) return drift('datacenter', dc, input.datacenter);
    }
    return { ok: true, agentId: existing.agent_id, fastPath: verified, existed: true, hostname: existing.hostname };
  }

  return {
    /**
     * ITA + TCB + MRTD trust + RTMR baseline, all on the signed claims, then the HPKE key's binding to the quote.
     * A verdict, never a throw, for rejections.
     */
    async verifyAgentAttestation(input: {
      token: string;
      nodeSize: string;
      attestation?: Record<string, unknown>;
      encryptionPublicKey?: string | null;
    }): Promise<TrustVerdict> {
      const verdict = await verifyEvidence(input);
      if (!verdict.ok || !input.encryptionPublicKey) return verdict;
      // Issue #17: the key a client will encrypt to must be the one this quote vouches for.
      const key = parsePublicKey(input.encryptionPublicKey);
      const bound = reportDataBinding(verdict.reportData);
      if (!key || bound !== keyBindingHex(key)) {
        return {
          ok: false,
          code: TrustFailure.KeyBinding,
          status: 403,
          detail:
            'Encryption key not bound to the attestation: REPORTDATA bytes 32..64 must be SHA-256 of ' +
            `encryption_public_key (quote has ${bound ?? 'no binding'})`,
          untrusted: false,
          signed: null,
        };
      }
      return verdict;
    },

    /**
     * v1's untrusted-MRTD side effect: record what the signed token says as an `unverified` agent so an admin can
     * approve the MRTD. A verified agent is never downgraded; no tunnel and no credential are created.
     */
    async recordUnverifiedAgent(
      input: AgentFields & { candidateAgentId: string; signed: SignedMeasurements; detail: string },
    ): Promise<{ recorded: boolean; agentId: string | null }> {
      const existing = await getAgentByVmName(db, input.vmName);
      if (existing && Boolean(existing.verified) && existing.status !== 'attestation_failed') {
        return { recorded: false, agentId: existing.agent_id };
      }
      const agentId = existing?.agent_id ?? input.candidateAgentId;
      const row = freshRow(agentId, input, input.signed, nowIso());
      await replaceRow(db, input.vmName, {
        ...row,
        status: 'unverified',
        verified: false,
        verification_error: input.detail,
      });
      return { recorded: true, agentId };
    },

    /** §2 against the DB challenge; `presented` is read from the signed REPORTDATA only (v1 layout). */
    checkRegistrationNonce,

    /** Which agent id this registration writes, and whether it is v1's verified fast path (with its 409 drift checks). */
    planAgentRegistration: plan,

    /**
     * One step for everything a registration decides from the database before its tunnel (issue #19: one local
     * activity instead of four steps, one of them a regular activity): the nonce (as checkRegistrationNonce), the
     * plan (as planAgentRegistration), the bootstrap-token gate and whether Cloudflare is configured. A VM launched
     * for a capacity order that brings no token is refused here (as consumeBootstrapToken does), so a registration
     * without a token never schedules the order activity. Idempotent as its parts: the nonce is consumed by the
     * workflow id, the candidate agent id comes from the workflow.
     */
    async admitRegistration(input: {
      vmName: string;
      reportData: string | null;
      consumer: string;
      mrtd: string;
      nodeSize: string;
      datacenter: string;
      candidateAgentId: string;
      bootstrapTokenHash: string | null;
    }): Promise<RegistrationAdmission | Rejection> {
      const nonce = await checkRegistrationNonce(input);
      if (!nonce.ok) return nonce;
      const planned = await plan(input);
      if (!planned.ok) return planned;
      if (!input.bootstrapTokenHash) {
        const awaiting = await findOrderAwaitingVm(db, input.vmName);
        if (awaiting) {
          return {
            ok: false,
            status: 403,
            detail: `Bootstrap token required: ${input.vmName} was launched for capacity order ${awaiting.order_id}`,
          };
        }
      }
      const { configured } = await deps.cloudflare.cloudflareConfigured({});
      return { ...planned, orderBound: Boolean(input.bootstrapTokenHash), tunnel: configured };
    },

    /** Create-or-reuse the agent's tunnel + CNAME; the connector token leaves sealed so history never shows it. */
    async provisionAgentTunnel(input: { agentId: string; fresh?: boolean }): Promise<ProvisionedTunnel> {
      // As a regular activity it heartbeats from each Cloudflare call (activities/cloudflare-client.ts): a step lost
      // with a SIGKILLed worker is retried on another within the heartbeat timeout, not after its start-to-close
      // timeout (tests/e2e/replicas.test.ts). The retry is safe: tunnels are looked up by name before they are created.
      const t = await deps.cloudflare.ensureAgentTunnel({ agentId: input.agentId, fresh: input.fresh === true });
      return { tunnelId: t.tunnelId, hostname: t.hostname, tunnelToken: seal(sealingKey, t.tunnelToken) };
    },

    /**
     * Writes the agent (fresh row, or the fast path's contact bump) with consistent tunnel fields, and rotates the
     * control secret: HMAC-SHA-256 (core/auth/secrets.ts) for agent → CP auth plus a sealed copy for CP → agent calls. The secret is
     * minted here and leaves only sealed; a retried attempt mints another and the last completed attempt wins.
     */
    async persistAgentRegistration(
      input: AgentFields & {
        agentId: string;
        fastPath: boolean;
        signed: SignedMeasurements;
        tunnel: ProvisionedTunnel | null;
      },
    ): Promise<{ secret: SealedValue }> {
      const now = nowIso();
      const tunnelCols = input.tunnel
        ? {
            tunnel_id: input.tunnel.tunnelId,
            hostname: input.tunnel.hostname,
            tunnel_token: unseal(sealingKey, input.tunnel.tunnelToken),
            tunnel_error: null,
          }
        : {};
      if (input.fastPath) {
        const n = await db('agents')
          .where({ agent_id: input.agentId })
          .update({ last_heartbeat: now, last_contact_at: now, ...tunnelCols, ...keyColumns(input) });
        if (n === 0)
          throw ApplicationFailure.nonRetryable(`Agent ${input.agentId} vanished during registration`, 'AgentGone');
      } else {
        const row = freshRow(input.agentId, input, input.signed, now);
        const dev = isInsecureLocalEvidence(input.attestation);
        await replaceRow(db, input.vmName, {
          ...row,
          ...tunnelCols,
          // insecure-local evidence proves nothing: shown as unverified-dev, never verified.
          ...(dev
            ? { status: UNVERIFIED_DEV, verified: false, verification_error: UNVERIFIED_DEV }
            : { status: 'undeployed', verified: true }),
        });
      }
      const secret = randomToken(48);
      await upsertCredential(db, input.agentId, {
        hash: hashToken(sealingKey, secret),
        prefix: tokenPrefix(secret),
        sealed: seal(sealingKey, secret).sealed,
      });
      return { secret: seal(sealingKey, secret) };
    },
  };
}

export type RegistrationActivities = ReturnType<typeof createRegistrationActivities>;
