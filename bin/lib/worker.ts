/**
 * The Temporal worker: every workflow of workflows/index.ts and every activity of
 * activities/index.ts on one task queue. Development loads workflow code from source;
 * production (and the test harness) may pass a prebuilt bundle.
 *
 * Observability: the `metrics` sink (workflows/interceptors/metrics.ts) feeds workflow starts/failures and billing
 * totals into the process's Prometheus metrics; with tracing on, activity spans and the workflow spans of
 * workflows/interceptors/tracing.ts go to the OTLP exporter.
 */
import { makeWorkflowExporter, OpenTelemetryActivityInboundInterceptor } from '@temporalio/interceptors-opentelemetry';
import {
  bundleWorkflowCode,
  type InjectedSinks,
  type NativeConnection,
  Worker,
  type WorkerOptions,
} from '@temporalio/worker';
import type { Context } from '@temporalio/activity';
import { fileURLToPath } from 'node:url';
import { createActivities, type ActivityDeps } from '../../activities';
import type { RuntimeConfig } from '../../core/config';
import type { Metrics } from '../../core/metrics';
import { dataConverterFor } from '../../core/temporal/codec';
import type { Tracing } from '../../core/tracing';
import type { MetricsSinks } from '../../workflows/contracts/metrics-sinks';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));
const METRICS_MODULE = fileURLToPath(new URL('../../workflows/interceptors/metrics.ts', import.meta.url));
const TRACING_MODULE = fileURLToPath(new URL('../../workflows/interceptors/tracing.ts', import.meta.url));
/** Interceptor modules every bundle carries; `tracing` adds the OpenTelemetry workflow interceptors. */
export const WORKFLOW_INTERCEPTOR_MODULES = [METRICS_MODULE];
export const TRACING_WORKFLOW_INTERCEPTOR_MODULES = [METRICS_MODULE, TRACING_MODULE];

export function workflowInterceptorModules(tracing: boolean): string[] {
  return tracing ? TRACING_WORKFLOW_INTERCEPTOR_MODULES : WORKFLOW_INTERCEPTOR_MODULES;
}

/** The workflow bundle with its interceptor modules (a bundle without them records no workflow metrics). */
export async function bundleWorkflows(
  opts: { tracing?: boolean; logger?: Parameters<typeof bundleWorkflowCode>[0]['logger'] } = {},
): Promise<{ code: string }> {
  return bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: workflowInterceptorModules(opts.tracing === true),
    logger: opts.logger,
  });
}

export interface WorkerSetup {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activityDeps: ActivityDeps;
  /** Prebuilt bundle code (bundleWorkflows); default: bundle from source at start. */
  workflowBundle?: { code: string };
  /** Tracing of this process (core/tracing.ts); a prebuilt bundle then needs `bundleWorkflows({ tracing: true })`. */
  tracing?: Tracing;
  options?: Partial<WorkerOptions>;
}

/** Worker options of the configured sizing (core/config.ts `temporal.worker`). */
export function workerSizing(sizing: RuntimeConfig['temporal']['worker']): Partial<WorkerOptions> {
  return {
    maxCachedWorkflows: sizing.maxCachedWorkflows,
    maxConcurrentActivityTaskExecutions: sizing.maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: sizing.maxConcurrentWorkflowTasks,
  };
}

/** Worker-side implementation of the `metrics` sink; never called during replay (the sink default). */
function metricsSinks(metrics: Metrics | undefined): InjectedSinks<MetricsSinks> {
  return {
    metrics: {
      started: { fn: (info) => metrics?.workflowStarts.inc({ workflow_type: info.workflowType }) },
      finished: {
        fn: (info, outcome, summary) => {
          if (!metrics) return;
          if (outcome === 'failed') metrics.workflowFailures.inc({ workflow_type: info.workflowType });
          if (info.workflowType !== 'billingRun' || outcome === 'continued') return;
          if (outcome === 'failed') return metrics.billingRuns.inc({ outcome: 'failed' });
          if (summary && 'skipped' in summary) return metrics.billingRuns.inc({ outcome: 'skipped' });
          metrics.billingRuns.inc({ outcome: 'charged' });
          const n = (k: string) => (typeof summary?.[k] === 'number' ? (summary[k] as number) : 0);
          metrics.billingDeploymentsCharged.inc(n('deploymentsCharged'));
          metrics.billingChargedMicros.inc(n('chargedMicros'));
        },
      },
    },
  };
}

export async function createWorker(setup: WorkerSetup): Promise<Worker> {
  const tracing = setup.tracing;
  const logger = setup.activityDeps.logger;
  return Worker.create({
    connection: setup.connection,
    namespace: setup.namespace,
    taskQueue: setup.taskQueue,
    activities: createActivities(setup.activityDeps),
    // Every payload leaves the worker encrypted under the install's key (core/temporal/codec.ts).
    dataConverter: dataConverterFor(setup.activityDeps.sealingKey),
    ...(setup.workflowBundle ? { workflowBundle: setup.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    interceptors: {
      ...(setup.workflowBundle ? {} : { workflowModules: workflowInterceptorModules(tracing !== undefined) }),
      activity: [
        // Log lines of an activity carry its workflow id, run id and name (core/logger.ts).
        (ctx) => ({
          inbound: {
            execute: (input, next) =>
              logger.buffer.withContext(
                {
                  workflow_id: ctx.info.workflowExecution?.workflowId,
                  run_id: ctx.info.workflowExecution?.runId,
                  activity: ctx.info.activityType,
                },
                () => next(input),
              ),
          },
        }),
        ...(tracing
          ? [
              (ctx: Context) => ({
                inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer: tracing.tracer }),
              }),
            ]
          : []),
      ],
    },
    sinks: {
      ...metricsSinks(setup.activityDeps.metrics),
      ...(tracing ? { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) } : {}),
    },
    // In-flight activities get time to finish on Ctrl-C before they are cancelled.
    shutdownGraceTime: '5 seconds',
    ...setup.options,
  });
}
