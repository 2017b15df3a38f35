/**
 * Placement evaluation shared by deploy and dry-run/preflight (api.md §4.3), pure: the caller loads agents,
 * enabled capacity targets and the balance, this file decides. Issue codes, messages and the order of checks are
 * v1's, with the v2 changes marked:
 * - owner scope (new): an OIDC caller only sees agents whose github_owner is its repository_owner; an API-key
 *   caller sees agents owned by its linked GitHub login/org plus unowned agents (`AGENT_OWNER_MISMATCH`);
 * - automatic placement never replaces a running workload (v1 quirk fixed): a `deployed` agent is a candidate only
 *   when it runs a measuring enclave and the caller allowed that fallback (`AGENT_OCCUPIED` otherwise);
 * - an explicit agent_id may target a free agent the caller may use, or an upgrade of the same app — and an
 *   upgrade only of the caller's own running deployment (same account, or the same verified OIDC owner);
 * - there is no app catalog version check on `POST /api/v1/deploy` (the compose comes with the request);
 * - `unverified-dev` agents (insecure-local attestation, `ee-agent --local`) prove nothing, so a workload never lands
 *   on one (`AGENT_UNVERIFIED_DEV`) unless `operational.allow_insecure_local_agents` is true — the same switch that
 *   let them register, on a developer's own control plane — and even then verified agents are preferred.
 */
import { ALLOW_INSECURE_LOCAL_SETTING, UNVERIFIED_DEV } from './attestation/insecure-local';

export const NODE_SIZES = ['tiny', 'standard', 'llm'] as const;

const CLOUD_ALIASES: Readonly<Record<string, string>> = {
  google: 'gcp',
  az: 'azure',
  'bare-metal': 'baremetal',
  onprem: 'baremetal',
  'on-prem': 'baremetal',
  'self-hosted': 'baremetal',
};

export function normalizeCloud(value: string): string {
  const v = value.trim().toLowerCase();
  return CLOUD_ALIASES[v] ?? v;
}

export function normalizeDatacenter(value: string): string {
  return value.trim().toLowerCase();
}

/** Cloud part of `<cloud>:<zone>`, alias-normalized; '' when the agent has no datacenter. */
export function cloudOf(datacenter: string | null | undefined): string {
  const dc = normalizeDatacenter(datacenter ?? '');
  if (!dc) return '';
  return normalizeCloud(dc.split(':')[0] ?? '');
}

export interface PlacementRequest {
  appName: string | null;
  agentId?: string | null;
  /** '' = any */
  nodeSize: string;
  allowedDatacenters: string[];
  deniedDatacenters: string[];
  allowedClouds: string[];
  deniedClouds: string[];
  allowMeasuringEnclaveFallback: boolean;
}

/** Who may use which agents: `identities` compared case-insensitively with agent.github_owner. */
export interface OwnerScope {
  identities: string[];
  /** Whether agents without an owner are usable (API keys: yes; OIDC: no). */
  allowUnowned: boolean;
  /** For messages, e.g. "repository_owner 'octo-org'". */
  label: string;
}

export interface PlacementAgent {
  agent_id: string;
  status: string;
  node_size: string;
  datacenter: string;
  verified: boolean;
  verification_error: string | null;
  hostname: string | null;
  health_status: string;
  deployed_app: string | null;
  github_owner: string | null;
  /** Who the agent's current deployment belongs to (for upgrades); null when it holds none or it is unknown. */
  current_deployment?: DeploymentOwner | null;
}

/** The parties a deployment belongs to: its paying account and, for an OIDC deploy, the repository owner. */
export interface DeploymentOwner {
  account_id: string | null;
  github_owner: string | null;
}

export interface PlacementTarget {
  datacenter: string;
  node_size: string;
}

export interface PlacementIssue {
  code: string;
  message: string;
  agent_id: string | null;
  node_size: string | null;
  datacenter: string | null;
}

export interface PlacementCandidate {
  agentId: string;
  /** Status the reservation's conditional UPDATE expects. */
  expectedStatus: string;
  /** For a deployed agent (upgrade / measurer fallback): the app it must still run. */
  expectedApp?: string | null;
}

export interface PlacementResult {
  eligible: boolean;
  selected: PlacementAgent | null;
  /** Selected first, then the other eligible agents in preference order (fallbacks for a lost race). */
  candidates: PlacementCandidate[];
  issues: PlacementIssue[];
  /** Why the selected agent was chosen, or why none was. */
  reason: string;
  error?: { status: number; code: string; detail: string };
}

