// Every workflow the worker registers, re-exported by name (no `export *`).
export { changeSetting } from './change-setting';
export { changeTrustedMrtd } from './change-trusted-mrtd';
export { sessionCleanup } from './session-cleanup';
export { billingHourly } from './billing-hourly';
export { billingRun } from './billing-run';
export { terminateUnfunded } from './terminate-unfunded';
export { deployment } from './deploy';
export { undeployAgent } from './undeploy';
export { registerAgent } from './register-agent';
export { agentEntity } from './agent-entity';
export { agentHealthSweep } from './agent-health-sweep';
export { agentStaleCleanup } from './agent-stale-cleanup';
export { deleteAgent } from './delete-agent';
export { resetAgent } from './reset-agent';
export { createPaymentIntent } from './payment-intent';
export { measureVersion } from './measure-version';
export { attestVersion } from './attest-version';
