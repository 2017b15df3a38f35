/**
 * The one pagination rule of every list endpoint (README "Pagination"): a request with `limit` or `cursor` is in
 * cursor mode and its response is the v1 object (`{agents: [...], total}` …) plus `next_cursor` — the cursor of the
 * next page, or null on the last one. Without either parameter the v1 response is unchanged. A malformed cursor
 * (or one of another list) is a 422 from the query schema, before the handler runs.
 */
import { z } from 'zod';
import {
  CURSOR_MAX_LENGTH,
  PAGE_LIMIT_DEFAULT,
  PAGE_LIMIT_MAX,
  decodeCursor,
  encodeCursor,
  type CursorKey,
  type Page,
  type PageRequest,
} from '../../core/pagination';

export interface CursorList {
  /** Binds a cursor to its list (core/pagination.ts). */
  tag: string;
  /** Part types of the list's sort key. */
  shape: readonly ('string' | 'number')[];
}

export const LISTS = {
  agents: { tag: 'agents', shape: ['string', 'string'] },
  deployments: { tag: 'deployments', shape: ['string', 'string'] },
  accounts: { tag: 'accounts', shape: ['string', 'string'] },
  transactions: { tag: 'transactions', shape: ['string', 'number', 'string'] },
  apps: { tag: 'apps', shape: ['string', 'string'] },
  orders: { tag: 'orders', shape: ['string', 'string'] },
} as const satisfies Record<string, CursorList>;

export function cursorParam(list: CursorList) {
  return z
    .string()
    .max(CURSOR_MAX_LENGTH)
    .transform((raw, ctx) => {
      const key = decodeCursor(raw, list.tag, list.shape);
      if (key) return key;
      ctx.addIssue({ code: 'custom', message: 'Malformed cursor: pass a next_cursor of this list unchanged' });
      return z.NEVER;
    })
    .optional()
    .describe('Opaque cursor: the next_cursor of the previous page of this list (same filters)');
}

export const limitParam = z.coerce
  .number()
  .int()
  .min(1)
  .max(PAGE_LIMIT_MAX)
  .optional()
  .describe(`Page size (1-${PAGE_LIMIT_MAX}); with limit or cursor the response carries next_cursor`);

/** The `limit` and `cursor` query fields of a list (spread into its query object). */
export function pageQuery(list: CursorList) {
  return { limit: limitParam, cursor: cursorParam(list) };
}

/** The response field added in cursor mode. */
export const nextCursorField = z
  .string()
  .nullable()
  .optional()
  .describe('Cursor mode only: pass it as `cursor` for the next page; null on the last page');

/** The page the query asks for, or null for a v1 (unpaginated) request. */
export function pageRequest(
  query: { limit?: number; cursor?: CursorKey },
  defaultLimit = PAGE_LIMIT_DEFAULT,
): PageRequest | null {
  if (query.limit === undefined && query.cursor === undefined) return null;
  return { limit: query.limit ?? defaultLimit, ...(query.cursor ? { after: query.cursor } : {}) };
}

export function nextCursor(list: CursorList, page: Page<unknown>): string | null {
  return page.next ? encodeCursor(list.tag, page.next) : null;
}
