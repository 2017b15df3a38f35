/**
 * What the agent keeps across restarts (agent.md §5.2, fixed): agent id, control secret and tunnel token, in
 * `<data_dir>/state.json`, mode 0600 inside a 0700 directory, replaced atomically (write + rename). A restarted
 * agent with a state for the same control plane and vm_name reconnects with it instead of registering again.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

export const PersistedState = z.object({
  agent_id: z.string().min(1),
  control_secret: z.string().min(1),
  tunnel_token: z.string().nullable(),
  hostname: z.string().nullable(),
  vm_name: z.string().min(1),
  control_plane_url: z.string().min(1),
  registered_at: z.string(),
});
export type PersistedState = z.infer<typeof PersistedState>;

export interface StateStore {
  readonly path: string;
  load(): PersistedState | null;
  save(state: PersistedState): void;
  clear(): void;
}

export function createStateStore(dataDir: string): StateStore {
  const path = join(dataDir, 'state.json');
  return {
    path,
    load() {
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        return null;
      }
      try {
        const r = PersistedState.safeParse(JSON.parse(text));
        return r.success ? r.data : null;
      } catch {
        return null;
      }
    },
    save(state) {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
      chmodSync(tmp, 0o600); // umask cannot widen it, but an existing tmp might have other bits
      renameSync(tmp, path);
    },
    clear() {
      rmSync(path, { force: true });
    },
  };
}
