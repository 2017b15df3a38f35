/**
 * The parts of the GitHub Actions toolkit (@actions/core) the actions need, by hand and over an injected
 * environment so tests run a step exactly as the runner does:
 * - inputs arrive as env `INPUT_<NAME>` (name upper-cased, spaces → `_`), trimmed;
 * - outputs and the job summary are appended to the files named by `GITHUB_OUTPUT` / `GITHUB_STEP_SUMMARY`
 *   (outputs in the heredoc form `name<<delimiter`, so multi-line values survive);
 * - `::error::` / `::warning::` / `::add-mask::` workflow commands go to stdout with the toolkit's escaping.
 * An expected failure is an `ActionFailure`: its message becomes one `::error::` line and the step exits 1 —
 * never a stack trace.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';

export type Env = Record<string, string | undefined>;

export interface ActionIo {
  env: Env;
  stdout(text: string): void;
  fetch: typeof fetch;
  sleep(ms: number): Promise<void>;
}

/** A failure the user can act on: printed as an `::error::` annotation, exit code 1. */
export class ActionFailure extends Error {
  override readonly name = 'ActionFailure';
}

export function processIo(): ActionIo {
  return {
    env: process.env,
    stdout: (text) => void process.stdout.write(text),
    fetch: globalThis.fetch,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  };
}

/** Workflow-command data escaping (@actions/core `escapeData`). */
export function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

export function inputKey(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;
}

export function getInput(io: ActionIo, name: string, opts: { required?: boolean; default?: string } = {}): string {
  const v = (io.env[inputKey(name)] ?? '').trim();
  if (v) return v;
  if (opts.required) throw new ActionFailure(`Input required and not supplied: ${name}`);
  return opts.default ?? '';
}

export function getBooleanInput(io: ActionIo, name: string, fallback = false): boolean {
  const v = getInput(io, name);
  if (!v) return fallback;
  if (['true', 'True', 'TRUE'].includes(v)) return true;
  if (['false', 'False', 'FALSE'].includes(v)) return false;
  throw new ActionFailure(`Input ${name} must be true or false, not '${v}'`);
}

export function getIntInput(io: ActionIo, name: string, fallback: number, min = 0): number {
  const v = getInput(io, name);
  if (!v) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ActionFailure(`Input ${name} must be an integer ≥ ${min}, not '${v}'`);
  return n;
}

/** A comma- or newline-separated list; items trimmed, empty ones dropped. */
export function getListInput(io: ActionIo, name: string): string[] {
  return getInput(io, name)
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export function info(io: ActionIo, line: string): void {
  io.stdout(`${line}\n`);
}

export function warning(io: ActionIo, message: string): void {
  io.stdout(`::warning::${escapeData(message)}\n`);
}

export function error(io: ActionIo, message: string): void {
  io.stdout(`::error::${escapeData(message)}\n`);
}

/** The runner replaces the value with *** in every later log line. */
export function mask(io: ActionIo, secret: string): void {
  if (secret) io.stdout(`::add-mask::${escapeData(secret)}\n`);
}

export function group<T>(io: ActionIo, title: string, fn: () => Promise<T>): Promise<T> {
  io.stdout(`::group::${escapeData(title)}\n`);
  return fn().finally(() => io.stdout('::endgroup::\n'));
}

/** Appends `name<<ghadelimiter_<uuid>` … to $GITHUB_OUTPUT (and logs it); without the file (a local run) only logs. */
export function setOutput(io: ActionIo, name: string, value: string): void {
  const file = io.env.GITHUB_OUTPUT;
  if (file) {
    const delimiter = `ghadelimiter_${randomUUID()}`;
    if (value.includes(delimiter) || name.includes(delimiter)) throw new Error('output value contains the delimiter');
    appendFileSync(file, `${name}<<${delimiter}\n${value}\n${delimiter}\n`);
  }
  info(io, `output ${name}=${value}`);
}

/** Appends markdown to the job summary ($GITHUB_STEP_SUMMARY), if the runner gave one. */
export function appendSummary(io: ActionIo, markdown: string): void {
  const file = io.env.GITHUB_STEP_SUMMARY;
  if (file) appendFileSync(file, markdown.endsWith('\n') ? markdown : `${markdown}\n`);
}

/** Markdown table cell: pipes and newlines escaped. */
export function cell(v: unknown): string {
  return String(v ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n/g, ' ');
}

/**
 * Runs a step: 0 on success; an ActionFailure → its message as `::error::`, 1; anything else → one `::error::`
 * line naming it as unexpected (the stack only with RUNNER_DEBUG=1, GitHub's "debug logging" switch), 1.
 */
export async function runAction(io: ActionIo, main: () => Promise<void>): Promise<number> {
  try {
    await main();
    return 0;
  } catch (err) {
    if (err instanceof ActionFailure) {
      error(io, err.message);
    } else {
      const e = err as Error;
      error(io, `Unexpected error: ${e?.message ?? String(err)}`);
      if (io.env.RUNNER_DEBUG === '1' && e?.stack) io.stdout(`::debug::${escapeData(e.stack)}\n`);
    }
    return 1;
  }
}
