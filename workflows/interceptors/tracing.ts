/**
 * Workflow interceptor module for OpenTelemetry (bundled only when tracing is on, bin/lib/worker.ts): workflow and
 * activity-scheduling spans, continued from the trace context the API's client interceptor put in the start headers.
 * Spans leave the sandbox through the `exporter` sink, which the worker wires to the OTLP exporter.
 */
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow';
import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';

export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [new OpenTelemetryInboundInterceptor()],
  outbound: [new OpenTelemetryOutboundInterceptor()],
  internals: [new OpenTelemetryInternalsInterceptor()],
});
