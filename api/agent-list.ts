/**
 * GET /api/v1/agents answered from bodies held under the list version (core/stores/agents.ts `agentListVersion`,
 * migration 20261202000100): per request, one O(1) version read, then either a 304 (If-None-Match), the held body
 * written as it is (no copy, no JSON, no hashing), or — once per list change — a render.
 *
 * Why the version names a body exactly: every write of an agents row advances the version, and a body is held only
 * under the version read at the same snapshot as its rows, at a moment no writer that advanced it was unfinished
 * (`agentListSnapshot`). Any later state with that version is then the same state. A request whose version read
 * ran ahead of its snapshot (PostgreSQL: `nextval` is not transactional) finds nothing held and renders, under the
 * lock, a state at least as new as its own. The ETag is derived from the same key (version, query, server version),
 * so a 304 says the same thing, on any replica.
 *
 * The version read is shared: a request joins the next read that starts after it arrived (never one already in
 * flight, which may predate a write the caller has seen committed), so at 32 concurrent requests a handful of reads
 * serve them all.
 *
 * `agentListListener` answers the unpaginated v1 list (`GET|HEAD /api/v1/agents`, no query string) in the node:http
 * listener, in front of Koa, with the headers Koa's route would send; any query (filters, `limit`, `cursor`) goes
 * through Koa's route and its validation, which uses the same `AgentLists`.
 */
import { createHash } from 'node:crypto';
import { requestIdOf } from './middleware/request-id';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Knex } from 'knex';
import type { PageRequest } from '../core/pagination';
import {
  agentListSnapshot,
  agentListVersion,
  listAgentVersions,
  sqliteListVersionReader,
  type AgentFilter,
} from '../core/stores/agents';
import { AgentViewCache, ListBodyCache, acceptsGzip, type ListBody } from './agent-views';
import { noneMatchHit } from './http/etag';
import { LISTS, nextCursor } from './http/pagination';

/** One read shared by every caller that arrived before it started (see the top of this file). */
export class NextRead<T> {
  private inFlight: Promise<T> | null = null;
  private queued: Promise<T> | null = null;

  constructor(private readonly read: () => Promise<T>) {}

  get(): Promise<T> {
    if (this.queued) return this.queued;
    if (!this.inFlight) return this.launch();
    const settled = this.inFlight.then(
      () => undefined,
      () => undefined,
    );
    this.queued = settled.then(() => {
      this.queued = null;
      return this.launch();
    });
    return this.queued;
  }

  private launch(): Promise<T> {
    const p: Promise<T> = this.read().finally(() => {
      if (this.inFlight === p) this.inFlight = null;
    });
    this.inFlight = p;
    return p;
  }
}

export interface ListQuery {
  filter: AgentFilter;
  page: PageRequest | null;
}

export type ListAnswer = { notModified: true; etag: string } | { notModified: false; list: ListBody };

const queryKey = (q: ListQuery): string =>
  q.page === null && q.filter.status === undefined && !q.filter.vm_name
    ? 'all'
    : JSON.stringify([q.filter.status ?? null, q.filter.vm_name || null, q.page]);

/** The agents list of one app: views by row version, bodies by list version, the shared version read. */
export class AgentLists {
  private readonly version: NextRead<string>;
  private syncReader: (() => string) | null | undefined;

  /** `source.db` is read on first use only (openApiDocument() declares routes over stub deps). */
  constructor(
    private readonly source: { readonly db: Knex },
    private readonly serverVersion: string,
    readonly views = new AgentViewCache(),
    readonly bodies = new ListBodyCache(),
  ) {
    this.version = new NextRead(() => agentListVersion(source.db));
  }

  private etag(key: string): string {
    return `W/"${createHash('sha1').update(`${this.serverVersion}\n${key}`).digest('base64url')}"`;
  }

  /** A 304 when `ifNoneMatch` names the current list, else its body (held, or rendered now). */
  async answer(q: ListQuery, ifNoneMatch: string | undefined): Promise<ListAnswer> {
    const qk = queryKey(q);
    const key = `${this.syncVersion() ?? (await this.version.get())}\n${qk}`;
    return (
      this.fromHeld(key, ifNoneMatch) ?? {
        notModified: false,
        list: await this.bodies.render(key, () => this.render(q, qk)),
      }
    );
  }

  /**
   * `answer` without a promise when it needs no I/O: a SQLite clock read synchronously and a held body (or a 304).
   * Null when the version read or a render has to wait.
   */
  answerNow(q: ListQuery, ifNoneMatch: string | undefined): ListAnswer | null {
    const v = this.syncVersion();
    return v === null ? null : this.fromHeld(`${v}\n${queryKey(q)}`, ifNoneMatch);
  }

