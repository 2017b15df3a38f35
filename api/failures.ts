/**
 * Typed workflow failures → HTTP, in one place: the ApplicationFailure `type` (workflows/contracts/failures.ts) picks
 * the status; the message becomes the `{detail}`. Routes call `httpErrorOf` instead of reading causes or message
 * text themselves.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { HttpError } from './http/errors';
import { AgentFailure, DeploymentFailure, applicationFailureOf } from '../workflows/contracts/failures';

const STATUS_OF_TYPE: Readonly<Record<string, number>> = {
  [AgentFailure.NoAddress]: 400,
  [AgentFailure.NotFound]: 502,
  [AgentFailure.Rejected]: 502,
  [AgentFailure.Unavailable]: 502,
  [DeploymentFailure.ComposeNotStaged]: 500,
};

/** Longest failure message quoted in a `{detail}`. */
const MAX_DETAIL_CHARS = 240;

/**
 * The HttpError for a failed workflow call: an HttpError passes through; a typed failure gets its mapped status
 * (`fallbackStatus` for an unmapped type, or an untyped workflow failure) and `prefix: <message>`; anything else is
 * rethrown for the error middleware (500, or 503 when Temporal is unreachable).
 */
export function httpErrorOf(err: unknown, prefix: string, fallbackStatus = 502): HttpError {
  if (err instanceof HttpError) return err;
  const failure = applicationFailureOf(err);
  if (!failure) {
    // The workflow failed without a typed failure (timed out, terminated): still the outside call that failed.
    if (err instanceof WorkflowFailedError) {
      const why = err.cause?.message ?? err.message;
      return new HttpError(fallbackStatus, `${prefix}: ${why}`.slice(0, MAX_DETAIL_CHARS));
    }
    throw err;
  }
  const status = (failure.type && STATUS_OF_TYPE[failure.type]) || fallbackStatus;
  return new HttpError(status, `${prefix}: ${failure.message}`.slice(0, MAX_DETAIL_CHARS));
}
