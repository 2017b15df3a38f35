import { createAdminDbActivities, type AdminDbDeps } from './admin-db';

export type ActivityDeps = AdminDbDeps;

/** All activities the worker registers, wired over injected clients. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createAdminDbActivities(deps),
  };
}
