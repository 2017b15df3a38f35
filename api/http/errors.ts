/**
 * The closed set of failures the API maps to HTTP. Handlers throw these; the error
 * middleware (api/middleware/errors.ts) turns them into `{ "detail": … }` with the status.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly detail: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof detail === 'string' ? detail : JSON.stringify(detail));
    this.name = 'HttpError';
  }
}

export const badRequest = (detail: string) => new HttpError(400, detail);
export const unauthorized = (detail: string) => new HttpError(401, detail, { 'WWW-Authenticate': 'Bearer' });
export const forbidden = (detail: string) => new HttpError(403, detail);
export const notFound = (detail: string) => new HttpError(404, detail);
export const conflict = (detail: string) => new HttpError(409, detail);
export const unprocessable = (detail: unknown) => new HttpError(422, detail);
export const serviceUnavailable = (detail: string) => new HttpError(503, detail);

/** One entry of a 422 validation detail list (the v1/FastAPI shape). */
export interface ValidationIssue {
  type: string;
  loc: (string | number)[];
  msg: string;
}
