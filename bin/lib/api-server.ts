/** Builds the API's deps from a runtime and listens; returns a closer. */
import type { Client } from '@temporalio/client';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequestListener } from '../../api/app';
import type { AppDeps } from '../../api/deps';
import { createWorkflowGateway } from '../../api/temporal';
import { cachedCpAttestation } from '../../core/attestation/cp-quote';
import { VerifiedTokenCache } from '../../core/auth/token-cache';
import { resolveAdminPasswordHash } from './admin-password';
import type { Runtime } from './runtime';

/**
 * `eagerClient`: a client on the NativeConnection of a worker in this process (`npm start`) for eager registration
 * starts; API-only processes (`npm run api`) pass none.
 */
export async function buildAppDeps(
  runtime: Runtime,
  client: Client,
  announce: (m: string) => void,
  eagerClient?: Client,
): Promise<AppDeps> {
  const eagerStart = eagerClient && { client: eagerClient, deadlineMs: runtime.config.temporal.callDeadlineMs };
  return {
    db: runtime.db,
    settings: runtime.settings,
    workflows: createWorkflowGateway(client, runtime.config.temporal.taskQueue, { eagerStart }),
    logger: runtime.logger.child('api'),
    config: runtime.config,
    adminPasswordHash: await resolveAdminPasswordHash({ ...runtime, announce }),
    credentialCache: new VerifiedTokenCache(),
    sealingKey: runtime.sealingKey,
    // configfs-tsm quote, re-minted at most every 5 min (background.md §2.4); null outside a TEE.
    cpAttestation: cachedCpAttestation(),
    now: () => new Date(),
    metrics: runtime.metrics,
    tracing: runtime.tracing,
  };
}

export async function listen(
  deps: AppDeps,
  host: string,
  port: number,
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer(createRequestListener(deps));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return {
    server,
    url: `http://${shownHost}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
