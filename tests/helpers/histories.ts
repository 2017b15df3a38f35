/**
 * The replay corpus (tests/fixtures/histories/<group>/<name>.bin + .id): histories of real runs, stored with their
 * real workflow ids. Tests that drive a workflow call recordHistory(); it writes only when RECORD_HISTORIES=1, e.g.
 *   RECORD_HISTORIES=1 npx vitest run tests/integration/deploy-api.test.ts
 * and tests/integration/workflow-replay.test.ts replays every recording through the current bundle.
 *
 * Payloads reach the server encrypted under the stack's random key (core/temporal/codec.ts); recordings are
 * stored decoded, so the corpus replays without that key.
 */
import type { Client } from '@temporalio/client';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const HISTORIES_DIR = 'tests/fixtures/histories';

type History = temporal.api.history.v1.IHistory;

const isPayload = (v: unknown): v is Payload =>
  typeof v === 'object' &&
  v !== null &&
  'metadata' in v &&
  typeof (v as Payload).metadata === 'object' &&
  (v as Payload).metadata !== null &&
  (v as Payload).metadata!.encoding instanceof Uint8Array;

/** A copy of `history` with every payload (inputs, results, signals, memos, failure details…) run through `codecs`. */
export async function decodeHistory(history: History, codecs: readonly PayloadCodec[]): Promise<History> {
  const copy = temporal.api.history.v1.History.decode(temporal.api.history.v1.History.encode(history).finish());
  const visit = async (node: unknown): Promise<void> => {
    if (typeof node !== 'object' || node === null || node instanceof Uint8Array) return;
    for (const [k, v] of Object.entries(node)) {
      if (isPayload(v)) {
        let p = [v];
        for (const c of [...codecs].reverse()) p = await c.decode(p);
        (node as Record<string, unknown>)[k] = p[0];
      } else if (Array.isArray(v) && v.length > 0 && v.every(isPayload)) {
        let p = v as Payload[];
        for (const c of [...codecs].reverse()) p = await c.decode(p);
        (node as Record<string, unknown>)[k] = p;
      } else {
        await visit(v);
      }
    }
  };
  await visit(copy);
  return copy;
}

/** Every string and byte array in `node`, bytes read as UTF-8: what a reader of the raw history could see. */
export function historyText(node: unknown): string {
  const out: string[] = [];
  const visit = (v: unknown) => {
    if (typeof v === 'string') out.push(v);
    else if (v instanceof Uint8Array) out.push(Buffer.from(v).toString('utf8'));
    else if (typeof v === 'object' && v !== null) for (const x of Object.values(v)) visit(x);
  };
  visit(node);
  return out.join('\n');
}

export async function recordHistory(client: Client, workflowId: string, group: string, name: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const history = await decodeHistory(
    await client.workflow.getHandle(workflowId).fetchHistory(),
    client.options.loadedDataConverter.payloadCodecs,
  );
  const dir = join(HISTORIES_DIR, group);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.bin`), temporal.api.history.v1.History.encode(history).finish());
  writeFileSync(join(dir, `${name}.id`), `${workflowId}\n`);
}