export interface PlacementInput {
  request: PlacementRequest;
  owner: OwnerScope;
  /** In storage (registration) order. */
  agents: PlacementAgent[];
  enabledTargets: PlacementTarget[];
  funds?: { balanceMicros: number; hourlyCostMicros: number };
  /** The caller as a deployment owner (account of the key or linked to the OIDC owner; the OIDC owner). */
  caller: DeploymentOwner;
  /** `operational.allow_insecure_local_agents`: unverified-dev agents are eligible (development). Default false. */
  allowInsecureLocalAgents?: boolean;
}

/**
 * Registered with insecure-local evidence: status `unverified-dev` until its first deploy, the verification label
 * for good (a TDX re-registration sets verified and clears it).
 */
export function isUnverifiedDev(a: Pick<PlacementAgent, 'status' | 'verification_error' | 'verified'>): boolean {
  return !a.verified && (a.status === UNVERIFIED_DEV || a.verification_error === UNVERIFIED_DEV);
}

const UNVERIFIED_DEV_REFUSED = `Agent is unverified-dev (insecure-local attestation, no TDX); it takes deployments only when ${ALLOW_INSECURE_LOCAL_SETTING} is true`;

/** True when `caller` is a party of the deployment `d` (same account, or same verified OIDC owner). */
export function ownsDeployment(caller: DeploymentOwner, d: DeploymentOwner | null | undefined): boolean {
  if (!d) return false;
  if (caller.account_id && d.account_id && caller.account_id === d.account_id) return true;
  return !!caller.github_owner && !!d.github_owner && lc(caller.github_owner) === lc(d.github_owner);
}

const usd2 = (micros: number) => (micros / 1_000_000).toFixed(2);
const lc = (s: string | null | undefined) => (s ?? '').trim().toLowerCase();

function ownedBy(scope: OwnerScope, owner: string | null): boolean {
  if (!owner || owner.trim() === '') return scope.allowUnowned;
  const o = lc(owner);
  return scope.identities.some((id) => lc(id) === o);
}

