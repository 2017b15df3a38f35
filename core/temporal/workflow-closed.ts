/**
 * One test, by type and code, for "that workflow is not running any more": the SDK's WorkflowNotFoundError, or the
 * server's gRPC NOT_FOUND (code 5) — what a signal or update to an execution that already completed answers, on
 * the error itself or as the cause of the SDK's ServiceError. Never by message text.
 */
import { WorkflowNotFoundError, isGrpcServiceError } from '@temporalio/client';

const GRPC_NOT_FOUND = 5;

export function isWorkflowClosed(err: unknown): boolean {
  if (err instanceof WorkflowNotFoundError) return true;
  const cause = (err as { cause?: unknown } | null)?.cause;
  return [err, cause].some((e) => isGrpcServiceError(e) && e.code === GRPC_NOT_FOUND);
}
