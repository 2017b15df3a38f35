/**
 * Attestation trust policy (spec/attestation.md §2, §4). Pure: no I/O, no env reads, no clock — callers pass
 * settings, env values and `nowMs` in, so workflows may import this file directly.
 */

import { normalizeMrtd, normalizeMrtdType, type MrtdType } from '../mrtd';
import { parseSet } from '../settings/parse';

export type { MrtdType };
export type EnforcementMode = 'strict' | 'warn' | 'disabled';
export type NonceMode = 'required' | 'optional' | 'disabled';

export interface Rtmrs {
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
}

export const RTMR_KEYS = ['rtmr0', 'rtmr1', 'rtmr2', 'rtmr3'] as const;

/** A rejection carries the HTTP status and the `{detail}` text the API returns. */
export interface PolicyRejection {
  ok: false;
  status: 400 | 403;
  detail: string;
}

export type PolicyResult = { ok: true; warning?: string } | PolicyRejection;

// ---------------------------------------------------------------------------------------------------------------
// Modes

/** tcb / rtmr enforcement: 'strict' | 'warn' | 'disabled' (trimmed, case-insensitive); anything else → 'warn'. */
export function normalizeEnforcementMode(value: unknown): EnforcementMode {
  const v = typeof value === 'string' ? value.trim().toLowerCase() : '';
  return v === 'strict' || v === 'disabled' ? v : 'warn';
}

export const normalizeTcbMode = normalizeEnforcementMode;
export const normalizeRtmrMode = normalizeEnforcementMode;

/** nonce enforcement: 'required' | 'optional' | 'disabled'; anything else → 'optional'. */
export function normalizeNonceMode(value: unknown): NonceMode {
  const v = typeof value === 'string' ? value.trim().toLowerCase() : '';
  return v === 'optional' || v === 'disabled' ? v : 'required';
}

// ---------------------------------------------------------------------------------------------------------------
// TCB (§4.2)

/** Parses `operational.allowed_tcb_statuses` (comma list, trimmed, case-sensitive, empties dropped). */
export function parseAllowedTcbStatuses(csv: string | null | undefined): Set<string> {
  return parseSet(csv ?? '');
}

/**
 * `status` is the signed token's `attester_tcb_status` (or 'Unknown'). disabled → pass; status in the allowed set →
 * pass; otherwise strict → 403, warn → pass with a warning.
 */
export function checkTcb(status: string, mode: EnforcementMode, allowed: Set<string>): PolicyResult {
  if (mode === 'disabled') return { ok: true };
  if (allowed.has(status)) return { ok: true };
  const detail = `TCB status '${status}' not in allowed list: ${[...allowed].join(', ')}`;
  if (mode === 'strict') return { ok: false, status: 403, detail };
  return { ok: true, warning: detail };
}

// ---------------------------------------------------------------------------------------------------------------
// Trusted MRTDs (§4.1)

export interface TrustedMrtdEnv {
  TRUSTED_AGENT_MRTDS?: string;
  TRUSTED_PROXY_MRTDS?: string;
  SYSTEM_AGENT_MRTD?: string;
  SYSTEM_PROXY_MRTD?: string;
}

/** Shape of a DB trust row (core/stores/trusted-mrtds `TrustedMrtd` fits). */
export interface TrustedMrtdSource {
  mrtd: string;
  type: string | null | undefined;
}

const commaList = (v: string | undefined): string[] => [...parseSet(v ?? '')].map(normalizeMrtd);

/** A DB row's type: trimmed + lower-cased, blank → 'agent'; null when not agent/proxy. */
export function trustRowType(type: string | null | undefined): MrtdType | null {
  return (type ?? '').trim() === '' ? 'agent' : normalizeMrtdType(type!);
}

/**
 * Merges env trust lists and DB rows into `mrtd(lower) → type`. Env values are trimmed + lower-cased, not
 * format-validated. DB rows are applied last and win on conflicts; a DB row whose type is neither agent nor proxy is
 * skipped (registration only accepts those two types).
 */
