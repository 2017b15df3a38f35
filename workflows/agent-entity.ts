import {
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { Mutex } from 'async-mutex';
import type { AgentLifecycleActivities } from '../activities/agent-lifecycle';
import {
  agentDeletedSignal,
  deployedUpdate,
  heartbeatUpdate,
  statusUpdate,
  type AgentEntityInput,
  type DeployedInput,
  type HeartbeatInput,
  type StatusInput,
} from './contracts/agents';
import { LIFECYCLE_DB_STEP } from './lib/activity-options';

const db = proxyActivities<AgentLifecycleActivities>(LIFECYCLE_DB_STEP);

const DEFAULT_CONTINUE_AFTER = 200;
/** Handlers take the mutex (one activity at a time); runs before it may have overlapping activities in history. */
const SERIAL_PATCH = 'agent-entity-serial-v1';

const isString = (v: unknown): v is string => typeof v === 'string';
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const check = (ok: boolean, what: string) => {
  // A validator's throw rejects the update before it is written to history (the caller gets the error).
  if (!ok) throw new TypeError(`invalid ${what}`);
};
function validateHeartbeat(hb: HeartbeatInput): void {
  check(isObject(hb), 'heartbeat');
  check(isString(hb.vmName) && hb.vmName !== '', 'heartbeat.vmName');
  check(isObject(hb.attestation), 'heartbeat.attestation');
  check(hb.status === null || isString(hb.status), 'heartbeat.status');
  check(hb.deploymentId === null || isString(hb.deploymentId), 'heartbeat.deploymentId');
}
function validateStatus(s: StatusInput): void {
  check(isObject(s), 'status');
  check(isString(s.status) && s.status !== '', 'status.status');
  check(isString(s.deploymentId), 'status.deploymentId');
  check(s.error === null || isString(s.error), 'status.error');
}
function validateDeployed(d: DeployedInput): void {
  check(isObject(d), 'deployed');
  check(isString(d.deploymentId) && d.deploymentId !== '', 'deployed.deploymentId');
  check(isString(d.serviceId), 'deployed.serviceId');
  check(isObject(d.attestation), 'deployed.attestation');
}

/**
 * `agent:<agent_id>`: one long-lived workflow per agent through which every agent-control call passes, so the
 * calls of one agent are recorded in one place (Web UI) and applied by activities one at a time, in arrival order:
 * each handler awaits an activity, so without the mutex a heartbeat and a status report would run their activities
 * concurrently and the last writer would win (samples-typescript `message-passing/safe-message-handlers/`).
 * Updates, because the agent's HTTP request needs the answer; validators refuse malformed input before it enters
 * history. The history is bounded by continue-as-new after `continueAfter`
 * updates or when the server suggests it, always after in-flight handlers finish.
 */
export async function agentEntity(input: AgentEntityInput): Promise<{ agentId: string; handled: number }> {
  const { agentId } = input;
  const limit = input.continueAfter ?? DEFAULT_CONTINUE_AFTER;
  let handled = input.handled ?? 0;
  let inRun = 0;
  let deleted = false;
  const serial = patched(SERIAL_PATCH);
  const lock = new Mutex();
  const count = <T>(apply: () => Promise<T>) => {
    handled++;
    inRun++;
    return serial ? lock.runExclusive(apply) : apply();
  };

  setHandler(heartbeatUpdate, (hb) => count(() => db.applyHeartbeat({ ...hb, agentId })), {
    validator: validateHeartbeat,
  });
  setHandler(statusUpdate, (s) => count(() => db.applyAgentStatus({ ...s, agentId })), { validator: validateStatus });
  setHandler(deployedUpdate, (d) => count(() => db.applyAgentDeployed({ ...d, agentId })), {
    validator: validateDeployed,
  });
  setHandler(agentDeletedSignal, () => {
    deleted = true;
  });

  await condition(() => deleted || inRun >= limit || workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  if (deleted) return { agentId, handled };
  return continueAsNew<typeof agentEntity>({ agentId, handled, continueAfter: input.continueAfter });
}
