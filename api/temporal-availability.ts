/**
 * Temporal being unreachable, in ONE place: the client connection's deadline on short calls, the mapping of the
 * resulting gRPC failures to 503, and the connectivity probe behind /health and /ready. Failures are recognised by
 * class and gRPC status code, never by message text.
 */
import {
  defaultGrpcRetryOptions,
  isGrpcServiceError,
  makeGrpcRetryInterceptor,
  type Client,
  type ConnectionOptions,
} from '@temporalio/client';
import { serviceUnavailable, type HttpError } from './http/errors';

/** gRPC status codes (grpc.status) that mean "the orchestrator did not answer". */
const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;

/**
 * Calls that answer at once on a healthy server. Long polls (a workflow's result, an update's outcome) are left
 * without a deadline: they wait by design.
 */
const SHORT_CALLS = new Set(
  [
    'StartWorkflowExecution',
    'SignalWorkflowExecution',
    'SignalWithStartWorkflowExecution',
    'DescribeWorkflowExecution',
    'QueryWorkflow',
    'RequestCancelWorkflowExecution',
    'TerminateWorkflowExecution',
    'GetSystemInfo',
  ].map((m) => `/temporal.api.workflowservice.v1.WorkflowService/${m}`),
);

type Interceptor = NonNullable<ConnectionOptions['interceptors']>[number];

/**
 * Connection options of the API's Temporal client: short calls get a deadline of `callDeadlineMs` and the SDK's
 * usual retries (UNAVAILABLE …) only within it — the default retry interceptor alone would retry an unreachable
 * server for ~20 s per call, and would sleep past a deadline between attempts. Other calls keep the default.
 */
export function apiConnectionOptions(callDeadlineMs: number): Pick<ConnectionOptions, 'interceptors'> {
  const base = defaultGrpcRetryOptions();
  const defaultRetry = makeGrpcRetryInterceptor(base);
  const bounded: Interceptor = (options, nextCall) => {
    if (options.deadline !== undefined || !SHORT_CALLS.has(options.method_definition.path)) {
      return defaultRetry(options, nextCall);
    }
    const deadline = Date.now() + callDeadlineMs;
    const retry = makeGrpcRetryInterceptor({
      // The last attempt happens at the deadline (and fails DEADLINE_EXCEEDED at once) instead of after it.
      delayFunction: (attempt, status) =>
        Math.min(base.delayFunction(attempt, status), Math.max(0, deadline - Date.now())),
      retryableDecider: (attempt, status) => Date.now() < deadline && base.retryableDecider(attempt, status),
    });
    return retry({ ...options, deadline }, nextCall);
  };
  return { interceptors: [bounded] };
}

export const ORCHESTRATOR_UNAVAILABLE = 'The orchestrator (Temporal) is unavailable; try again shortly';

/** 503 for a failure that means Temporal could not be reached (directly, or as the cause of an SDK error). */
export function temporalUnavailableError(err: unknown): HttpError | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (isGrpcServiceError(e) && (e.code === UNAVAILABLE || e.code === DEADLINE_EXCEEDED)) {
      return serviceUnavailable(ORCHESTRATOR_UNAVAILABLE);
    }
  }
  return undefined;
}

/** True when the Temporal frontend answers within `timeoutMs` (a healthy one answers in milliseconds). */
export async function temporalReachable(client: Client, timeoutMs: number): Promise<boolean> {
  try {
    await client.connection.withDeadline(Date.now() + timeoutMs, () => client.workflowService.getSystemInfo({}));
    return true;
  } catch {
    return false;
  }
}
