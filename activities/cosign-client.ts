/**
 * `cosign verify` as a subprocess (the real sigstore binary, pinned by scripts/tools.mjs). Two ways to trust a
 * signer, chosen by settings:
 * - a public key (`operational.cosign_public_key`, PEM): `cosign verify --key <file>`; the signer identity recorded
 *   is `key:sha256:<fingerprint of the PEM>`;
 * - keyless (no key set): `--certificate-oidc-issuer` + `--certificate-identity-regexp` against Fulcio
 *   certificates, with the transparency log at `operational.cosign_rekor_url`; the identity is the certificate
 *   subject. A transparency log that cannot be reached is reported as such before cosign runs.
 * `operational.cosign_ignore_tlog` adds `--insecure-ignore-tlog=true` (keys used with `--tlog-upload=false`).
 * The result is data (`verified` true/false with the reason); only a missing binary is an error of the caller.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CosignOptions {
  bin: string;
  publicKey: string;
  oidcIssuer: string;
  identityRegexp: string;
  rekorUrl: string;
  ignoreTlog: boolean;
  /** The registry speaks plain http (local registries). */
  allowHttp: boolean;
  timeoutMs?: number;
  fetch?: typeof globalThis.fetch;
  signal?: AbortSignal;
}

export interface CosignResult {
  verified: boolean;
  signedBy: string | null;
  error: string | null;
  transparencyLogIndex: number | null;
}

export class CosignMissingError extends Error {
  override readonly name = 'CosignMissingError';
}

function run(bin: string, args: string[], timeoutMs: number, signal?: AbortSignal) {
  return new Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }>((resolve, reject) => {
    const child = spawn(bin, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      // No ambient sigstore config: cosign must not pick up a developer's credentials or cache.
      env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), COSIGN_YES: 'true' },
      signal,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT') reject(new CosignMissingError(`${bin} binary not found`));
      else reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

/** First meaningful line of cosign's stderr (it prefixes errors with `Error: `). */
function firstError(stderr: string, stdout: string): string {
  const lines = `${stderr}\n${stdout}`
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('WARNING'));
  const err = lines.find((l) => l.startsWith('Error:')) ?? lines[0];
  return (err ?? 'cosign verify failed').replace(/^Error:\s*/, '').slice(0, 300);
}

export async function cosignVerify(ref: string, o: CosignOptions): Promise<CosignResult> {
  const keyless = o.publicKey.trim() === '';
  const args = ['verify', '--output', 'json'];
  if (o.allowHttp) args.push('--allow-http-registry', '--allow-insecure-registry');
  if (o.ignoreTlog) args.push('--insecure-ignore-tlog=true');
  else args.push('--rekor-url', o.rekorUrl);

  if (keyless && !o.ignoreTlog) {
    // cosign would fail deep inside a TUF/Rekor fetch with a confusing message; say what is wrong instead.
    const fetchImpl = o.fetch ?? ((i, init) => globalThis.fetch(i, init));
    try {
      const r = await fetchImpl(`${o.rekorUrl.replace(/\/+$/, '')}/api/v1/log`, { signal: AbortSignal.timeout(5000) });
      await r.arrayBuffer();
      if (r.status >= 500) throw new Error(`HTTP ${r.status}`);
    } catch (err) {
      const why = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
      return {
        verified: false,
        signedBy: null,
        transparencyLogIndex: null,
        error: `transparency log ${o.rekorUrl} is unreachable (${why}); keyless signatures cannot be verified`,
      };
    }
  }

  let dir: string | null = null;
  try {
    if (keyless) {
      args.push('--certificate-oidc-issuer', o.oidcIssuer, '--certificate-identity-regexp', o.identityRegexp);
    } else {
      dir = await mkdtemp(join(tmpdir(), 'ee-cosign-'));
      const keyFile = join(dir, 'cosign.pub');
      await writeFile(keyFile, o.publicKey.trim() + '\n');
      args.push('--key', keyFile);
    }
    args.push(ref);
    const r = await run(o.bin, args, o.timeoutMs ?? 120_000, o.signal);
    if (r.timedOut) {
      return {
        verified: false,
        signedBy: null,
        transparencyLogIndex: null,
        error: `cosign verify timed out for ${ref}`,
      };
    }
    if (r.code !== 0) {
      return { verified: false, signedBy: null, transparencyLogIndex: null, error: firstError(r.stderr, r.stdout) };
    }
    const idx = /"logIndex"\s*:\s*(\d+)/.exec(r.stdout);
    let subject: string | null = null;
    try {
      const parsed = JSON.parse(r.stdout) as { optional?: { Subject?: unknown } }[];
      const s = parsed[0]?.optional?.Subject;
      subject = typeof s === 'string' && s !== '' ? s : null;
    } catch {
      subject = null;
    }
    const fingerprint = keyless ? null : createHash('sha256').update(o.publicKey.trim()).digest('hex').slice(0, 16);
    return {
      verified: true,
      error: null,
      transparencyLogIndex: idx ? Number(idx[1]) : null,
      signedBy: keyless ? (subject ?? o.identityRegexp) : `key:sha256:${fingerprint}`,
    };
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
