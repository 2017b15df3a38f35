/**
 * Rendered agent views, once per row version, and whole list bodies, once per list version and query.
 *
 * Views: `toAgentView` (JSON columns parsed, the attestation redacted) and its JSON text are computed when a row is
 * first seen at a version and reused until the row is written again (the database gives every write a new
 * `row_version`, migration 20261201063000). `last_health_check` is the exception: the health sweep refreshes it on
 * every agent every 30 s without a new row version (migration 20261201210000), so a view is held as the JSON before
 * and after that one field and the list splices in the value it read with the versions.
 *
 * Bodies: the rendered body — a Buffer, and its gzip on first demand — is held under the agents list version (which
 * every write of any agents row advances, the sweep's freshness-only writes included) and the query (filters, page),
 * so an unchanged list is answered without reading rows, rendering or serializing anything (api/agent-list.ts says
 * why that key names the body exactly). No caller identity enters a list body (GET /api/v1/agents is public and
 * shows the same to everyone), which is why no caller enters the key.
 *
 * Both caches are per app (created in createApp), bounded (views by count, bodies by bytes), least recently used
 * first out; they hold only what the public agent views show (no tokens or secrets), and a replica that never saw a
 * version renders it itself — nothing here is shared state.
 */
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { Knex } from 'knex';
import { toIso } from '../core/db/tables';
import { getAgentsByIds, toAgentView, type AgentDbRow, type AgentVersion } from '../core/stores/agents';

const gzip = promisify(gzipCb);

/** ~2 KB each: 10,000 views ≈ 20 MB. */
export const AGENT_VIEW_CACHE_SIZE = 10_000;
/** Whole list bodies (identity + gzip): ~2.4 MB + ~0.2 MB at 1,000 agents, ~24 MB + 2 MB at 10,000. */
export const LIST_BODY_CACHE_BYTES = 32 * 1024 * 1024;

/** A view's JSON around its `last_health_check` value: `head + JSON(last_health_check) + tail`. */
interface SplitView {
  head: string;
  tail: string;
}

class Lru<V> {
  private readonly map = new Map<string, V>();
  private used = 0;
  constructor(
    private readonly capacity: number,
    private readonly cost: (v: V) => number = () => 1,
  ) {}
  get size(): number {
    return this.map.size;
  }
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, v: V): void {
    this.delete(key);
    this.map.set(key, v);
    this.used += this.cost(v);
    while (this.used > this.capacity && this.map.size > 1) this.delete(this.map.keys().next().value!);
  }
  delete(key: string): void {
    const old = this.map.get(key);
    if (old === undefined) return;
    this.map.delete(key);
    this.used -= this.cost(old);
  }
}

function splitView(row: AgentDbRow): SplitView {
  const view = toAgentView(row) as unknown as Record<string, unknown>;
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  let seen = false;
  for (const [k, v] of Object.entries(view)) {
    if (k === 'last_health_check') seen = true;
    else (seen ? after : before)[k] = v;
  }
  // Built from two serializations rather than by searching the text: a stored JSON blob (stats, attestation) may
  // itself hold a key of that name.
  const tail = JSON.stringify(after);
  return { head: `${JSON.stringify(before).slice(0, -1)},"last_health_check":`, tail: `,${tail.slice(1)}` };
}

const lhcJson = (v: unknown): string => JSON.stringify(toIso(v as never) ?? null);

export class AgentViewCache {
  private readonly views: Lru<SplitView>;

  constructor(readonly capacity = AGENT_VIEW_CACHE_SIZE) {
    this.views = new Lru(capacity);
  }

  get size(): number {
    return this.views.size;
  }

  private split(row: AgentDbRow): SplitView {
    const key = `${row.agent_id}:${String(row.row_version ?? 0)}`;
    const cached = this.views.get(key);
    if (cached !== undefined) return cached;
    const s = splitView(row);
    this.views.set(key, s);
    return s;
  }

  /** The JSON of one full row's view. */
  render(row: AgentDbRow): string {
    const s = this.split(row);
    return `${s.head}${lhcJson(row.last_health_check)}${s.tail}`;
  }

