/**
 * Minimal Cloudflare v4 HTTP client used by the Cloudflare activities (background.md §8).
 *
 * It maps every outcome onto the closed failure vocabulary the workflows branch on:
 * - transport errors, timeouts, HTTP 5xx and 429 → `CloudflareUnavailableError` (a plain Error, so Temporal's
 *   retry policy keeps trying; its `name` becomes the failure type once retries are exhausted);
 * - any other non-2xx (and an unexpected 404) → non-retryable `ApplicationFailure` of type `CloudflareRejected`;
 * - statuses the caller lists in `accept` are handed back instead of thrown (e.g. 404 on delete = already gone).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { UnavailableError } from './unavailable-error';

/** Failure types thrown by the Cloudflare activities. Workflows branch on these, never on message text. */
export const CloudflareFailureType = {
  /** account_id, zone_id or api_token is blank. Non-retryable. */
  NotConfigured: 'CloudflareNotConfigured',
  /** Cloudflare answered 4xx (bad token, validation, conflict, unknown object). Non-retryable. */
  Rejected: 'CloudflareRejected',
  /** The activity input is unusable (bad agent id, bad ingress port). Non-retryable. */
  InvalidInput: 'CloudflareInvalidInput',
  /** Network error, timeout, 5xx or 429. Retryable; surfaces with this type after the last attempt. */
  Unavailable: 'CloudflareUnavailable',
} as const;
export type CloudflareFailureType = (typeof CloudflareFailureType)[keyof typeof CloudflareFailureType];

export interface CfMessage {
  code: number;
  message: string;
}

export interface CfResultInfo {
  page: number;
  per_page: number;
  count: number;
  total_count: number;
  total_pages: number;
}

/** The v4 response envelope. */
export interface CfEnvelope<T> {
  success: boolean;
  errors: CfMessage[];
  messages: CfMessage[];
  result: T;
  result_info?: CfResultInfo;
}

export interface CfClient {
  /** e.g. `https://api.cloudflare.com/client/v4` (no trailing slash). */
  baseUrl: string;
  apiToken: string;
  fetch: typeof globalThis.fetch;
  /** Per-request timeout; background.md §8 uses 30 s. */
  timeoutMs?: number;
}

export interface CfRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path below the base URL, starting with `/`; ids must already be URL-encoded. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** 4xx statuses returned to the caller instead of thrown (404 for idempotent deletes, 409 for create races). */
  accept?: readonly number[];
}

export interface CfResponse<T> {
  status: number;
  envelope: CfEnvelope<T>;
}

/** Thrown for transient failures; deliberately not an ApplicationFailure so Temporal retries it. */
export class CloudflareUnavailableError extends UnavailableError {
  override readonly name = CloudflareFailureType.Unavailable;
}

export const DEFAULT_TIMEOUT_MS = 30_000;

/** The running activity's context; undefined outside one (scripts, unit tests, benches). */
function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/**
 * How a regular activity shows it is alive: every Cloudflare call heartbeats as it is sent and when its answer
 * arrives (the SDK throttles the beats it forwards), so no timer beats beside the work, and the heartbeat also
 * delivers a cancellation. A call is cut at the activity's heartbeat timeout when that is shorter than the client's:
 * a call hung that long would let the server time the attempt out anyway, so the attempt fails at once
 * (CloudflareUnavailable, retried) instead of running on unseen beside its retry. A silent activity is therefore a
 * lost worker or a hung call, and both are retried within the heartbeat timeout. Local activities have no heartbeat:
 * a lost worker loses their whole workflow task, which the server retries elsewhere.
 */
function heartbeatOf(ctx: Context | undefined): { beat(): void; timeoutMs?: number } {
  if (!ctx || ctx.info.isLocal) return { beat: () => {} };
  return { beat: () => ctx.heartbeat(), timeoutMs: ctx.info.heartbeatTimeoutMs || undefined };
}

