/**
 * OpenTelemetry tracing of one process, on only when OTEL_EXPORTER_OTLP_ENDPOINT is set (bin/lib/observability.ts):
 * spans API request → Temporal client start → workflow → activity, exported by OTLP/HTTP (JSON) to
 * `<endpoint>/v1/traces`. The provider is passed around, never registered globally, so two stacks in one test
 * process stay apart; only the context manager (AsyncLocalStorage, needed for parent/child spans across awaits)
 * and the W3C propagator are process-wide, as OpenTelemetry requires.
 */
import { context, propagation, ROOT_CONTEXT, type Context, type ContextManager, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { AsyncLocalStorage } from 'node:async_hooks';

export interface Tracing {
  readonly tracer: Tracer;
  readonly resource: Resource;
  readonly spanProcessor: SpanProcessor;
  /** Flush pending spans and stop exporting. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** OTLP base URL (OTEL_EXPORTER_OTLP_ENDPOINT), e.g. http://collector:4318. */
  endpoint: string;
  /** OTEL_SERVICE_NAME; default easyenclave. */
  serviceName?: string;
  /** Extra OTLP headers (OTEL_EXPORTER_OTLP_HEADERS, `k=v,k2=v2`). */
  headers?: Record<string, string>;
  /** Export each span at once (tests) instead of in batches. */
  immediate?: boolean;
}

/** The smallest AsyncLocalStorage context manager (what @opentelemetry/context-async-hooks provides). */
class AlsContextManager implements ContextManager {
  private readonly als = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.als.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.als.run(ctx, () => fn.apply(thisArg, args));
  }
  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const run = (...args: unknown[]) => this.with(ctx, () => (target as (...a: unknown[]) => unknown)(...args));
    return run as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.als.disable();
    return this;
  }
}

export function parseOtlpHeaders(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (text ?? '').split(',')) {
    const i = part.indexOf('=');
    if (i > 0) out[decodeURIComponent(part.slice(0, i).trim())] = decodeURIComponent(part.slice(i + 1).trim());
  }
  return out;
}

export function createTracing(opts: TracingOptions): Tracing {
  // Global by OpenTelemetry's design: the first one registered wins (a second call is refused, silently).
  context.setGlobalContextManager(new AlsContextManager());
  // W3C trace context is how the Temporal interceptors carry a span across start → workflow → activity headers.
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const resource = new Resource({ 'service.name': opts.serviceName ?? 'easyenclave' });
  const exporter = new OTLPTraceExporter({
    url: `${opts.endpoint.replace(/\/+$/, '')}/v1/traces`,
    headers: opts.headers ?? {},
  });
  const spanProcessor = opts.immediate ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter);
  const provider = new BasicTracerProvider({ resource, spanProcessors: [spanProcessor] });
  return {
    tracer: provider.getTracer('easyenclave'),
    resource,
    spanProcessor,
    shutdown: () => provider.shutdown(),
  };
}