  /**
   * The JSON views of the listed versions, in order, reading full rows only for versions not held, each with the
   * `last_health_check` listed with its version. `exact` is false when a row was written or deleted since it was
   * listed (it is then shown as read now, or left out): such a body is not what the list's ETag names.
   */
  async renderList(
    db: Knex | Knex.Transaction,
    versions: readonly AgentVersion[],
  ): Promise<{ views: string[]; exact: boolean }> {
    const parts: (SplitView | undefined)[] = versions.map((v) => this.views.get(`${v.agent_id}:${v.row_version}`));
    let exact = true;
    const missing = versions.filter((_, i) => parts[i] === undefined).map((v) => v.agent_id);
    const fresh = new Map<string, AgentDbRow>();
    if (missing.length > 0) {
      for (const r of await getAgentsByIds(db, missing)) fresh.set(r.agent_id, r);
      versions.forEach((v, i) => {
        if (parts[i] !== undefined) return;
        const row = fresh.get(v.agent_id);
        if (!row) exact = false;
        else {
          if (String(row.row_version) !== v.row_version) exact = false;
          parts[i] = this.split(row);
        }
      });
    }
    const views: string[] = [];
    versions.forEach((v, i) => {
      const s = parts[i];
      if (!s) return;
      const row = fresh.get(v.agent_id);
      // A row re-read at a newer version shows its own health check time; otherwise the listed one.
      const lhc = row && String(row.row_version) !== v.row_version ? row.last_health_check : v.last_health_check;
      views.push(`${s.head}${lhcJson(lhc)}${s.tail}`);
    });
    return { views, exact };
  }
}

/** One rendered list body, its ETag (null: not held under any version, see api/agent-list.ts) and its gzip. */
export interface ListBody {
  body: Buffer;
  etag: string | null;
  /** The gzip once computed (so a hot path can write it without awaiting), else null. */
  gz: Buffer | null;
  gzipped(): Promise<Buffer>;
}

/** What a render gives: the JSON, and the key it may be held under with its ETag (null: answer once, hold nowhere). */
export interface RenderedList {
  json: string;
  heldAs: { key: string; etag: string } | null;
}

/**
 * Rendered list bodies by key (list version + query, api/agent-list.ts says why that names the body exactly), one
 * render per requested key however many requests ask at once.
 */
export class ListBodyCache {
  private readonly bodies: Lru<ListBody & { bytes: number }>;
  private readonly rendering = new Map<string, Promise<ListBody>>();

  constructor(readonly maxBytes = LIST_BODY_CACHE_BYTES) {
    this.bodies = new Lru(maxBytes, (b) => b.bytes);
  }

  get size(): number {
    return this.bodies.size;
  }

  held(key: string): ListBody | undefined {
    return this.bodies.get(key);
  }

  /**
   * Renders for a request that found nothing held under `key` (requests asking for the same key meanwhile share the
   * render); the result is held under the key the render names, which may be newer than `key`.
   */
  render(key: string, render: () => Promise<RenderedList>): Promise<ListBody> {
    const pending = this.rendering.get(key);
    if (pending) return pending;
    const p = (async () => {
      const { json, heldAs } = await render();
      const held = heldAs ? this.bodies.get(heldAs.key) : undefined;
      if (held) return held;
      const entry = this.entry(Buffer.from(json), heldAs?.etag ?? null);
      if (heldAs) this.bodies.set(heldAs.key, entry);
      return entry;
    })().finally(() => this.rendering.delete(key));
    this.rendering.set(key, p);
    return p;
  }

  private entry(body: Buffer, etag: string | null): ListBody & { bytes: number } {
    let z: Promise<Buffer> | null = null;
    const e: ListBody & { bytes: number } = {
      body,
      etag,
      gz: null,
      // Counted with a gzip's usual size for JSON this repetitive, so the bound holds once it exists.
      bytes: body.length + Math.ceil(body.length / 8),
      gzipped: () =>
        (z ??= gzip(body, { level: 6 }).then((g) => {
          e.gz = g;
          return g;
        })),
    };
    return e;
  }
}

/** True when the request's Accept-Encoding takes gzip (any q above 0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== 'x-gzip') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}