export function mergeTrustedMrtds(env: TrustedMrtdEnv, dbRows: readonly TrustedMrtdSource[]): Map<string, MrtdType> {
  const out = new Map<string, MrtdType>();
  for (const m of commaList(env.TRUSTED_AGENT_MRTDS)) out.set(m, 'agent');
  for (const m of commaList(env.TRUSTED_PROXY_MRTDS)) out.set(m, 'proxy');
  for (const m of commaList(env.SYSTEM_AGENT_MRTD)) out.set(m, 'agent');
  for (const m of commaList(env.SYSTEM_PROXY_MRTD)) out.set(m, 'proxy');
  for (const row of dbRows) {
    const m = normalizeMrtd(row.mrtd ?? '');
    const t = trustRowType(row.type);
    if (m === '' || t === null) continue;
    out.set(m, t);
  }
  return out;
}

export type MrtdTrustResult = { ok: true; mrtd: string; type: MrtdType } | PolicyRejection;

/** Looks up the (trimmed, lower-cased) MRTD; unknown → 403 `MRTD not in trusted list: <first 32 chars>...`. */
export function lookupMrtdTrust(
  mrtd: string | null | undefined,
  trusted: ReadonlyMap<string, MrtdType>,
): MrtdTrustResult {
  const probe = normalizeMrtd(mrtd ?? '');
  const type = probe === '' ? undefined : trusted.get(probe);
  if (type === undefined) {
    return { ok: false, status: 403, detail: `MRTD not in trusted list: ${(mrtd ?? '').slice(0, 32)}...` };
  }
  return { ok: true, mrtd: probe, type };
}

// ---------------------------------------------------------------------------------------------------------------
// RTMR baselines (§4.3)

export interface RtmrProfileSet {
  default: Rtmrs | null;
  bySize: Record<string, Rtmrs>;
}

export type RtmrProfiles = Record<MrtdType, RtmrProfileSet>;

export interface RtmrProfileEnv {
  TRUSTED_AGENT_RTMRS?: string;
  TRUSTED_PROXY_RTMRS?: string;
  TRUSTED_AGENT_RTMRS_BY_SIZE?: string;
  TRUSTED_PROXY_RTMRS_BY_SIZE?: string;
}

function profileFrom(value: unknown): Rtmrs | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const o = value as Record<string, unknown>;
  const out: Partial<Rtmrs> = {};
  for (const k of RTMR_KEYS) {
    const v = o[k];
    if (typeof v !== 'string') return null;
    out[k] = v.trim().toLowerCase();
  }
  return out as Rtmrs;
}

/**
 * Parses `TRUSTED_<TYPE>_RTMRS` (a JSON object with rtmr0..rtmr3) and `TRUSTED_<TYPE>_RTMRS_BY_SIZE`
 * (a JSON object node_size → profile). Invalid JSON or a profile missing a key is ignored with a warning.
 * Values are trimmed + lower-cased; size keys trimmed + lower-cased (node_size is normalized the same way).
 */
export function parseRtmrProfiles(env: RtmrProfileEnv): { profiles: RtmrProfiles; warnings: string[] } {
  const warnings: string[] = [];
  const profiles: RtmrProfiles = {
    agent: { default: null, bySize: {} },
    proxy: { default: null, bySize: {} },
  };
  for (const type of ['agent', 'proxy'] as const) {
    const base = `TRUSTED_${type.toUpperCase()}_RTMRS`;
    const raw = env[base as keyof RtmrProfileEnv];
    if (raw !== undefined && raw.trim() !== '') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        warnings.push(`${base} is not valid JSON; ignored`);
        parsed = undefined;
      }
      if (parsed !== undefined) {
        const p = profileFrom(parsed);
        if (p) profiles[type].default = p;
        else warnings.push(`${base} must be a JSON object with string keys rtmr0..rtmr3; ignored`);
      }
    }
    const bySizeName = `${base}_BY_SIZE`;
    const rawBySize = env[bySizeName as keyof RtmrProfileEnv];
    if (rawBySize !== undefined && rawBySize.trim() !== '') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(rawBySize);
      } catch {
        warnings.push(`${bySizeName} is not valid JSON; ignored`);
        continue;
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        warnings.push(`${bySizeName} must be a JSON object of node_size → RTMR profile; ignored`);
        continue;
      }
      for (const [size, value] of Object.entries(parsed as Record<string, unknown>)) {
        const key = size.trim().toLowerCase();
        const p = profileFrom(value);
        if (key === '' || !p) {
          warnings.push(`${bySizeName}[${JSON.stringify(size)}] must contain string keys rtmr0..rtmr3; ignored`);
          continue;
        }
        profiles[type].bySize[key] = p;
      }
    }
  }
  return { profiles, warnings };
}

