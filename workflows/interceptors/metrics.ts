/**
 * Workflow interceptor module (bundled through `workflowInterceptorModules`, bin/lib/worker.ts): tells the worker
 * process when an execution starts and how it ends, through the `metrics` sink. Sinks are not recorded in history
 * and, by default, not called during replay, so a replayed or evicted-and-rebuilt workflow is never counted twice,
 * and the command sequence of every workflow is unchanged (the replay corpus stays valid).
 */
import {
  ContinueAsNew,
  proxySinks,
  workflowInfo,
  type Next,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
} from '@temporalio/workflow';
import type { MetricsSinks, WorkflowOutcome } from '../contracts/metrics-sinks';

const { metrics } = proxySinks<MetricsSinks>();

class MetricsInboundInterceptor implements WorkflowInboundCallsInterceptor {
  async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    // A continued run is the same execution as far as "starts" go.
    if (workflowInfo().continuedFromExecutionRunId === undefined) metrics.started();
    try {
      const result = await next(input);
      metrics.finished('completed', summary(result));
      return result;
    } catch (err) {
      const outcome: WorkflowOutcome = err instanceof ContinueAsNew ? 'continued' : 'failed';
      metrics.finished(outcome, null);
      throw err;
    }
  }
}

/** Only small numeric/string fields cross the sink (a billing run's totals), never whole results. */
function summary(result: unknown): Record<string, number | string> | null {
  if (typeof result !== 'object' || result === null || Array.isArray(result)) return null;
  const out: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(result as Record<string, unknown>)) {
    if (typeof v === 'number' || (typeof v === 'string' && v.length <= 64)) out[k] = v;
  }
  return out;
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [new MetricsInboundInterceptor()] });
