/**
 * The control-plane side of the actions: the credential (a GitHub Actions OIDC token minted for the step, or an
 * API key input) and a small JSON client whose failures are typed (`CpError` with the HTTP status and the CP's
 * `detail`), so each action turns them into a message that says what to do — never a stack trace.
 */
import { ActionFailure, getInput, info, mask, type ActionIo } from './toolkit';

/** A non-2xx answer of the control plane. */
export class CpError extends Error {
  override readonly name = 'CpError';
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly method: string,
    readonly path: string,
  ) {
    super(`${method} ${path} → ${status}: ${detail}`);
  }
}

/**
 * Mints the job's OIDC token the way @actions/core `getIDToken` does: `GET $ACTIONS_ID_TOKEN_REQUEST_URL`
 * with `audience=<aud>` added to its query and `Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`;
 * the answer is `{"value": "<jwt>"}`. The token is masked in the log at once.
 */
export async function mintOidcToken(io: ActionIo, audience: string): Promise<string> {
  const url = io.env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const bearer = io.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!url || !bearer) {
    throw new ActionFailure(
      'No GitHub OIDC token available (ACTIONS_ID_TOKEN_REQUEST_URL is not set): give the job ' +
        '`permissions: id-token: write`, or pass an `api_key` input instead',
    );
  }
  const u = new URL(url);
  if (audience) u.searchParams.set('audience', audience);
  let res: Response;
  try {
    res = await io.fetch(u, {
      headers: { authorization: `Bearer ${bearer}`, accept: 'application/json; api-version=2.0' },
    });
  } catch (err) {
    throw new ActionFailure(`Cannot reach the GitHub OIDC token service: ${causeOf(err)}`);
  }
  const text = await res.text();
  if (!res.ok) {
    throw new ActionFailure(`The GitHub OIDC token service answered ${res.status}: ${text.slice(0, 200)}`);
  }
  let value: unknown;
  try {
    value = (JSON.parse(text) as { value?: unknown }).value;
  } catch {
    value = undefined;
  }
  if (typeof value !== 'string' || !value) {
    throw new ActionFailure('The GitHub OIDC token service answered without a token (no "value")');
  }
  mask(io, value);
  return value;
}

/** `api_key` input when given (masked), else an OIDC token for the `audience` input (default `easyenclave`). */
export async function credential(io: ActionIo): Promise<{ token: string; kind: 'api_key' | 'oidc' }> {
  const apiKey = getInput(io, 'api_key');
  if (apiKey) {
    mask(io, apiKey);
    return { token: apiKey, kind: 'api_key' };
  }
  const audience = getInput(io, 'audience', { default: 'easyenclave' });
  const token = await mintOidcToken(io, audience);
  info(io, `Minted a GitHub OIDC token for audience '${audience}'`);
  return { token, kind: 'oidc' };
}

function causeOf(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}

export interface CpClient {
  baseUrl: string;
  /** JSON request; a non-2xx answer throws CpError; an unreachable CP throws ActionFailure. */
  call<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
}

export function controlPlaneUrl(io: ActionIo): string {
  const raw = getInput(io, 'control_plane_url', { default: 'https://app.easyenclave.com' });
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ActionFailure(`control_plane_url is not a URL: '${raw}'`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new ActionFailure(`control_plane_url must be http(s), not '${u.protocol}'`);
  }
  return u.href.replace(/\/+$/, '');
}

export function cpClient(io: ActionIo, baseUrl: string, token: string | null): CpClient {
  return {
    baseUrl,
    async call(method, path, body) {
      let res: Response;
      try {
        res = await io.fetch(`${baseUrl}${path}`, {
          method,
          headers: {
            accept: 'application/json',
            'user-agent': 'easyenclave-github-action',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (err) {
        throw new ActionFailure(`Cannot reach the control plane at ${baseUrl}: ${causeOf(err)}`);
      }
      const text = await res.text();
      let parsed: any = undefined;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      if (!res.ok) {
        const detail =
          parsed && typeof parsed === 'object' && 'detail' in parsed
            ? typeof parsed.detail === 'string'
              ? parsed.detail
              : JSON.stringify(parsed.detail)
            : text.slice(0, 300) || res.statusText;
        throw new CpError(res.status, detail, method, path);
      }
      if (parsed === undefined && text) {
        throw new ActionFailure(
          `${method} ${path}: the control plane answered ${res.status} with non-JSON: ${text.slice(0, 200)}`,
        );
      }
      return { status: res.status, body: parsed as any };
    },
  };
}

/** What a CP refusal means for the person reading the failed step. */
export function explain(err: CpError, what: string): string {
  const head = `${what} failed: the control plane answered ${err.status}: ${err.detail}`;
  switch (err.status) {
    case 401:
      return (
        `${head}. The credential was refused: for OIDC, the 'audience' input must equal the control plane's ` +
        'github_oidc.audience setting and the job needs `permissions: id-token: write`; an api_key must be a live key.'
      );
    case 402:
      return `${head}. Deposit funds into the deployer account that pays for this deployment, then re-run.`;
    case 403:
      return `${head}. This credential may not do this (wrong account type, not a maintainer, or not your agent).`;
    case 404:
      return `${head}. Check the names (app, version, agent) and that the app is registered (register-app).`;
    case 409:
      return `${head}.`;
    case 422:
      return `${head}. The request was invalid; fix the input named above.`;
    case 503:
      return `${head}. No agent can take it now: see the placement issues above, or widen node_size/datacenter filters.`;
    default:
      return err.status >= 500 ? `${head}. The control plane had a problem; re-run later.` : `${head}.`;
  }
}