/** Baseline for (type, node_size): BY_SIZE[node_size] if node_size non-empty and present, else the default, else null. */
export function lookupRtmrBaseline(
  profiles: RtmrProfiles,
  type: MrtdType,
  nodeSize: string | null | undefined,
): Rtmrs | null {
  const set = profiles[type];
  const ns = (nodeSize ?? '').trim().toLowerCase();
  if (ns !== '' && Object.prototype.hasOwnProperty.call(set.bySize, ns)) return set.bySize[ns]!;
  return set.default;
}

/**
 * RTMR policy (§4.3). `actual` must come from the SIGNED token claims (never the agent's self-report); null when the
 * token does not carry all four RTMRs. Values compare trimmed + lower-cased; an empty value on either side is not a
 * mismatch (as v1).
 */
export function checkRtmrs(
  baseline: Rtmrs | null,
  actual: Rtmrs | null,
  mode: EnforcementMode,
  nodeSize?: string | null,
): PolicyResult {
  if (mode === 'disabled') return { ok: true };
  if (!baseline) return { ok: true };
  if (!actual) {
    const detail = 'Agent attestation does not contain RTMRs but trusted RTMRs are configured';
    return mode === 'strict' ? { ok: false, status: 403, detail } : { ok: true, warning: detail };
  }
  const mismatches: string[] = [];
  for (const k of RTMR_KEYS) {
    const expected = (baseline[k] ?? '').trim();
    const got = (actual[k] ?? '').trim();
    if (expected !== '' && got !== '' && expected.toLowerCase() !== got.toLowerCase()) {
      mismatches.push(`${k.toUpperCase()}: expected ${expected.slice(0, 16)}..., got ${got.slice(0, 16)}...`);
    }
  }
  if (mismatches.length === 0) return { ok: true };
  const ns = (nodeSize ?? '').trim();
  const detail = `RTMR mismatch${ns !== '' ? ` node_size='${ns}'` : ''}: ${mismatches.join('; ')}`;
  return mode === 'strict' ? { ok: false, status: 403, detail } : { ok: true, warning: detail };
}

// ---------------------------------------------------------------------------------------------------------------
// Nonce (§2)

export const DEFAULT_NONCE_TTL_SECONDS = 300;

export interface NonceCheckInput {
  mode: NonceMode;
  /**
   * The nonce bound in the quote's REPORTDATA as read from the verified token (see `nonceFromReportData`), or null
   * when nothing is bound. Never a value the agent merely claims.
   */
  presented: string | null;
  /** The outstanding challenge for this vm_name, or null when none was issued. */
  expected: { nonce: string; issuedAtMs: number } | null;
  nowMs: number;
  ttlSeconds: number;
  /** Used in messages only. */
  vmName?: string;
}

export type NonceCheckResult =
  { ok: true; consume: boolean; warning?: string } | { ok: false; consume: boolean; status: 400 | 403; detail: string };

/**
 * §2 verify table + registration rule. `consume` tells the caller to delete the stored challenge (one-time use on a
 * match; always on expiry); a mismatch keeps it. Rejections: 400 when required and nothing is bound, 403
 * `Nonce verification failed: <reason>` otherwise.
 */
export function checkNonce(input: NonceCheckInput): NonceCheckResult {
  const { mode, expected, nowMs } = input;
  const vm = input.vmName ?? '';
  const ttl = Number.isFinite(input.ttlSeconds) ? input.ttlSeconds : DEFAULT_NONCE_TTL_SECONDS;
  if (mode === 'disabled') return { ok: true, consume: false };

  const presented = (input.presented ?? '').trim();
  if (presented === '') {
    if (mode === 'required') {
      return {
        ok: false,
        consume: false,
        status: 400,
        detail: 'Nonce required. Call GET /api/v1/agents/challenge first',
      };
    }
    return { ok: true, consume: false, warning: `No nonce bound in attestation for ${vm}` };
  }

  const reject = (consume: boolean, reason: string): NonceCheckResult =>
    mode === 'required'
      ? { ok: false, consume, status: 403, detail: `Nonce verification failed: ${reason}` }
      : { ok: true, consume, warning: reason };

  if (!expected) return reject(false, `No nonce challenge found for ${vm}`);
  if (nowMs - expected.issuedAtMs > ttl * 1000) return reject(true, `Nonce expired for ${vm}`);
  if (presented.toLowerCase() !== expected.nonce.trim().toLowerCase()) return reject(false, `Nonce mismatch for ${vm}`);
  return { ok: true, consume: true };
}
