/**
 * The launcher's closed vocabulary of failures. Every command maps a LauncherError to its exit code and prints
 * `error: <message>` (or `{"error": …}` with --json); anything else is an internal error (exit 1), still without a
 * stack trace unless EE_DEBUG is set.
 */
export const EXIT = {
  ok: 0,
  /** The operation failed: QEMU did not start, no measurement, control plane request failed, order failed. */
  failed: 1,
  /** Bad command line or input: unknown flag, unknown size, malformed URL or name. */
  usage: 2,
  /** The host is not ready: no KVM device, no TDX, QEMU missing (preflight). */
  host: 3,
  /** Something named does not exist: VM, image. */
  notFound: 4,
  /** Interrupted (Ctrl-C). */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class LauncherError extends Error {
  override readonly name = 'LauncherError';
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.failed,
    /** A step a person can act on, printed under the message. */
    readonly remedy?: string,
  ) {
    super(message);
  }
}

export const usageError = (m: string, remedy?: string) => new LauncherError(m, EXIT.usage, remedy);
export const notFoundError = (m: string, remedy?: string) => new LauncherError(m, EXIT.notFound, remedy);
export const hostError = (m: string, remedy?: string) => new LauncherError(m, EXIT.host, remedy);
