/**
 * Worker sizing (core/config.ts `temporal.worker`, bin/lib/worker.ts workerSizing): the SDK would size its sticky
 * workflow cache from the V8 heap limit (~2,300 workflows on a 24 GiB host), so `npm start` and `npm run worker`
 * pass a bounded, configurable one (docs/performance.md, Memory).
 */
import { describe, expect, it } from 'vitest';
import { workerSizing } from '../../bin/lib/worker';
import { loadConfig } from '../../core/config';

describe('worker sizing', () => {
  it('bounds the workflow cache and activity concurrency by default', () => {
    expect(workerSizing(loadConfig({}).temporal.worker)).toEqual({
      maxCachedWorkflows: 500,
      maxConcurrentActivityTaskExecutions: 100,
      maxConcurrentWorkflowTaskExecutions: 128,
    });
  });

  it('takes TEMPORAL_MAX_CACHED_WORKFLOWS, TEMPORAL_MAX_CONCURRENT_ACTIVITIES and _WORKFLOW_TASKS', () => {
    const env = {
      TEMPORAL_MAX_CACHED_WORKFLOWS: '0',
      TEMPORAL_MAX_CONCURRENT_ACTIVITIES: '16',
      TEMPORAL_MAX_CONCURRENT_WORKFLOW_TASKS: '8',
    };
    expect(workerSizing(loadConfig(env).temporal.worker)).toEqual({
      maxCachedWorkflows: 0,
      maxConcurrentActivityTaskExecutions: 16,
      maxConcurrentWorkflowTaskExecutions: 8,
    });
  });
});
