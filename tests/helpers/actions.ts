/**
 * Runs a GitHub Action's committed bundle (`.github/actions/<name>/dist/index.mjs`) the way the runner does: a
 * `node` child process whose environment carries the inputs (`INPUT_<NAME>`), the job's OIDC runtime
 * (`ACTIONS_ID_TOKEN_REQUEST_URL`/`_TOKEN`, from the fake GitHub), and fresh `GITHUB_OUTPUT` /
 * `GITHUB_STEP_SUMMARY` files, which are parsed back (heredoc outputs).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FakeActionsJob } from '../fakes/github';

export const ROOT = new URL('../..', import.meta.url).pathname;

export interface ActionRun {
  code: number | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  /** The `::error::` annotations, unescaped. */
  errors: string[];
}

/** `name<<delimiter\nvalue\ndelimiter` blocks (and plain `name=value` lines) of a GITHUB_OUTPUT file. */
export function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== heredoc[2]; i++) value.push(lines[i]!);
      out[heredoc[1]!] = value.join('\n');
    } else if (line.includes('=')) {
      out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return out;
}

const unescape = (s: string) => s.replace(/%0A/g, '\n').replace(/%0D/g, '\r').replace(/%25/g, '%');

export async function runActionBundle(
  name: 'deploy' | 'register-app' | 'publish',
  inputs: Record<string, string>,
  opts: {
    job?: FakeActionsJob | null;
    workspace?: string;
    env?: Record<string, string>;
    log?: (line: string) => void;
  } = {},
): Promise<ActionRun> {
  const dir = mkdtempSync(join(tmpdir(), `action-${name}-`));
  const outputFile = join(dir, 'output');
  const summaryFile = join(dir, 'summary');
  writeFileSync(outputFile, '');
  writeFileSync(summaryFile, '');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    GITHUB_ACTIONS: 'true',
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_WORKSPACE: opts.workspace ?? dir,
    GITHUB_REPOSITORY: 'octo-org/app',
    GITHUB_SHA: 'd6e5f4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b',
    GITHUB_REF: 'refs/heads/main',
    GITHUB_REF_NAME: 'main',
    ...(opts.job
      ? { ACTIONS_ID_TOKEN_REQUEST_URL: opts.job.requestUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: opts.job.requestToken }
      : {}),
    ...opts.env,
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.replace(/ /g, '_').toUpperCase()}`] = v;
  try {
    const child = spawn(process.execPath, [join(ROOT, '.github', 'actions', name, 'dist', 'index.mjs')], {
      env,
      cwd: opts.workspace ?? dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (!opts.log) return;
      pending += c.toString();
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const l of parts) opts.log(l);
    });
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    const errors = stdout
      .split('\n')
      .filter((l) => l.startsWith('::error::'))
      .map((l) => unescape(l.slice('::error::'.length)));
    return {
      code,
      stdout,
      stderr,
      outputs: parseOutputFile(readFileSync(outputFile, 'utf8')),
      summary: readFileSync(summaryFile, 'utf8'),
      errors,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
