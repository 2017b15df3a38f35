/**
 * Rendered agent views, once per row version: `toAgentView` (JSON columns parsed, the attestation redacted) and its
 * JSON text are computed when a row is first seen at a version and reused until the row is written again (the
 * database gives every write a new `row_version`, migration 20261201060000). One cache per app (created in
 * createApp), bounded by count with least-recently-used eviction; it holds only what the public agent views show
 * (no tokens or secrets), and a replica that never saw a version renders it itself — nothing here is shared state.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { getAgentsByIds, toAgentView, type AgentDbRow, type AgentVersion } from '../core/stores/agents';

/** ~2 KB each: 10,000 views ≈ 20 MB. */
export const AGENT_VIEW_CACHE_SIZE = 10_000;

export class AgentViewCache {
  private readonly views = new Map<string, string>();

  constructor(readonly capacity = AGENT_VIEW_CACHE_SIZE) {}

  get size(): number {
    return this.views.size;
  }

  private get(key: string): string | undefined {
    const json = this.views.get(key);
    if (json !== undefined) {
      this.views.delete(key);
      this.views.set(key, json);
    }
    return json;
  }

  private set(key: string, json: string): void {
    this.views.delete(key);
    this.views.set(key, json);
    while (this.views.size > this.capacity) this.views.delete(this.views.keys().next().value!);
  }

  /** The JSON of one full row's view. */
  render(row: AgentDbRow): string {
    const key = `${row.agent_id}:${String(row.row_version ?? 0)}`;
    const cached = this.get(key);
    if (cached !== undefined) return cached;
    const json = JSON.stringify(toAgentView(row));
    this.set(key, json);
    return json;
  }

  /**
   * The JSON views of the listed versions, in order, reading full rows only for versions not held. A row written or
   * deleted since it was listed is shown as read now, or left out.
   */
  async renderList(db: Knex, versions: readonly AgentVersion[]): Promise<string[]> {
    const out: (string | undefined)[] = versions.map((v) => this.get(`${v.agent_id}:${v.row_version}`));
    const missing = versions.filter((_, i) => out[i] === undefined).map((v) => v.agent_id);
    if (missing.length > 0) {
      const rows = new Map((await getAgentsByIds(db, missing)).map((r) => [r.agent_id, r]));
      versions.forEach((v, i) => {
        if (out[i] !== undefined) return;
        const row = rows.get(v.agent_id);
        if (row) out[i] = this.render(row);
      });
    }
    return out.filter((j): j is string => j !== undefined);
  }
}

/**
 * A list's weak ETag from the versions it shows (and whatever else the body carries: `extra`), computed before any
 * full row is read — so a 304 costs one narrow index-ordered query.
 */
export function agentListEtag(versions: readonly AgentVersion[], extra: string, serverVersion: string): string {
  const h = createHash('sha1').update(`${serverVersion}\n${extra}\n`);
  for (const v of versions) h.update(`${v.agent_id}:${v.row_version},`);
  return `W/"${h.digest('base64url')}"`;
}
