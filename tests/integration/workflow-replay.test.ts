/**
 * Replays the committed histories (tests/fixtures/histories/<group>/, recorded from real runs against the fakes and
 * stored with their real workflow ids; see tests/helpers/histories.ts) through the current workflow bundle: a change
 * to the sequence of commands that is not behind `patched()` fails here.
 */
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { HISTORIES_DIR } from '../helpers/histories';

const recordings = readdirSync(HISTORIES_DIR).flatMap((group) =>
  readdirSync(join(HISTORIES_DIR, group))
    .filter((f) => f.endsWith('.bin'))
    .map((f) => join(group, f.slice(0, -4))),
);

describe('workflow histories replay', () => {
  it('has recordings of every process group', () => {
    const groups = new Set(recordings.map((r) => r.split('/')[0]));
    for (const g of ['agents', 'deployments', 'billing', 'admin']) expect(groups, g).toContain(g);
  });

  it.each(recordings)('%s replays deterministically', async (name) => {
    const history = temporal.api.history.v1.History.decode(readFileSync(join(HISTORIES_DIR, `${name}.bin`)));
    const workflowId = readFileSync(join(HISTORIES_DIR, `${name}.id`), 'utf8').trim();
    const workflowBundle = { code: readFileSync(inject('workflowBundlePath'), 'utf8') };
    await Worker.runReplayHistory({ workflowBundle }, history, workflowId);
  });
});
