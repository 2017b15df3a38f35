/** Capped exponential backoff and an abortable sleep: every retry loop of the agent uses these. */

export interface BackoffPolicy {
  /** First delay (ms). */
  initialMs: number;
  /** Upper bound of any delay (ms). */
  maxMs: number;
  /** Growth factor per attempt (default 2). */
  factor?: number;
}

/** Delay before retry number `attempt` (1-based): initial · factor^(attempt-1), capped. */
export function backoffDelay(policy: BackoffPolicy, attempt: number): number {
  const d = policy.initialMs * Math.pow(policy.factor ?? 2, Math.max(0, attempt - 1));
  return Math.min(policy.maxMs, Math.round(d));
}

export class AbortedError extends Error {
  override readonly name = 'AbortedError';
}

/** Resolves after `ms`, or rejects with AbortedError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError('aborted'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new AbortedError('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
