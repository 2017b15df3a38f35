/**
 * Keyset ("seek") pages in SQL: `WHERE (k1, k2, …) > (?, ?, …) ORDER BY k1, k2, … LIMIT n + 1`, one direction for
 * every column so a single composite index serves both the seek and the order. Row-value comparison is SQL-92 and
 * runs on PostgreSQL and SQLite (≥ 3.15) alike; unlike OFFSET, a page costs the same wherever it starts, and rows
 * inserted between two requests can neither repeat nor hide an item already past the cursor.
 */
import type { Knex } from 'knex';
import { pageOf, type CursorKey, type Page, type PageRequest } from '../pagination';

/** A timestamp column's value as it sorts in the database: the stored text on SQLite, ISO of pg's Date. */
export const keyTime = (v: Date | string): string => (v instanceof Date ? v.toISOString() : v);

export function seek(q: Knex.QueryBuilder, columns: readonly string[], order: 'asc' | 'desc', after?: CursorKey): void {
  if (after) {
    if (after.length !== columns.length)
      throw new Error(`keyset: ${after.length} values for ${columns.length} columns`);
    const list = columns.map(() => '??').join(', ');
    const values = columns.map(() => '?').join(', ');
    q.whereRaw(`(${list}) ${order === 'asc' ? '>' : '<'} (${values})`, [...columns, ...after]);
  }
  q.orderBy(columns.map((column) => ({ column, order })));
}

/** Runs `q` as one keyset page of `page.limit` rows after `page.after`. */
export async function keysetPage<R>(
  q: Knex.QueryBuilder,
  columns: readonly string[],
  order: 'asc' | 'desc',
  page: PageRequest,
  keyOf: (row: R) => CursorKey,
): Promise<Page<R>> {
  seek(q, columns, order, page.after);
  const rows = (await q.limit(page.limit + 1)) as R[];
  return pageOf(rows, page.limit, keyOf);
}

/**
 * A keyset page of the rows `keep` accepts, for filters that run in code (an owner match, a tag overlap): reads
 * batches in key order until `limit` rows are kept or the table ends, so a page is never short while more follow.
 */
export async function filteredKeysetPage<R>(
  query: () => Knex.QueryBuilder,
  columns: readonly string[],
  order: 'asc' | 'desc',
  page: PageRequest,
  keyOf: (row: R) => CursorKey,
  keep: (row: R) => boolean,
): Promise<Page<R>> {
  const batch = Math.max(page.limit + 1, 200);
  const kept: R[] = [];
  let after = page.after;
  for (;;) {
    const q = query();
    seek(q, columns, order, after);
    const rows = (await q.limit(batch)) as R[];
    for (const r of rows) {
      if (keep(r)) kept.push(r);
      if (kept.length > page.limit) return pageOf(kept, page.limit, keyOf);
    }
    if (rows.length < batch) return { items: kept, next: null };
    after = keyOf(rows[rows.length - 1]!);
  }
}
