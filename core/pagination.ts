/**
 * Cursor pagination over a keyset (the list's sort key), shared by every list endpoint. A cursor is opaque to
 * clients: base64url of JSON `[list tag, ...sort key of the last item returned]`. The tag binds a cursor to its list,
 * so a cursor of one list handed to another is refused as malformed instead of yielding a wrong page.
 */

/** One column value of a sort key: an ISO timestamp or id (string) or a sequence number. */
export type KeyPart = string | number;
export type CursorKey = readonly KeyPart[];

/** Bounds of `limit` in cursor mode. */
export const PAGE_LIMIT_MAX = 500;
export const PAGE_LIMIT_DEFAULT = 100;
/** A cursor longer than this is not one of ours (sort keys are a timestamp and an id or two). */
export const CURSOR_MAX_LENGTH = 512;

export interface PageRequest {
  limit: number;
  /** Sort key of the last item of the previous page; absent on the first page. */
  after?: CursorKey;
}

export interface Page<T> {
  items: T[];
  /** Sort key of the last item when more may follow, else null. */
  next: CursorKey | null;
}

export function encodeCursor(tag: string, key: CursorKey): string {
  return Buffer.from(JSON.stringify([tag, ...key]), 'utf8').toString('base64url');
}

/**
 * The sort key in `raw`, or null when it is not a cursor of list `tag` whose key has exactly the part types in
 * `shape` (anything else a client could send: bad base64, bad JSON, another list's cursor, wrong arity or types).
 */
export function decodeCursor(raw: string, tag: string, shape: readonly ('string' | 'number')[]): CursorKey | null {
  if (raw.length === 0 || raw.length > CURSOR_MAX_LENGTH || !/^[A-Za-z0-9_-]+$/.test(raw)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(parsed) || parsed.length !== shape.length + 1 || parsed[0] !== tag) return null;
  const key = parsed.slice(1) as unknown[];
  for (let i = 0; i < shape.length; i++) {
    const v = key[i];
    if (shape[i] === 'number' ? !Number.isSafeInteger(v) : typeof v !== 'string') return null;
  }
  return key as KeyPart[];
}

/** Cuts `rows` (fetched with limit + 1) to a page: more rows than `limit` means a next page exists. */
export function pageOf<T>(rows: T[], limit: number, keyOf: (row: T) => CursorKey): Page<T> {
  if (rows.length <= limit) return { items: rows, next: null };
  const items = rows.slice(0, limit);
  return { items, next: keyOf(items[items.length - 1]!) };
}