export function evaluatePlacement(input: PlacementInput): PlacementResult {
  const { request: r, owner } = input;
  const issues: PlacementIssue[] = [];
  const issue = (code: string, message: string, agent?: PlacementAgent) => {
    issues.push({
      code,
      message,
      agent_id: agent?.agent_id ?? null,
      node_size: agent?.node_size ? agent.node_size : null,
      datacenter: agent?.datacenter ? agent.datacenter : null,
    });
  };
  const fail = (
    status: number,
    code: string,
    detail: string,
    agent?: PlacementAgent | null,
    selected?: PlacementAgent | null,
  ) => {
    issue(code, detail, agent ?? undefined);
    return {
      eligible: false,
      selected: selected ?? null,
      candidates: [],
      issues,
      reason: detail,
      error: { status, code, detail },
    } satisfies PlacementResult;
  };

  const allowedDc = new Set(r.allowedDatacenters.map(normalizeDatacenter).filter(Boolean));
  const deniedDc = new Set(r.deniedDatacenters.map(normalizeDatacenter).filter(Boolean));
  const allowedCloud = new Set(r.allowedClouds.map(normalizeCloud).filter(Boolean));
  const deniedCloud = new Set(r.deniedClouds.map(normalizeCloud).filter(Boolean));
  const nodeSize = lc(r.nodeSize);

  if ([...allowedDc].some((d) => deniedDc.has(d))) {
    return fail(
      400,
      'DATACENTER_POLICY_CONFLICT',
      'Datacenter policy conflict: same datacenter appears in both allowed and denied lists',
    );
  }
  if ([...allowedCloud].some((c) => deniedCloud.has(c))) {
    return fail(
      400,
      'CLOUD_POLICY_CONFLICT',
      'Cloud policy conflict: same cloud appears in both allowed and denied lists',
    );
  }

  /** First failing datacenter/cloud filter for an agent, or null. */
  const locationIssue = (a: PlacementAgent): [string, string] | null => {
    const dc = normalizeDatacenter(a.datacenter);
    const cloud = cloudOf(a.datacenter);
    if (allowedDc.size > 0 && !allowedDc.has(dc)) {
      return ['AGENT_DATACENTER_NOT_ALLOWED', `Agent datacenter '${dc || 'unknown'}' is not in allowed_datacenters`];
    }
    if (deniedDc.has(dc)) return ['AGENT_DATACENTER_DENIED', `Agent datacenter '${dc}' is denied by deployment policy`];
    if (allowedCloud.size > 0 && !allowedCloud.has(cloud)) {
      return ['AGENT_CLOUD_NOT_ALLOWED', `Agent cloud '${cloud || 'unknown'}' is not in allowed_clouds`];
    }
    if (deniedCloud.has(cloud)) return ['AGENT_CLOUD_DENIED', `Agent cloud '${cloud}' is denied by deployment policy`];
    return null;
  };

  const warmPolicyInScope = input.enabledTargets.some((t) => {
    const dc = normalizeDatacenter(t.datacenter);
    if (!dc) return false;
    const probe = { datacenter: dc } as PlacementAgent;
    if (locationIssue(probe)) return false;
    return !(nodeSize && lc(t.node_size) && nodeSize !== lc(t.node_size));
  });

  if (input.funds && input.funds.balanceMicros < input.funds.hourlyCostMicros) {
    return fail(
      402,
      'INSUFFICIENT_FUNDS',
      `Insufficient funds: balance $${usd2(input.funds.balanceMicros)} < hourly cost $${usd2(input.funds.hourlyCostMicros)}`,
    );
  }

  const isMeasurer = (a: PlacementAgent) => (a.deployed_app ?? '').startsWith('measuring-enclave');

  // ---- explicit agent --------------------------------------------------------------------------
  if (r.agentId) {
    const a = input.agents.find((x) => x.agent_id === r.agentId);
    if (!a) return fail(404, 'AGENT_NOT_FOUND', 'Agent not found');
    if (!ownedBy(owner, a.github_owner)) return fail(403, 'AGENT_NOT_OWNED', 'Not authorized for this agent', a);
    const loc = locationIssue(a);
    if (loc) return fail(400, loc[0], loc[1], a);
    const dev = isUnverifiedDev(a);
    if (dev && !input.allowInsecureLocalAgents) return fail(403, 'AGENT_UNVERIFIED_DEV', UNVERIFIED_DEV_REFUSED, a, a);
    let candidate: PlacementCandidate;
    if (a.status === 'undeployed' || (dev && a.status === UNVERIFIED_DEV)) {
      candidate = { agentId: a.agent_id, expectedStatus: a.status };
    } else if (a.status === 'deployed' && r.appName && a.deployed_app === r.appName) {
      // An upgrade replaces a running workload: only its own deployer may do that (a same-named app of a stranger
      // on an agent the caller may use is still the stranger's workload).
      if (!ownsDeployment(input.caller, a.current_deployment)) {
        return fail(
          403,
          'DEPLOYMENT_NOT_OWNED',
          `Agent ${a.agent_id} runs '${a.deployed_app}' for another deployer; only its own deployer may upgrade it`,
          a,
        );
      }
      candidate = { agentId: a.agent_id, expectedStatus: 'deployed', expectedApp: a.deployed_app };
    } else {
      return fail(
        400,
        'EXPLICIT_AGENT_NOT_ALLOWED',
        'Explicit agent assignment is only allowed for a free agent or an upgrade of the app currently running on that agent',
        a,
      );
    }
    if (nodeSize && nodeSize !== lc(a.node_size)) {
      return fail(
        400,
        'REQUEST_NODE_SIZE_MISMATCH',
        `Requested node_size '${nodeSize}' does not match agent node_size '${a.node_size}'`,
        a,
        a,
      );
    }
    if (!a.verified && !dev) {
      return fail(
        403,
        'AGENT_NOT_VERIFIED',
        `Agent not verified: ${a.verification_error || 'attestation not completed'}`,
        a,
        a,
      );
    }
    // A local agent has no tunnel when the CP has no Cloudflare account: it is reached through AGENT_DIRECT_URL.
    if (!a.hostname && !dev) {
      return fail(400, 'AGENT_NO_HOSTNAME', 'Agent does not have a tunnel hostname - cannot push deployment', a, a);
    }
    return {
      eligible: true,
      selected: a,
      candidates: [candidate],
      issues,
      reason: `agent ${a.agent_id} was requested explicitly (${candidate.expectedStatus === 'deployed' ? 'upgrade of the running app' : 'free agent'})`,
    };
  }

  // ---- automatic placement ---------------------------------------------------------------------
  let verifiedPolicyAgents = 0;
  const eligible: { agent: PlacementAgent; candidate: PlacementCandidate }[] = [];
  for (const a of input.agents) {
    if (!ownedBy(owner, a.github_owner)) {
      issue('AGENT_OWNER_MISMATCH', `Agent owner '${a.github_owner ?? 'none'}' does not match ${owner.label}`, a);
      continue;
    }
    const dev = isUnverifiedDev(a);
    if (dev && !input.allowInsecureLocalAgents) {
      issue('AGENT_UNVERIFIED_DEV', UNVERIFIED_DEV_REFUSED, a);
      continue;
    }
    let candidate: PlacementCandidate;
    if (a.status === 'undeployed' || (dev && a.status === UNVERIFIED_DEV)) {
      candidate = { agentId: a.agent_id, expectedStatus: a.status };
    } else if (a.status === 'deployed') {
      if (!isMeasurer(a)) {
        issue(
          'AGENT_OCCUPIED',
          `Agent is running '${a.deployed_app ?? 'a workload'}'; automatic placement never replaces it`,
          a,
        );
        continue;
      }
      if (!r.allowMeasuringEnclaveFallback) {
        issue(
          'MEASURER_FALLBACK_DISABLED',
          'Agent runs a measuring enclave and allow_measuring_enclave_fallback is false',
          a,
        );
        continue;
      }
      candidate = { agentId: a.agent_id, expectedStatus: 'deployed', expectedApp: a.deployed_app };
    } else {
      issue('AGENT_STATUS_NOT_DEPLOYABLE', `Agent status '${a.status}' is not deployable`, a);
      continue;
    }
    if (nodeSize && nodeSize !== lc(a.node_size)) {
      issue(
        'AGENT_NODE_SIZE_MISMATCH',
        `Agent node_size '${a.node_size || 'unknown'}' does not match requested '${nodeSize}'`,
        a,
      );
      continue;
    }
    const loc = locationIssue(a);
    if (loc) {
      issue(loc[0], loc[1], a);
      continue;
    }
    if (!a.verified && !dev) {
      issue('AGENT_NOT_VERIFIED', 'Agent is not verified', a);
      continue;
    }
    if (!dev) verifiedPolicyAgents += 1;
    if (!a.hostname && !dev) {
      issue('AGENT_NO_HOSTNAME', 'Agent has no hostname', a);
      continue;
    }
    if (a.health_status !== 'healthy') {
      issue('AGENT_UNHEALTHY', 'Agent is not healthy', a);
      continue;
    }
    eligible.push({ agent: a, candidate });
  }
  // Stable: free agents first, measuring-enclave fallbacks after them; registration order otherwise.
  // Verified agents always before unverified-dev ones (allowed in development only).
  const rank = (a: PlacementAgent) => (isUnverifiedDev(a) ? 2 : 0) + (a.status === 'deployed' ? 1 : 0);
  eligible.sort((x, y) => rank(x.agent) - rank(y.agent));

  if (eligible.length === 0) {
    if (warmPolicyInScope && verifiedPolicyAgents === 0) {
      return fail(
        503,
        'NO_VERIFIED_CAPACITY',
        'No verified capacity available for deployment policy. No verified agents match the requested cloud/datacenter/size.',
      );
    }
    const last = issues[issues.length - 1];
    return fail(
      503,
      'NO_ELIGIBLE_AGENTS',
      `No eligible agents available for deployment${last ? `. Last reason: ${last.message}` : ''}`,
    );
  }
  const chosen = eligible[0]!.agent;
  const others = eligible.length - 1;
  return {
    eligible: true,
    selected: chosen,
    candidates: eligible.slice(0, 10).map((e) => e.candidate),
    issues,
    reason:
      `agent ${chosen.agent_id} (${chosen.datacenter || 'no datacenter'}, ${chosen.node_size || 'any size'}) is the first of ` +
      `${eligible.length} eligible agent${eligible.length === 1 ? '' : 's'} usable by ${owner.label}` +
      `${chosen.status !== 'deployed' ? ' (free agents first, then registration order)' : ' (measuring-enclave fallback)'}` +
      `${others > 0 ? `; ${others} other${others === 1 ? '' : 's'} kept as fallbacks` : ''}` +
      `${issues.length > 0 ? `; ${issues.length} agent${issues.length === 1 ? '' : 's'} skipped (see issues)` : ''}`,
  };
}
