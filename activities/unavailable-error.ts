/**
 * A transient failure of an outside system (agent HTTP, Cloudflare, …): deliberately a plain Error, not an
 * ApplicationFailure, so Temporal's retry policy keeps trying; each subclass sets `name` to its failure type
 * (workflows/contracts/failures.ts), which is what a workflow sees once the retries are exhausted.
 */
export abstract class UnavailableError extends Error {
  abstract override readonly name: string;
  constructor(
    message: string,
    /** The HTTP status that made it transient (5xx, 429), or null without an answer. */
    readonly status: number | null,
  ) {
    super(message);
  }
}
