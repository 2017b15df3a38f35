import { WorkflowFailedError } from '@temporalio/client';
import type { Context } from 'koa';
import { HttpError } from '../http/errors';
import type { AppDeps } from '../deps';

/** Who made an admin change, as recorded in the workflow input. */
export function actorOf(ctx: Context): string {
  const s = ctx.state.session;
  if (!s) return 'anonymous';
  return s.auth_method === 'github_oauth' && s.github_login
    ? `github:${s.github_login}`
    : `${s.auth_method}:${s.session_id}`;
}

/** Await an admin-change workflow; a failed or timed-out run answers 503 with the reason. */
export async function runAdminWorkflow<T>(deps: AppDeps, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      deps.logger.error(`admin change workflow failed: ${err.cause?.message ?? err.message}`);
      throw new HttpError(503, `The change could not be applied: ${err.cause?.message ?? err.message}`);
    }
    throw err;
  }
}
