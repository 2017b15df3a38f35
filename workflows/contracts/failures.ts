/**
 * The closed vocabulary of permanent failures (ApplicationFailure `type`) that workflows and the API branch on —
 * never on message text. Activities throw `ApplicationFailure.nonRetryable(message, <type>)`; transient failures
 * throw plain errors and let the retry policy work. The API maps these types to HTTP statuses in one place
 * (api/failures.ts; capacity's in api/capacity-gateway.ts). Every list lives here, with the type lookup.
 */
import { ApplicationFailure, TemporalFailure } from '@temporalio/workflow';

/**
 * A closed set of failure types whose names are their values, each declared with what it means:
 * `failureTypes({ A: 'what A means' })` is `{ A: 'A' }`.
 */
function failureTypes<const T extends Record<string, string>>(meanings: T): { readonly [K in keyof T & string]: K } {
  return Object.freeze(Object.fromEntries(Object.keys(meanings).map((name) => [name, name]))) as {
    readonly [K in keyof T & string]: K;
  };
}

/** Steps of the deployment workflow's own activities. */
export const DeploymentFailure = failureTypes({
  DeploymentNotFound: 'The deployment row is gone (an activity was given an id with no row).',
  ComposeNotStaged:
    'The compose the deploy request staged is missing (compose_blobs row deleted before the workflow ran).',
});

/** Failure types thrown by the agent HTTP activities (activities/agent.ts). */
export const AgentFailure = {
  /** The agent answered 4xx (bad/missing secret, CP attestation refused, bad payload) or another unexpected status. */
  Rejected: 'AgentRejected',
  /** The agent (or the tunnel in front of it) answered 404 for an agent API route. */
  NotFound: 'AgentNotFound',
  /** No hostname and no `operational.agent_direct_url`, or an unusable one. */
  NoAddress: 'AgentNoAddress',
  /** Unreachable, timeout, 5xx, 429, or a garbled 2xx. Retryable; surfaces with this type after the last attempt. */
  Unavailable: 'AgentUnavailable',
  /** `agentDeploy` was given a deployment id with no row. */
  DeploymentNotFound: 'DeploymentNotFound',
  /** The deployment row is placed on another agent than the one the caller wants to push it to. */
  DeploymentAgentMismatch: 'DeploymentAgentMismatch',
  /** The deployment row cannot be sent (empty compose). */
  InvalidDeployment: 'InvalidDeployment',
  /** `api_secret_sealed` does not open with this install's sealing key. */
  SecretUnreadable: 'AgentSecretUnreadable',
  /** `cp_to_agent_attestation_mode=required` but this control plane cannot mint a TDX quote. */
  CpAttestationUnavailable: 'CpAttestationUnavailable',
  /** Missing agent id / deployment id in the activity input. */
  InvalidInput: 'AgentInvalidInput',
} as const;
export type AgentFailureType = (typeof AgentFailure)[keyof typeof AgentFailure];

/** The closed set of capacity failures (ApplicationFailure `type`), mapped to HTTP in api/capacity-gateway.ts. */
export const CapacityFailure = failureTypes({
  OrderUnavailable: 'The order is not in a state that takes this call (claimed by someone else, closed, not open).',
  OrderNotFound:
    "Not this caller's order (claimed by another launcher, or not fulfilled by launchers): answered as a 404.",
  BootstrapTokenRejected: 'A bootstrap token that does not match the order, was used, or whose lease lapsed.',
  GcpInsertFailed: 'GCP refused the instance for every machine type (permanent for this claim).',
  GcpNotConfigured: 'GCP provisioning is not configured (no project, zone or credentials).',
  ProvisionerRejected:
    'The external provisioner refused the order (4xx: bad token or signature, not configured, refused).',
  InsufficientFunds: 'The account cannot pay for the capacity purchase.',
  AccountNotFound: 'The paying account does not exist.',
});
export type CapacityFailureType = (typeof CapacityFailure)[keyof typeof CapacityFailure];

/** Failure types of the measurement activities; the workflow branches on these, never on message text. */
export const MeasurementFailureType = failureTypes({
  VersionNotFound: 'The version row is gone or not pending.',
  InvalidCompose: 'The stored compose does not parse (cannot happen through the API, which checks first).',
  ImageNotFound: 'The registry has no such repository/tag (404).',
  RegistryUnauthorized: 'The registry refused anonymous access (401/403 after the token handshake).',
  RegistryInvalid:
    'The registry answered something that is not a usable manifest (bad digest, no linux/amd64, not JSON…).',
  RegistryUnavailable: '5xx / timeouts / unreachable: retried with backoff; this type when the attempts ran out.',
  CosignMissing: 'The cosign binary is not installed.',
});
export type MeasurementFailureType = (typeof MeasurementFailureType)[keyof typeof MeasurementFailureType];

/**
 * Why a trust verdict refused (TrustVerdict.code, activities/attestation.ts): the callers branch on this, not on the
 * detail text (an ITA outage must not read as an untrusted MRTD).
 */
export const TrustFailure = {
  /** The ITA token did not verify (signature, issuer, audience, expiry). */
  ItaRejected: 'ita_rejected',
  /** The ITA token could not be checked (JWKS unreachable, malformed token). */
  ItaError: 'ita_error',
  /** Signed, but without an MRTD claim. */
  NoMrtd: 'no_mrtd',
  /** TCB status refused by operational.tcb_enforcement_mode. */
  Tcb: 'tcb',
  /** The MRTD is not on the trust list. */
  MrtdUntrusted: 'mrtd_untrusted',
  /** RTMRs differ from the baseline (strict mode). */
  Rtmr: 'rtmr',
  /** Development evidence refused (insecure local agents not allowed, or malformed). */
  InsecureLocal: 'insecure_local',
  /** The registered HPKE key's SHA-256 is not REPORTDATA bytes 32..64 of the signed quote (issue #17). */
  KeyBinding: 'key_binding',
} as const;
export type TrustFailureCode = (typeof TrustFailure)[keyof typeof TrustFailure];

/**
 * The ApplicationFailure that decided a failure: the error itself, or the cause an activity, child workflow or
 * client wrapper (WorkflowFailedError, WorkflowUpdateFailedError) carries. Follows `cause` links only through
 * Temporal's wrappers, so an unrelated error's cause is never read.
 */
export function applicationFailureOf(err: unknown): ApplicationFailure | undefined {
  let e: unknown = err;
  while (e) {
    if (e instanceof ApplicationFailure) return e;
    // ActivityFailure, ChildWorkflowFailure, … are TemporalFailures; the client's wrappers are known by class name.
    const wrapper =
      e instanceof TemporalFailure ||
      (e instanceof Error && (e.name === 'WorkflowFailedError' || e.name === 'WorkflowUpdateFailedError'));
    if (!wrapper) return undefined;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The failure type, if the error is (or wraps) a typed ApplicationFailure. */
export const failureTypeOf = (err: unknown): string | undefined => applicationFailureOf(err)?.type ?? undefined;

/** The human message of the deciding failure (for `{detail}` and logs), else the error's own message. */
export function failureMessageOf(err: unknown): string {
  const app = applicationFailureOf(err);
  if (app) return app.message;
  return err instanceof Error ? err.message : String(err);
}
