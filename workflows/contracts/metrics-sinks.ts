/** The `metrics` sink workflows call (workflows/interceptors/metrics.ts) and the worker implements (bin/lib/worker.ts). */
import type { Sinks } from '@temporalio/workflow';

export type WorkflowOutcome = 'completed' | 'failed' | 'continued';

export interface MetricsSinks extends Sinks {
  metrics: {
    started(): void;
    finished(outcome: WorkflowOutcome, summary: Record<string, number | string> | null): void;
  };
}
