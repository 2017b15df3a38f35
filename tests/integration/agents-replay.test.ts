/**
 * Replays committed histories of the agent workflows (recorded from real runs against the fakes, stored with their
 * real workflow ids) through the current workflow bundle: a change to the sequence of commands that is not behind
 * `patched()` fails here.
 */
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';

const DIR = 'tests/fixtures/histories/agents';
const names = readdirSync(DIR)
  .filter((f) => f.endsWith('.bin'))
  .map((f) => f.slice(0, -4));

describe('agent workflow histories replay', () => {
  it('has recordings', () => expect(names.length).toBeGreaterThanOrEqual(5));

  it.each(names)('%s replays deterministically', async (name) => {
    const history = temporal.api.history.v1.History.decode(readFileSync(join(DIR, `${name}.bin`)));
    const workflowId = readFileSync(join(DIR, `${name}.id`), 'utf8').trim();
    const workflowBundle = { code: readFileSync(inject('workflowBundlePath'), 'utf8') };
    await Worker.runReplayHistory({ workflowBundle }, history, workflowId);
  });
});