export function formatCfErrors(errors: readonly CfMessage[] | undefined): string {
  if (!errors || errors.length === 0) return '';
  return errors.map((e) => `[${e.code}] ${e.message}`).join('; ');
}

function isEnvelope(value: unknown): value is CfEnvelope<unknown> {
  return typeof value === 'object' && value !== null && 'success' in value;
}

function buildUrl(baseUrl: string, path: string, query: CfRequest['query']): string {
  const url = new URL(baseUrl.replace(/\/+$/, '') + path);
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined) url.searchParams.set(k, String(v));
  }
  return url.toString();
}

export async function cfRequest<T>(client: CfClient, req: CfRequest): Promise<CfResponse<T>> {
  const what = `Cloudflare ${req.method} ${req.path}`;
  const ctx = activityContext();
  // The activity's cancellation signal, so a cancelled activity stops waiting.
  const cancel = ctx?.cancellationSignal;
  const heartbeat = heartbeatOf(ctx);
  const timeoutMs = Math.min(client.timeoutMs ?? DEFAULT_TIMEOUT_MS, heartbeat.timeoutMs ?? Infinity);
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = cancel ? AbortSignal.any([cancel, timeout]) : timeout;
  heartbeat.beat();

  let res: Response;
  let text: string;
  try {
    res = await client.fetch(buildUrl(client.baseUrl, req.path, req.query), {
      method: req.method,
      headers: {
        Authorization: `Bearer ${client.apiToken}`,
        'Content-Type': 'application/json',
        Accept: 'application/json',
      },
      body: req.body === undefined ? undefined : JSON.stringify(req.body),
      signal,
    });
    text = await res.text();
    heartbeat.beat();
  } catch (err) {
    // Activity cancellation must surface as the SDK's CancelledFailure, not as a retryable error.
    if (cancel?.aborted) throw cancel.reason ?? err;
    const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    throw new CloudflareUnavailableError(`${what} failed: ${msg}`, null);
  }

  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const envelope = isEnvelope(parsed) ? (parsed as CfEnvelope<T>) : undefined;
  const detail = formatCfErrors(envelope?.errors) || text.slice(0, 200) || res.statusText;

  if (res.status >= 500 || res.status === 429) {
    const retryAfter = res.headers.get('retry-after');
    throw new CloudflareUnavailableError(
      `${what} → HTTP ${res.status}${detail ? `: ${detail}` : ''}${retryAfter ? ` (retry-after ${retryAfter})` : ''}`,
      res.status,
    );
  }

  if (res.status >= 200 && res.status < 300) {
    // A 2xx without an envelope is a proxy hiccup rather than a verdict from Cloudflare.
    if (!envelope)
      throw new CloudflareUnavailableError(`${what} → HTTP ${res.status} with a non-JSON body`, res.status);
    if (envelope.success === false) throw rejected(what, res.status, envelope.errors, detail);
    return { status: res.status, envelope };
  }

  if (req.accept?.includes(res.status)) {
    return {
      status: res.status,
      envelope: envelope ?? { success: false, errors: [], messages: [], result: null as T },
    };
  }
  throw rejected(what, res.status, envelope?.errors ?? [], detail);
}

function rejected(what: string, status: number, errors: readonly CfMessage[], detail: string): ApplicationFailure {
  return ApplicationFailure.create({
    message: `${what} → HTTP ${status}${detail ? `: ${detail}` : ''}`,
    type: CloudflareFailureType.Rejected,
    nonRetryable: true,
    details: [{ status, errors: errors.map((e) => ({ code: e.code, message: e.message })) }],
  });
}

/** True if an accepted non-2xx answer says the object already exists (tunnel name or DNS host taken). */
export function isAlreadyExists(res: CfResponse<unknown>): boolean {
  if (res.status === 409) return true;
  return res.envelope.errors.some((e) => e.code === 81053 || e.code === 81057 || /already exists/i.test(e.message));
}
