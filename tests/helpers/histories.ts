/**
 * The replay corpus (tests/fixtures/histories/<group>/<name>.bin + .id): histories of real runs, stored with their
 * real workflow ids. Tests that drive a workflow call recordHistory(); it writes only when RECORD_HISTORIES=1, e.g.
 *   RECORD_HISTORIES=1 npx vitest run tests/integration/deploy-api.test.ts
 * and tests/integration/workflow-replay.test.ts replays every recording through the current bundle.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const HISTORIES_DIR = 'tests/fixtures/histories';

export async function recordHistory(client: Client, workflowId: string, group: string, name: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const dir = join(HISTORIES_DIR, group);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.bin`), temporal.api.history.v1.History.encode(history).finish());
  writeFileSync(join(dir, `${name}.id`), `${workflowId}\n`);
}
