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
import { serviceUnavailable, type HttpError } from '../core/errors';

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
 * Connection options of the API's Temporal client: short calls get a deadline of `callDeadlineMs` (the default
 * retry interceptor would otherwise retry an unreachable server for ~20 s per call), then the SDK's usual retries
 * within it.
 */
export function apiConnectionOptions(callDeadlineMs: number): Pick<ConnectionOptions, 'interceptors'> {
  // Returns the next call as is (grpc-js only uses its InterceptingCallInterface); the cast spares a direct
  // dependency on @grpc/grpc-js for its InterceptingCall wrapper.
  const deadline: Interceptor = (options, nextCall) =>
    nextCall(
      options.deadline === undefined && SHORT_CALLS.has(options.method_definition.path)
        ? { ...options, deadline: Date.now() + callDeadlineMs }
        : options,
    ) as ReturnType<Interceptor>;
  return { interceptors: [deadline, makeGrpcRetryInterceptor(defaultGrpcRetryOptions())] };
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

/** True when the Temporal frontend answers within `timeoutMs`. */
export async function temporalReachable(client: Client, timeoutMs = 1500): Promise<boolean> {
  try {
    await client.connection.withDeadline(Date.now() + timeoutMs, () => client.workflowService.getSystemInfo({}));
    return true;
  } catch {
    return false;
  }
}
