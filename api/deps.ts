import type { Knex } from 'knex';
import type { VerifiedTokenCache } from '../core/auth/token-cache';
import type { RuntimeConfig } from '../core/config';
import type { Logger } from '../core/logger';
import type { SettingsService } from '../core/settings/service';
import type { WorkflowGateway } from './temporal';
import type { KeyRing } from '../core/auth/keyring';
import type { Metrics } from '../core/metrics';
import type { Tracing } from '../core/tracing';

/** Everything a request handler may touch; built by bin/ (or a test) and passed to createApp. */
export interface AppDeps {
  db: Knex;
  settings: SettingsService;
  workflows: WorkflowGateway;
  logger: Logger;
  config: RuntimeConfig;
  /** argon2id hash of the admin password, or null when password login is not configured. */
  adminPasswordHash: string | null;
  /** Recently verified credentials (sessions, API keys, agent secrets), so argon2 is not paid per request. */
  credentialCache: VerifiedTokenCache;
  /** The install's sealing keys (core/auth/keyring.ts): field sealing (core/auth/seal.ts) and the Temporal payload codec. */
  sealingKey: KeyRing;
  /** Latest control-plane attestation for /health, or null when the CP cannot mint quotes. */
  cpAttestation: () => Promise<{ quote_b64: string; mrtd: string; generated_at: string } | null>;
  now: () => Date;
  /** Prometheus metrics of this process (GET /metrics, request latency); absent → none. */
  metrics?: Metrics;
  /** OpenTelemetry tracing (OTEL_EXPORTER_OTLP_ENDPOINT); absent → no spans. */
  tracing?: Tracing;
}
