import type { Knex } from 'knex';
import type { Logger } from '../core/logger';
import type { SettingsReader } from '../core/settings/types';
import { createAdminDbActivities } from './admin-db';
import { createAgentActivities } from './agent';
import { createAgentLifecycleActivities } from './agent-lifecycle';
import { createHealthSweepActivities } from './health-sweep';
import { createAttestationVerifier, type TrustEnv } from './attestation';
import { createBillingActivities } from './billing';
import { createCapacityActivities } from './capacity';
import { createCloudAdminActivities } from './cloud-admin';
import { createGcpActivities } from './gcp';
import { createProvisionerActivities } from './provisioner';
import { createStripeActivities } from './stripe';
import { createCloudflareActivities } from './cloudflare';
import { createDeploymentsDbActivities } from './deployments-db';
import { createFailoverDbActivities } from './failover-db';
import { createMeasurementActivities } from './measurement';
import { createServicesDbActivities } from './services-db';
import { createRegistrationActivities } from './registration';
import type { KeyRing } from '../core/auth/keyring';
import type { Metrics } from '../core/metrics';

/** Clients every activity factory may draw from; the worker wires real ones, tests fakes. */
export interface ActivityDeps {
  db: Knex;
  settings: SettingsReader;
  logger: Logger;
  /** Key that unseals secret values sent through workflow inputs. */
  sealingKey: KeyRing;
  /** Outbound HTTP (Cloudflare, agents, GitHub…); default global fetch. */
  fetch?: typeof globalThis.fetch;
  /** Called after settings/trust changes so this process's caches refresh at once. */
  onChange?: () => void;
  /** Env trust baselines (TRUSTED_*_MRTDS, TRUSTED_*_RTMRS[_BY_SIZE]); the DB trust list is read per check. */
  trustEnv?: TrustEnv;
  /** configfs-tsm report directory for this control plane's own quotes (X-CP-Attestation); default the kernel's. */
  tsmRoot?: string;
  /** This process's Prometheus metrics (core/metrics.ts); absent → nothing is recorded. */
  metrics?: Metrics;
}

/** All activities the worker registers, wired over injected clients. */
export function createActivities(deps: ActivityDeps) {
  const cloudflare = createCloudflareActivities({ settings: deps.settings, fetch: deps.fetch });
  const verifier = createAttestationVerifier(deps);
  const gcp = createGcpActivities(deps);
  const provisioner = createProvisionerActivities(deps);
  return {
    ...createAdminDbActivities(deps),
    ...createBillingActivities(deps),
    ...createStripeActivities(deps),
    ...createCloudflareActivities({ settings: deps.settings, fetch: deps.fetch }),
    ...createDeploymentsDbActivities(deps),
    ...createFailoverDbActivities(deps),
    ...createMeasurementActivities(deps),
    ...createServicesDbActivities(deps),
    ...createAgentActivities({
      db: deps.db,
      settings: deps.settings,
      sealingKey: deps.sealingKey,
      fetch: deps.fetch,
      tsmRoot: deps.tsmRoot,
    }),
    ...createRegistrationActivities({ ...deps, verifier, cloudflare }),
    ...createAgentLifecycleActivities({ ...deps, verifier }),
    ...createHealthSweepActivities(deps),
    ...createCapacityActivities(deps),
    ...gcp,
    ...provisioner,
    ...createCloudAdminActivities({ db: deps.db, settings: deps.settings, cloudflare, gcp, provisioner }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
