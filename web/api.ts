/**
 * The dashboard's only way to the control plane: same-origin JSON calls to the public API with the session's
 * bearer token. The token lives in sessionStorage (this tab only, gone when it closes), never localStorage or a
 * cookie the API would have to defend against CSRF. Every failure is an ApiError carrying the API's `detail`.
 */
const TOKEN_KEY = 'ee.session';

export function sessionToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setSessionToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** A validation issue as the API sends it in a 422 list. */
interface Issue {
  loc?: (string | number)[];
  msg?: string;
}

/** The API's `{detail}` as one line: a string as is, a validation list as `where: message; …`. */
export function detailText(detail: unknown): string {
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) {
    return (detail as Issue[])
      .map((i) => (i.loc && i.loc.length > 0 ? `${i.loc.join('.')}: ${i.msg ?? ''}` : (i.msg ?? JSON.stringify(i))))
      .join('; ');
  }
  return JSON.stringify(detail);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
    this.name = 'ApiError';
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = sessionToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, `The control plane is unreachable (${(err as Error).message})`);
  }
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const detail =
      parsed && typeof parsed === 'object' && 'detail' in parsed
        ? detailText((parsed as { detail: unknown }).detail)
        : `HTTP ${res.status}`;
    throw new ApiError(res.status, detail);
  }
  return parsed as T;
}

export const api = {
  get: <T>(path: string) => call<T>('GET', path),
  post: <T>(path: string, body: unknown = {}) => call<T>('POST', path, body),
  put: <T>(path: string, body: unknown) => call<T>('PUT', path, body),
  patch: <T>(path: string, body: unknown) => call<T>('PATCH', path, body),
  del: <T>(path: string) => call<T>('DELETE', path),
};

/** A path segment, encoded (ids, setting keys with dots, app names). */
export const seg = (s: string) => encodeURIComponent(s);