  private fromHeld(key: string, ifNoneMatch: string | undefined): ListAnswer | null {
    const held = this.bodies.held(key);
    if (ifNoneMatch) {
      const etag = held?.etag ?? this.etag(key);
      if (noneMatchHit(ifNoneMatch, etag)) return { notModified: true, etag };
    }
    return held ? { notModified: false, list: held } : null;
  }

  /** A SQLite file reads its clock synchronously (one prepared statement); null: use the shared async read. */
  private syncVersion(): string | null {
    if (this.syncReader === undefined) this.syncReader = sqliteListVersionReader(this.source.db);
    return this.syncReader ? this.syncReader() : null;
  }

  private async render(q: ListQuery, qk: string) {
    const { version, value } = await agentListSnapshot(this.source.db, async (trx) => {
      const p = await listAgentVersions(trx, q.filter, q.page ?? undefined);
      return { p, ...(await this.views.renderList(trx, p.items)) };
    });
    const { p, views, exact } = value;
    const tail = `],"total":${views.length}${q.page ? `,"next_cursor":${JSON.stringify(nextCursor(LISTS.agents, p))}` : ''}}`;
    const key = version !== null && exact ? `${version}\n${qk}` : null;
    return { json: `{"agents":[${views.join(',')}${tail}`, heldAs: key ? { key, etag: this.etag(key) } : null };
  }
}

export interface ListListenerOptions {
  origins: readonly string[];
  /** The request-latency histogram observation Koa's metrics middleware would make. */
  observe?: (method: string, status: number, seconds: number) => void;
  logError(message: string, fields: Record<string, unknown>): void;
}

/**
 * `GET|HEAD /api/v1/agents` (exactly: no query string) in front of Koa. Same answer as the Koa route: public (the
 * route's auth is `none`, no rate limit, nothing to validate), `Content-Type`, `Content-Length`, `ETag`,
 * `Vary: Accept-Encoding` (after `Origin` when v1's CORS applies), `X-Request-Id`, gzip when accepted, 304 on a
 * matching If-None-Match, `{"detail": …}` 500 on a failure. Counted in the request-latency histogram under the
 * route's template. Returns false for anything else (Koa's).
 */
export function agentListListener(
  lists: AgentLists,
  opts: ListListenerOptions,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const all: ListQuery = { filter: {}, page: null };
  const respond = (req: IncomingMessage, res: ServerResponse, started: bigint, a: ListAnswer) => {
    const id = requestIdOf(req.headers['x-request-id']);
    const headers: string[] = [];
    const origin = req.headers.origin;
    const cors = origin !== undefined && opts.origins.includes(origin);
    if (cors) headers.push('Access-Control-Allow-Origin', origin, 'Access-Control-Allow-Credentials', 'true');
    headers.push('Vary', cors ? 'Origin, Accept-Encoding' : 'Accept-Encoding', 'X-Request-Id', id);
    let status = 200;
    let body: Buffer | undefined;
    if (a.notModified) {
      status = 304;
      headers.push('ETag', a.etag);
    } else {
      if (a.list.etag) headers.push('ETag', a.list.etag);
      headers.push('Content-Type', 'application/json; charset=utf-8');
      if (acceptsGzip(req.headers['accept-encoding'])) {
        headers.push('Content-Encoding', 'gzip');
        body = a.list.gz ?? undefined;
      } else body = a.list.body;
    }
    const write = (b: Buffer | undefined) => {
      if (b) headers.push('Content-Length', String(b.length));
      res.writeHead(status, headers);
      res.end(req.method === 'HEAD' ? undefined : b);
      opts.observe?.(req.method!, status, Number(process.hrtime.bigint() - started) / 1e9);
    };
    if (body || status === 304) write(body);
    else return a.notModified ? undefined : a.list.gzipped().then(write);
    return undefined;
  };
  return (req, res) => {
    if (req.url !== '/api/v1/agents' || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    const started = process.hrtime.bigint();
    const inm = req.headers['if-none-match'];
    const fail = (err: unknown) => {
      opts.logError('agents list failed', { error: String(err) });
      if (!res.headersSent) {
        res.writeHead(500, ['Content-Type', 'application/json; charset=utf-8']);
        res.end('{"detail":"Internal Server Error"}');
      } else res.destroy();
      opts.observe?.(req.method!, 500, Number(process.hrtime.bigint() - started) / 1e9);
    };
    // The common case — a held body on SQLite — is written without a promise; otherwise the async path.
    let p: Promise<void> | undefined;
    try {
      const now = lists.answerNow(all, inm);
      p = now ? respond(req, res, started, now) : lists.answer(all, inm).then((a) => respond(req, res, started, a));
    } catch (err) {
      fail(err);
      return true;
    }
    p?.catch(fail);
    return true;
  };
}
