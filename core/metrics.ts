/**
 * Prometheus metrics of one process (prom-client), served at GET /metrics (api/middleware/metrics.ts). One Metrics
 * per process, created by bin/ (or a test) and passed in through deps — never prom-client's global registry, so two
 * stacks in one test process never share counters.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  /** Koa request latency by method, route template (never the raw path: ids would explode the label set) and status. */
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  /**
   * GET/HEAD /health answered in front of Koa (api/routes/health.ts healthListener): a plain count, so a liveness
   * probe costs no histogram observation. /health answered through Koa (tests driving app.callback(), tracing on)
   * is in `httpDuration` like any route.
   */
  readonly healthRequests: Counter;
  /** Workflow executions started on this worker (first run only; continue-as-new is not a new start). */
  readonly workflowStarts: Counter<'workflow_type'>;
  /** Workflow executions that ended failed on this worker. */
  readonly workflowFailures: Counter<'workflow_type'>;
  /** Hourly billing runs by outcome (charged | skipped | failed). */
  readonly billingRuns: Counter<'outcome'>;
  /** Deployments charged and micro-dollars charged by the billing runs of this worker. */
  readonly billingDeploymentsCharged: Counter;
  readonly billingChargedMicros: Counter;
  /** POST /api/v1/agents/register latency as the agent sees it, by HTTP status. */
  readonly registrationDuration: Histogram<'status'>;
  /** Health sweep wall time, first run start → report (all batches and continue-as-new runs). */
  readonly sweepDuration: Histogram;
  /** Agents by status, read from the database at scrape time (set by `agentsByStatus`). */
  readonly agents: Gauge<'status'>;
}

export interface MetricsOptions {
  /** Counts of agents per status, read at each scrape. */
  agentsByStatus?: () => Promise<Record<string, number>>;
  /** Node process metrics (heap, RSS, event-loop lag, GC); default true. */
  processMetrics?: boolean;
}

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'easyenclave_' });
  const registers = [registry];
  const agentsByStatus = opts.agentsByStatus;
  return {
    registry,
    httpDuration: new Histogram({
      name: 'easyenclave_http_request_duration_seconds',
      help: 'API request latency by method, route template and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    healthRequests: new Counter({
      name: 'easyenclave_health_requests_total',
      help: 'GET/HEAD /health requests answered by the fast path in front of the API router (no latency histogram).',
      registers,
    }),
    workflowStarts: new Counter({
      name: 'easyenclave_workflow_starts_total',
      help: 'Workflow executions started, by type (continue-as-new runs are not counted again).',
      labelNames: ['workflow_type'],
      registers,
    }),
    workflowFailures: new Counter({
      name: 'easyenclave_workflow_failures_total',
      help: 'Workflow executions that failed, by type.',
      labelNames: ['workflow_type'],
      registers,
    }),
    billingRuns: new Counter({
      name: 'easyenclave_billing_runs_total',
      help: 'Hourly billing runs by outcome (charged, skipped, failed).',
      labelNames: ['outcome'],
      registers,
    }),
    billingDeploymentsCharged: new Counter({
      name: 'easyenclave_billing_deployments_charged_total',
      help: 'Deployments charged by billing runs.',
      registers,
    }),
    billingChargedMicros: new Counter({
      name: 'easyenclave_billing_charged_micros_total',
      help: 'Micro-dollars (1 USD = 1,000,000) charged by billing runs.',
      registers,
    }),
    registrationDuration: new Histogram({
      name: 'easyenclave_agent_registration_duration_seconds',
      help: 'POST /api/v1/agents/register latency, by HTTP status.',
      labelNames: ['status'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers,
    }),
    sweepDuration: new Histogram({
      name: 'easyenclave_health_sweep_duration_seconds',
      help: 'Agent health sweep wall time (all batches).',
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300],
      registers,
    }),
    agents: new Gauge({
      name: 'easyenclave_agents',
      help: 'Agents by status.',
      labelNames: ['status'],
      registers,
      async collect() {
        if (!agentsByStatus) return;
        this.reset();
        for (const [status, n] of Object.entries(await agentsByStatus())) this.set({ status }, n);
      },
    }),
  };
}
