/**
 * The Temporal SDK's logger (worker, bundler, Rust core) routed through ours, so a process prints one log format.
 * Below WARN is dropped: the SDK's INFO includes webpack's module listing of the workflow bundle and worker state
 * chatter, which a person starting the control plane does not need.
 */
import { Runtime, type LogLevel as SdkLogLevel, type LogMetadata } from '@temporalio/worker';
import type { Logger } from '../../core/logger';

const RANK: Record<SdkLogLevel, number> = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4 };

export function sdkLoggerOf(logger: Logger, minLevel: SdkLogLevel = 'WARN') {
  const sdk = logger.child('temporal');
  const log = (level: SdkLogLevel, message: string, meta?: LogMetadata) => {
    if (RANK[level] < RANK[minLevel]) return;
    const text = meta && Object.keys(meta).length > 0 ? `${message} ${JSON.stringify(meta)}` : message;
    if (level === 'ERROR') sdk.error(text);
    else sdk.warn(text);
  };
  return {
    log,
    trace: (m: string, meta?: LogMetadata) => log('TRACE', m, meta),
    debug: (m: string, meta?: LogMetadata) => log('DEBUG', m, meta),
    info: (m: string, meta?: LogMetadata) => log('INFO', m, meta),
    warn: (m: string, meta?: LogMetadata) => log('WARN', m, meta),
    error: (m: string, meta?: LogMetadata) => log('ERROR', m, meta),
  };
}

/**
 * Installs the SDK runtime once per process, before any Worker or NativeConnection: our logger, and no signal
 * handlers of its own — the process shuts down in the SDK's order itself (worker.shutdown → await run → close the
 * connections), instead of the SDK draining the worker behind its back on SIGINT.
 *
 * `sdkMetricsAddress` (TEMPORAL_SDK_METRICS_ADDRESS, `host:port`): the Rust core's own Prometheus exporter serves the
 * SDK's metrics (`temporal_workflow_completed`, `temporal_activity_execution_latency`, poll and slot gauges …) at
 * `http://<address>/metrics`. It has no authentication: bind it to a private address. Our own metrics stay on
 * METRICS_PORT; a scraper takes both.
 */
export function installSdkRuntime(logger: Logger, opts: { sdkMetricsAddress?: string | null } = {}): void {
  Runtime.install({
    logger: sdkLoggerOf(logger),
    shutdownSignals: [],
    ...(opts.sdkMetricsAddress
      ? { telemetryOptions: { metrics: { prometheus: { bindAddress: opts.sdkMetricsAddress } } } }
      : {}),
  });
}
