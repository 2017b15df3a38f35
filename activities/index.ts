import type { Knex } from 'knex';
import type { Logger } from '../core/logger';
import type { SettingsReader } from '../core/settings/types';
import { createAdminDbActivities } from './admin-db';
import { createCloudflareActivities } from './cloudflare';

/** Clients every activity factory may draw from; the worker wires real ones, tests fakes. */
export interface ActivityDeps {
  db: Knex;
  settings: SettingsReader;
  logger: Logger;
  /** Key that unseals secret values sent through workflow inputs. */
  sealingKey: string;
  /** Outbound HTTP (Cloudflare, agents, GitHub…); default global fetch. */
  fetch?: typeof globalThis.fetch;
  /** Called after settings/trust changes so this process's caches refresh at once. */
  onChange?: () => void;
}

/** All activities the worker registers, wired over injected clients. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createAdminDbActivities(deps),
    ...createCloudflareActivities({ settings: deps.settings, fetch: deps.fetch }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
